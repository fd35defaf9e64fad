#!/usr/bin/env bash
# Sanitizers (docs/RELIABILITY.md, "Sanitizers"): the Swift Testing suites of Tests/TCPChatTests
# built and run under AddressSanitizer (with LeakSanitizer) and under ThreadSanitizer, each in
# its own scratch path (.build-asan, .build-tsan), so the plain build is untouched. The tests
# also start the sanitized tcpchat-server of the same build. Any sanitizer report fails the step
# except the few in Tests/sanitizers/*.supp, each of which says why it is not ours.
# Cost on 2 cores: about 2-3 min to build each, a few seconds to run the suites.
set -uo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no
supp="$PWD/Tests/sanitizers"

run_under() {  # run_under SANITIZER SCRATCH_PATH: build the tests with it, then run them
  local sanitizer=$1 scratch=$2
  local log="$scratch/sanitizer-build.log"
  mkdir -p "$scratch"
  echo "-- $sanitizer: building in $scratch (log in $log)"
  # The build log is long (ld.gold warns about every ASan symbol it cannot export); show it
  # only when the build fails.
  if ! swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >"$log" 2>&1; then
    grep -v 'ld.gold: warning' "$log" | tail -40
    echo "-- $sanitizer: build FAILED"
    return 1
  fi
  echo "-- $sanitizer: running the Swift Testing suites"
  # XCTest holds no tests here; --disable-xctest also spares us leak reports from its runner.
  if swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" --disable-xctest; then
    echo "-- $sanitizer: clean"
  # On 2 busy cores a sanitized flood test can still slip (its peers are the test's own loop).
  # One rerun, said loudly; a failure twice in a row fails the step. (The server's exit status 1
  # after SIGINT under ASan, 2026-11-28, was LeakSanitizer misreading a live server's side table:
  # fixed in main.swift, StopSignals.finish.)
  elif echo "-- $sanitizer: FAILED once; running the suites again (FLAKY if this passes)" &&
       swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" --disable-xctest; then
    echo "-- $sanitizer: clean on the second run: FLAKY, see the failure above"
  else
    echo "-- $sanitizer: FAILED (a failing test, or a sanitizer report above)"
    return 1
  fi
}

status=0
ASAN_OPTIONS="halt_on_error=1 detect_leaks=1" LSAN_OPTIONS="suppressions=$supp/lsan.supp print_suppressions=0" \
  run_under address .build-asan || status=1
# TLS end to end (60-tls) with the ASan server and client of the same build: handshakes,
# abandoned handshakes, resets mid fan-out, reloads. A report makes the server exit non-zero at
# SIGINT, or the client fail, which the test reports.
if [ -x .build-asan/debug/tcpchat-server ] && [ -x .build-asan/debug/tcpchat-client ]; then
  echo "-- address: the TLS end-to-end tests (scripts/test.d/60-tls.sh) on the ASan binaries"
  if ASAN_OPTIONS="halt_on_error=1 detect_leaks=1" LSAN_OPTIONS="suppressions=$supp/lsan.supp print_suppressions=0" \
     TLS_NO_RSS_CHECK=1 TCPCHAT_TLS_BIN=.build-asan/debug bash scripts/test.d/60-tls.sh; then
    echo "-- address: TLS clean"
  else
    echo "-- address: TLS FAILED"
    status=1
  fi
fi
# Accounts end to end (62-accounts) with the ASan server: SQLite and scrypt behind the worker,
# a full disk, bad databases. A report makes the server's exit status non-zero, which fails it.
if [ -x .build-asan/debug/tcpchat-server ]; then
  echo "-- address: the accounts end-to-end tests (scripts/test.d/62-accounts.sh) on the ASan server"
  if ASAN_OPTIONS="halt_on_error=1 detect_leaks=1" LSAN_OPTIONS="suppressions=$supp/lsan.supp print_suppressions=0" \
     TCPCHAT_ACCOUNTS_BIN=.build-asan/debug bash scripts/test.d/62-accounts.sh; then
    echo "-- address: accounts clean"
  else
    echo "-- address: accounts FAILED"
    status=1
  fi
fi
TSAN_OPTIONS="suppressions=$supp/tsan.supp exitcode=66" run_under thread .build-tsan || status=1
exit $status
