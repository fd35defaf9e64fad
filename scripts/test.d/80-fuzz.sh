#!/usr/bin/env bash
# Fuzzing (docs/RELIABILITY.md, "Fuzzing"): builds the libFuzzer targets of Tests/fuzz and runs
# each for 30 s, starting from the seed corpus in Tests/fuzz/corpus (every seed runs first, so
# the inputs of bugs fuzzing found before fail this step again if the bug comes back). Fails on
# any crash, AddressSanitizer report or broken invariant. The long run is
# `scripts/fuzz --runs 1000000`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no
exec scripts/fuzz --seconds 30
