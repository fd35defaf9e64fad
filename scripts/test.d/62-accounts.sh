#!/usr/bin/env bash
# Accounts end to end (issue 20; Tests/accounts/accounts_test.py): the real server with
# --accounts (SQLite) and Python clients over plaintext and TLS on 127.0.0.1: register, identify,
# the grace rename, ghost, restart, guessing slowed, register bound, plaintext refusal (and from
# a real non-loopback peer: a network namespace and a veth pair, skipped where they cannot be
# made), 0600, bad databases refused at start, a full disk (a small tmpfs when mount works, else
# RLIMIT_FSIZE), rehash on a raised scrypt cost. Pass test names to run a few:
#   scripts/test.d/62-accounts.sh ghost full_disk
# TCPCHAT_ACCOUNTS_BIN=DIR runs the server of DIR instead (85-sanitizers: an ASan build).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

need=()
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
command -v prlimit >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing: ${need[*]}"; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ -n "${TCPCHAT_ACCOUNTS_BIN:-}" ]; then   # 85-sanitizers runs it on an ASan build
  bin=$TCPCHAT_ACCOUNTS_BIN
else
  swift build --product tcpchat-server
  bin=$(swift build --show-bin-path)
fi
python3 Tests/accounts/accounts_test.py "$bin/tcpchat-server" "$@"
