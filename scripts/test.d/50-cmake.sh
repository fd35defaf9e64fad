#!/usr/bin/env bash
# The CMake build, as a C (or Swift) user outside this repository meets it:
#   1. configures and builds with CMake + Ninja into build-cmake/ (incremental when it exists),
#      and checks that an edit to Include/tcpchat.h would rebuild the Swift module (the stamp);
#   2. runs CTest: the C API tests of Tests/c and the end-to-end test (built server + C client);
#   3. installs into a temporary prefix, checks the files, SONAME and RUNPATHs, then moves the
#      prefix with `mv`: everything below must work from the new place;
#   4. builds the consumer project Tests/consumer, copied outside the repository, against the
#      moved prefix twice: with find_package(TCPChat) and with its Makefile (pkg-config); and
#      its Swift program (Tests/consumer/swift) with find_package and with plain swiftc;
#   5. runs each consumer against the installed tcpchat-server (port 0) and checks they chat.
# Loopback only; waits are bounded only so that a broken build fails instead of hanging.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no
unset LD_LIBRARY_PATH   # the installed tree must find its libraries by RUNPATH alone

# What this step needs beyond the Swift toolchain (scripts/test installs most of it; make is
# ours alone), installed when missing and running as root, so the step also runs on its own.
missing=()
for pair in cmake:cmake ninja:ninja-build pkg-config:pkg-config make:make cc:gcc readelf:binutils; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ -f /usr/include/readline/readline.h ] || missing+=(libreadline-dev)   # for bin/tcpchat
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "50-cmake: missing ${missing[*]} (install them, or run as root)"; exit 1; }
  echo "-- installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >/dev/null ||
    { echo "50-cmake: apt-get install ${missing[*]} failed"; exit 1; }
fi
command -v swiftc >/dev/null || { echo "50-cmake: no swiftc on PATH"; exit 1; }

build=build-cmake
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# quietly RUN...: the command's output only when it fails.
quietly() {
  local log
  if ! log=$("$@" 2>&1); then echo "$log"; echo "50-cmake: failed: $*"; return 1; fi
}

echo "-- configure and build ($build)"
quietly cmake -G Ninja -S . -B "$build"
quietly cmake --build "$build"

echo "-- an edit to Include/tcpchat.h rebuilds the Swift module (through the header stamp)"
# (Outputs are captured first: with pipefail, `grep -q` closing the pipe early would fail ninja.)
library=lib/libtcpchat.so.$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
library_inputs=$(ninja -C "$build" -t query "$library")
stamp=$(grep -o 'Sources/TCPChatHeaderStamp\.swift' <<<"$library_inputs" | sort -u)
[ -n "$stamp" ] || { echo "50-cmake: $library does not depend on the header stamp"; exit 1; }
stamp_inputs=$(ninja -C "$build" -t query "$stamp")
grep -q '/Include/tcpchat\.h$' <<<"$stamp_inputs" ||
  { echo "50-cmake: the header stamp does not depend on Include/tcpchat.h"; exit 1; }

echo "-- ctest"
ctest --test-dir "$build" --output-on-failure --timeout 300

echo "-- install"
prefix=$work/prefix
quietly cmake --install "$build" --prefix "$prefix"
for file in lib/libtcpchat.so lib/libtcpchat.so.0 include/tcpchat.h \
            bin/tcpchat-server bin/tcpchat bin/tcpchat-bench \
            lib/pkgconfig/tcpchat.pc lib/cmake/TCPChat/TCPChatConfig.cmake \
            lib/cmake/TCPChat/TCPChatConfigVersion.cmake lib/cmake/TCPChat/TCPChatTargets.cmake \
            lib/swift/linux/CTCPChat/module.modulemap lib/swift/linux/CTCPChatLinux/module.modulemap; do
  [ -e "$prefix/$file" ] || { echo "50-cmake: not installed: $file"; exit 1; }
done
compgen -G "$prefix/lib/swift/linux/TCPChat.swiftmodule/*.swiftmodule" >/dev/null ||
  { echo "50-cmake: the Swift module is not installed"; exit 1; }

dynamic() { readelf -d "$1" | sed -n "s/.*($2).*\[\(.*\)\]/\1/p"; }
soname=$(dynamic "$prefix/lib/libtcpchat.so" SONAME)
[ "$soname" = libtcpchat.so.0 ] || { echo "50-cmake: SONAME is '$soname'"; exit 1; }
swift_runtime=$(dirname "$(dirname "$(command -v swiftc)")")/lib/swift/linux
[ "$(dynamic "$prefix/lib/libtcpchat.so" RUNPATH)" = "$swift_runtime" ] ||
  { echo "50-cmake: libtcpchat RUNPATH is not $swift_runtime"; readelf -d "$prefix/lib/libtcpchat.so"; exit 1; }
for program in tcpchat-server tcpchat tcpchat-bench; do
  dynamic "$prefix/bin/$program" RUNPATH | grep -q '^\$ORIGIN/\.\./lib:' ||
    { echo "50-cmake: bin/$program has no \$ORIGIN RUNPATH"; readelf -d "$prefix/bin/$program"; exit 1; }
done
# Nothing of the build tree may leak into the installed files.
if grep -rlF "$PWD/$build" "$prefix" >/dev/null; then
  echo "50-cmake: installed files refer to the build tree:"; grep -rlF "$PWD/$build" "$prefix"; exit 1
fi

echo "-- mv the prefix elsewhere"
moved=$work/elsewhere/tcpchat
mkdir -p "$(dirname "$moved")"
mv "$prefix" "$moved"
"$moved/bin/tcpchat-server" --help >/dev/null
"$moved/bin/tcpchat" --help >/dev/null
"$moved/bin/tcpchat-bench" --help >/dev/null

echo "-- consumer: find_package(TCPChat)"
cp -r Tests/consumer "$work/consumer"
quietly cmake -G Ninja -S "$work/consumer" -B "$work/consumer-cmake" -DCMAKE_PREFIX_PATH="$moved"
quietly cmake --build "$work/consumer-cmake"

echo "-- consumer: make with pkg-config"
export PKG_CONFIG_PATH=$moved/lib/pkgconfig
[ "$(pkg-config --modversion tcpchat)" = "$(sed -n 's/^#define TCPCHAT_VERSION_STRING "\(.*\)"/\1/p' Include/tcpchat.h)" ]
cp -r Tests/consumer "$work/consumer-make"
quietly make -C "$work/consumer-make" chat_check

echo "-- consumer: Swift (Tests/consumer/swift), with find_package and with plain swiftc"
quietly cmake -G Ninja -S "$work/consumer/swift" -B "$work/consumer-swift" -DCMAKE_PREFIX_PATH="$moved"
quietly cmake --build "$work/consumer-swift"
quietly swiftc "$work/consumer/swift/main.swift" -module-name swift_check \
  -I "$(pkg-config --variable=swiftmoduledir tcpchat)" -L "$(pkg-config --variable=libdir tcpchat)" \
  -ltcpchat -Xlinker -rpath -Xlinker "$(pkg-config --variable=libdir tcpchat)" -o "$work/swift_check"

echo "-- the consumers chat through the installed tcpchat-server"
Tests/e2e/with-server.sh "$moved/bin/tcpchat-server" \
  "$work/consumer-cmake/chat_check" "$work/consumer-make/chat_check" \
  "$work/consumer-swift/swift_check" "$work/swift_check"
echo "50-cmake: ok"
