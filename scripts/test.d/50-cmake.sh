#!/usr/bin/env bash
# The CMake build, as a C (or Swift) user outside this repository meets it:
#   1. configures and builds with CMake + Ninja into build-cmake/ (incremental when it exists),
#      and checks that an edit to Include/tcpchat.h would rebuild the Swift module (the stamp);
#   2. runs CTest: the C API tests of Tests/c and the end-to-end test (built server + C client);
#   3. installs into a temporary prefix, checks the files, the SONAME (libtcpchat.so.1), the
#      exported symbols (only tcpchat_*@TCPCHAT_1.0 and the Swift module's $s*), the bundled Swift
#      runtime and the $ORIGIN-only RUNPATHs, then moves the prefix with `mv`: everything below
#      must work from the new place;
#   4. builds the consumer project Tests/consumer, copied outside the repository, against the
#      moved prefix twice: with find_package(TCPChat) and with its Makefile (pkg-config); and
#      its Swift program (Tests/consumer/swift) with find_package and with plain swiftc;
#   5. runs each consumer against the installed tcpchat-server (port 0) and checks they chat;
#   6. copies the prefix into an empty root directory with only the system's own libraries (no
#      Swift toolchain anywhere in it) and, chrooted there, runs the server and the C consumer.
# CTest (step 2) includes the ABI gate, abi/abidiff-gate.sh: abidiff against abi/libtcpchat.abi.
# Loopback only; waits are bounded only so that a broken build fails instead of hanging.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no
unset LD_LIBRARY_PATH   # the installed tree must find its libraries by RUNPATH alone

# What this step needs beyond the Swift toolchain (scripts/test installs most of it; make is
# ours alone), installed when missing and running as root, so the step also runs on its own.
missing=()
for pair in cmake:cmake ninja:ninja-build pkg-config:pkg-config make:make cc:gcc readelf:binutils \
            abidiff:abigail-tools abidw:abigail-tools; do
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
# The ABI gate must be among the tests (it is defined only when abidiff is found).
ctest_tests=$(ctest --test-dir "$build" -N)
grep -q 'abi/abidiff' <<<"$ctest_tests" || { echo "50-cmake: ctest has no abi/abidiff test"; exit 1; }
ctest --test-dir "$build" --output-on-failure --timeout 300

echo "-- install"
prefix=$work/prefix
quietly cmake --install "$build" --prefix "$prefix"
for file in lib/libtcpchat.so lib/libtcpchat.so.1 include/tcpchat.h share/tcpchat/swift-runtime.supp \
            lib/libswiftCore.so lib/libswift_Concurrency.so lib/libdispatch.so \
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
[ "$soname" = "libtcpchat.so.$(sed -n 's/^#define TCPCHAT_VERSION_MAJOR \([0-9]*\)$/\1/p' Include/tcpchat.h)" ] &&
  [ "$soname" = libtcpchat.so.1 ] || { echo "50-cmake: SONAME is '$soname'"; exit 1; }

echo "-- exported: only tcpchat_* (versioned TCPCHAT_1.x) and the Swift module's own symbols"
exports=$(nm -D --defined-only "$prefix/lib/libtcpchat.so")
c_exports=$(awk '$2 != "A" {print $3}' <<<"$exports" | grep -v '^\$s' || true)
stray=$(grep -Ev '^tcpchat_[a-z_]+@@TCPCHAT_1\.[0-9]+$' <<<"$c_exports" || true)
[ -z "$stray" ] || { echo "50-cmake: libtcpchat.so exports more than the C API:"; echo "$stray"; exit 1; }
declared=$(grep -oE '^[a-z][a-z_ ]*\**tcpchat_[a-z_]+\(' Include/tcpchat.h | grep -oE 'tcpchat_[a-z_]+' | sort -u)
if [ "$declared" != "$(sed 's/@.*//' <<<"$c_exports" | sort -u)" ]; then
  echo "50-cmake: the exported functions are not the header's (is cmake/tcpchat.map up to date?):"
  diff <(echo "$declared") <(sed 's/@.*//' <<<"$c_exports" | sort -u) || true
  exit 1
fi
echo "$(wc -l <<<"$c_exports") tcpchat_* (versioned), $(awk '$2 != "A" {print $3}' <<<"$exports" | grep -c '^\$s') Swift, \
$(awk '{print $3}' <<<"$exports" | grep -c '^ctc_' || true) ctc_*"

echo "-- RUNPATHs: \$ORIGIN only (the Swift runtime is bundled in lib/)"
[ "$(dynamic "$prefix/lib/libtcpchat.so" RUNPATH)" = '$ORIGIN' ] ||
  { echo "50-cmake: libtcpchat RUNPATH is not \$ORIGIN"; readelf -d "$prefix/lib/libtcpchat.so"; exit 1; }
for program in tcpchat-server tcpchat tcpchat-bench; do
  [ "$(dynamic "$prefix/bin/$program" RUNPATH)" = '$ORIGIN/../lib' ] ||
    { echo "50-cmake: bin/$program RUNPATH is not \$ORIGIN/../lib"; readelf -d "$prefix/bin/$program"; exit 1; }
done
for elf in "$prefix"/lib/*.so* "$prefix"/bin/*; do
  if dynamic "$elf" RUNPATH | tr ':' '\n' | grep -q '^/'; then
    echo "50-cmake: $elf has an absolute RUNPATH: $(dynamic "$elf" RUNPATH)"; exit 1
  fi
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
echo "-- the prefix without any Swift toolchain: chrooted into a copy with only system libraries"
# The root holds the prefix (at a path it was never installed at), the consumer, and the system
# libraries they need (libc, libm, libgcc_s, libstdc++, readline...): whatever ldd finds outside
# the prefix. Nothing of /opt/swift (or wherever swiftc lives) is in it.
root=$work/root
mkdir -p "$root/opt/copied"
cp -a "$moved" "$root/opt/copied/tcpchat"
cp "$work/consumer-make/chat_check" "$root/opt/copied/tcpchat/bin/"
toolchain=$(dirname "$(dirname "$(command -v swiftc)")")
for elf in "$root"/opt/copied/tcpchat/bin/* "$root"/opt/copied/tcpchat/lib/*.so*; do
  ldd "$elf" | grep -o '/[^ ]*' | grep -v "^$root/" || true
done | sort -u | while read -r system_library; do
  case $system_library in "$toolchain"/*) echo "50-cmake: ldd found $system_library in the toolchain"; exit 1;; esac
  mkdir -p "$root$(dirname "$system_library")"
  cp -L "$system_library" "$root$system_library"
done
[ ! -e "$root$toolchain" ] || { echo "50-cmake: the toolchain is in the root"; exit 1; }
# In a mount namespace of its own (unshare), so that the root's /proc -- which the dynamic loader
# reads to resolve $ORIGIN -- is unmounted by the kernel when the step ends, whatever happens.
mkdir -p "$root/proc"
cat >"$work/in-root.sh" <<'IN_ROOT'
set -euo pipefail
root=$1 work=$2
mount -t proc proc "$root/proc"
chroot "$root" /opt/copied/tcpchat/bin/tcpchat-server --help >/dev/null
chroot "$root" /opt/copied/tcpchat/bin/tcpchat --help >/dev/null
chroot "$root" /opt/copied/tcpchat/bin/tcpchat-server --host 127.0.0.1 --port 0 >"$work/chroot.out" 2>&1 &
server=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/chroot.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/chroot.out"; kill "$server"; echo "the chrooted server did not start"; exit 1; }
status=0
timeout 60 chroot "$root" /opt/copied/tcpchat/bin/chat_check 127.0.0.1 "$port" || status=$?
kill -TERM "$server"
wait "$server" || true
[ "$status" = 0 ] || { echo "the C consumer failed without the toolchain (status $status)"; exit 1; }
IN_ROOT
if ! unshare --mount --propagation private true 2>/dev/null; then
  [ "$(id -u)" != 0 ] || { echo "50-cmake: unshare --mount fails as root"; exit 1; }
  echo "50-cmake: not root: the run without the toolchain (unshare + chroot) is skipped"
else
  unshare --mount --propagation private bash "$work/in-root.sh" "$root" "$work" ||
    { echo "50-cmake: the prefix does not run without the Swift toolchain"; exit 1; }
  echo "chat_check and tcpchat-server chatted in a root with no Swift toolchain"
fi
echo "50-cmake: ok"
