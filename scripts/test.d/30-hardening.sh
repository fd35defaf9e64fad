#!/usr/bin/env bash
# Hardening checks against the built tcpchat-server (Tests/hardening/hardening.py): a 100 MB
# line, a stalled reader, EMFILE, 100 000 connect/close cycles, 10 000 idle connections, an
# EINTR storm and half-close. Each prints the figure quoted in docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build --product tcpchat-server >/dev/null
exec python3 Tests/hardening/hardening.py "$(swift build --show-bin-path)/tcpchat-server"
