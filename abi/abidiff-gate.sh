#!/usr/bin/env bash
# The ABI gate of libtcpchat.so.1: within a SONAME only additions (Include/tcpchat.h, "BINARY
# COMPATIBILITY").
#
#   abi/abidiff-gate.sh TWIN [LIBRARY]
#
# TWIN is the build's ABI twin of the library (cmake/TCPChatABITwin.cmake: the header's functions
# with DWARF); LIBRARY the real libtcpchat.so.1 of the same build. It
#   1. runs abidiff of abi/libtcpchat.abi (the ABI of the release, committed) against TWIN and
#      fails on any removed or changed function or variable, and on any change abidiff itself calls
#      incompatible; added functions, and fields added at the end of the growing structs
#      (abi/growing-structs.abignore), pass;
#   2. checks that LIBRARY exports exactly the C symbols of TWIN, each with the same symbol version
#      (so the twin speaks for the library), and no ctc_* or other C symbol besides them.
# A deliberate new release baseline: `cmake --build BUILD --target abi-baseline` (commit the result).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
twin=${1:?usage: abidiff-gate.sh TWIN [LIBRARY]}
library=${2:-}

report=$(abidiff --suppressions "$here/growing-structs.abignore" \
  "$here/libtcpchat.abi" "$twin")
status=$?
echo "$report"
# abidiff's status bits: 1 error, 2 usage error, 4 ABI change, 8 incompatible ABI change.
if (( status & 3 )); then echo "abidiff-gate: abidiff failed (status $status)"; exit 1; fi
if (( status & 8 )); then echo "abidiff-gate: an incompatible ABI change (status $status)"; exit 1; fi
if (( status & 4 )); then
  # Compatible in abidiff's terms can still be a changed function (e.g. a struct reshaped):
  # only additions pass.
  if grep -Eq 'changes summary: [1-9][0-9]* Removed|, [1-9][0-9]* Changed' <<<"$report"; then
    echo "abidiff-gate: functions or variables of the release were removed or changed"; exit 1
  fi
  echo "abidiff-gate: additions only (a later release's baseline should record them)"
fi

if [ -n "$library" ]; then
  exported() {  # the defined dynamic symbols that are not Swift's ($s...) nor version nodes
    nm -D --defined-only "$1" | awk '$2 != "A" {print $3}' | grep -v '^\$s' | sort
  }
  twin_symbols=$(exported "$twin")
  library_symbols=$(exported "$library")
  if [ "$twin_symbols" != "$library_symbols" ]; then
    echo "abidiff-gate: $library does not export exactly the header's functions with their versions:"
    diff <(echo "$twin_symbols") <(echo "$library_symbols")
    exit 1
  fi
  echo "abidiff-gate: $(echo "$library_symbols" | wc -l) C symbols exported, as the twin: $(echo "$library_symbols" | sed 's/.*@@*//' | sort -u | tr '\n' ' ')"
fi
echo "abidiff-gate: ok"
