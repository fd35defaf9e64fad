#!/usr/bin/env bash
# The C API, as a C programmer meets it: Include/tcpchat.h and libtcpchat.so built by SwiftPM.
#   1. builds libtcpchat.so (its own scratch path) and checks with readelf that it needs only
#      libc and the Swift runtime (no Foundation), and with nm that it imports no signal(),
#      sigaction(), exit() or printing function (Swift's print included);
#   2. checks that Tests/c/every_symbol.c and Include/tcpchat_symbols.c list exactly the
#      functions the header declares; compiles the header alone, tcpchat_symbols.c, and
#      Tests/c/*.c with gcc and clang
#      (-std=c99 -Wall -Wextra -Werror -pedantic), links with -Wl,-z,defs, and compiles
#      every_symbol.c as C++ (g++), so the extern "C" guards and every declared function are
#      checked -- a function declared but not implemented fails the link;
#   3. runs every test, then every test under valgrind (no error, no leak; the suppressions
#      in Tests/c/swift-runtime.supp say what they hide and why) -- test_abi_compat among them:
#      a program built with an older header (a smaller config, canary bytes after it) is never
#      read or written past its struct; and test_signals, a C host that dlopen()s the library
#      and checks that its caught-signal mask (SigCgt) is unchanged;
#   4. builds a ThreadSanitizer libtcpchat and runs test_threads, test_host_driven, test_embed
#      and test_nonblocking (the
#      cross-thread calls) against it with -fsanitize=thread (see Tests/c/tsan.supp), compiled
#      and linked by the toolchain's own clang (the one beside swift): its TSan runtime is the one
#      the Swift build uses; another clang on PATH (Debian's clang 14 in /usr/bin) has another,
#      and the link fails with undefined __tsan_memcpy / __tsan_memset;
#   5. compiles the C examples with the same flags (scripts/test.d/21-examples.sh runs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

for tool in gcc g++ clang valgrind readelf; do
  command -v "$tool" >/dev/null || { echo "20-capi: $tool is missing (scripts/test installs it)"; exit 1; }
done

# swift build, quiet unless it fails.
build() {
  local log
  if ! log=$(swift build "$@" 2>&1); then echo "$log"; echo "20-capi: swift build $* failed"; exit 1; fi
}

scratch=.build-capi-test
# DWARF 4: valgrind (3.22) cannot read the DWARF 5 that swiftc and clang emit by default, and
# gives up on a library that mixes Swift and C objects. 21-examples.sh uses the same flags.
DWARF4=(-Xcc -gdwarf-4 -Xswiftc -dwarf-version=4)
out=$scratch/c
mkdir -p "$out"
CFLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic -g -IInclude)

echo "-- building libtcpchat.so"
build --scratch-path "$scratch" "${DWARF4[@]}" --product tcpchat
lib=$(cd "$(swift build --scratch-path "$scratch" "${DWARF4[@]}" --show-bin-path)" && pwd)
[ -f "$lib/libtcpchat.so" ] || { echo "20-capi: no $lib/libtcpchat.so"; exit 1; }
LINK=(-L"$lib" -Wl,-z,defs -Wl,-rpath,"$lib" -ltcpchat -lpthread)

echo "-- readelf -d libtcpchat.so: only libc, the Swift runtime, OpenSSL 3 (libssl, libcrypto: TLS) and ICU (libicuuc, libicui18n: names) and SQLite (accounts)"
needed=$(readelf -d "$lib/libtcpchat.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "$needed" | tr '\n' ' '; echo
unexpected=$(echo "$needed" | grep -Ev '^(libsqlite3\.so\.0|libssl\.so\.3|libcrypto\.so\.3|libicuuc\.so\.[0-9]+|libicui18n\.so\.[0-9]+|libswift[A-Za-z_]*\.so|libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1)$' || true)
if [ -n "$unexpected" ]; then echo "20-capi: unexpected dependencies: $unexpected"; exit 1; fi
if echo "$needed" | grep -qi foundation; then echo "20-capi: libtcpchat.so needs Foundation"; exit 1; fi

echo "-- the library imports nothing that installs signal handlers, exits or prints"
# (sigaction is imported, by Include/tcpchat_guest.c alone: it takes the Swift runtime's crash
# handlers back out of a C host; test_signals below checks that the host's signals are as they were.)
forbidden='^(signal|sigset|bsd_signal|sysv_signal|sigprocmask|pthread_sigmask|exit|_exit|_Exit|quick_exit|printf|vprintf|puts|putchar|fputs|fputc|fwrite|fprintf|vfprintf|perror|\$ss5print.*)(@.*)?$'
found=$(nm -D --undefined-only "$lib/libtcpchat.so" | awk '{print $NF}' | grep -E "$forbidden" || true)
if [ -n "$found" ]; then echo "20-capi: libtcpchat.so imports: $found"; exit 1; fi

echo "-- every function the header declares is listed in Tests/c/every_symbol.c and Include/tcpchat_symbols.c"
declared=$(grep -oE '^[a-z][a-z_ ]*\**tcpchat_[a-z_]+\(' Include/tcpchat.h | grep -oE 'tcpchat_[a-z_]+' | sort -u)
[ -n "$declared" ] || { echo "20-capi: found no declarations in Include/tcpchat.h"; exit 1; }
for list in Tests/c/every_symbol.c Include/tcpchat_symbols.c; do
  listed=$(grep -oE '\(tcpchat_any_function\)tcpchat_[a-z_]+|ENTRY\(tcpchat_[a-z_]+\)' "$list" | grep -oE 'tcpchat_[a-z_]+' | grep -v '^tcpchat_any_function$' | sort -u)
  if [ "$declared" != "$listed" ]; then
    echo "20-capi: $list does not list exactly the header's functions:"
    diff <(echo "$declared") <(echo "$listed") || true
    exit 1
  fi
done
echo "$(echo "$declared" | wc -l) functions"

echo "-- the header alone: C99 (gcc, clang) and C++ (g++); Include/tcpchat_symbols.c the same way"
for cc in gcc clang; do
  echo '#include "tcpchat.h"' | "$cc" -x c "${CFLAGS[@]}" -fsyntax-only -
done
echo '#include "tcpchat.h"' | g++ -x c++ -Wall -Wextra -Werror -pedantic -IInclude -fsyntax-only -
for cc in gcc clang; do
  "$cc" "${CFLAGS[@]}" -c Include/tcpchat_symbols.c -o "$out/tcpchat_symbols-$cc.o"
done

echo "-- compiling Tests/c with gcc and clang, every_symbol.c also as C++"
tests=(every_symbol test_misuse test_chat test_threads test_sigpipe test_host_driven test_abi_compat test_embed test_nonblocking test_tls test_accounts test_cluster_accounts)
for cc in gcc clang; do
  for test in "${tests[@]}"; do
    "$cc" "${CFLAGS[@]}" "Tests/c/$test.c" -o "$out/$test-$cc" "${LINK[@]}"
  done
done
g++ -x c++ -Wall -Wextra -Werror -pedantic -IInclude Tests/c/every_symbol.c -o "$out/every_symbol-cxx" "${LINK[@]}"
# test_signals dlopen()s the library itself: not linked with it.
for cc in gcc clang; do
  "$cc" "${CFLAGS[@]}" Tests/c/test_signals.c -o "$out/test_signals-$cc" -ldl -lpthread
done

echo "-- running"
"$out/every_symbol-cxx"
for cc in gcc clang; do
  for test in "${tests[@]}"; do
    timeout 120 "$out/$test-$cc"
  done
  timeout 120 "$out/test_signals-$cc" "$lib/libtcpchat.so"
done

echo "-- valgrind"
for test in "${tests[@]}"; do
  log=$out/$test.valgrind.log
  status=0
  timeout 300 valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
    --suppressions=Tests/c/swift-runtime.supp "$out/$test-gcc" >"$log" 2>&1 || status=$?
  cat "$log"
  [ "$status" = 0 ] || { echo "20-capi: valgrind reported errors in $test (status $status)"; exit 1; }
done

echo "-- ThreadSanitizer: test_threads, test_host_driven, test_embed, test_nonblocking, test_tls against a TSan build of libtcpchat"
tsan_scratch=.build-capi-tsan
build --scratch-path "$tsan_scratch" --sanitize=thread --product tcpchat
tsan_lib=$(cd "$(swift build --scratch-path "$tsan_scratch" --sanitize=thread --show-bin-path)" && pwd)
# The toolchain's clang (beside swift, whatever else PATH finds first) carries the TSan runtime
# Swift uses; that runtime also intercepts libdispatch, so the program links the toolchain's
# libdispatch and BlocksRuntime.
toolchain_bin=$(dirname "$(readlink -f "$(command -v swift)")")
toolchain_clang=$toolchain_bin/clang
[ -x "$toolchain_clang" ] || { echo "20-capi: no clang beside swift ($toolchain_bin)"; exit 1; }
swift_lib=$(dirname "$toolchain_bin")/lib/swift/linux
for test in test_threads test_host_driven test_embed test_nonblocking test_tls; do
  "$toolchain_clang" "${CFLAGS[@]}" -fsanitize=thread "Tests/c/$test.c" -o "$out/$test-tsan" \
    -L"$tsan_lib" -Wl,-rpath,"$tsan_lib" -ltcpchat -lpthread \
    -L"$swift_lib" -Wl,-rpath,"$swift_lib" -ldispatch -lBlocksRuntime
  TSAN_OPTIONS="suppressions=$PWD/Tests/c/tsan.supp halt_on_error=1 exitcode=66" timeout 300 "$out/$test-tsan"
done

if [ -d examples/c ] && compgen -G 'examples/c/*.c' >/dev/null; then
  echo "-- compiling examples/c"
  for cc in gcc clang; do
    for example in examples/c/*.c; do
      "$cc" "${CFLAGS[@]}" "$example" -o "$out/$(basename "$example" .c)-$cc" "${LINK[@]}"
    done
  done
fi
echo "20-capi: ok"
