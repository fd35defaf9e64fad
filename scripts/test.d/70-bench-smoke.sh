#!/usr/bin/env bash
# A ~10-second smoke run of tcpchat-bench against tcpchat-server (debug builds, the default
# scratch path scripts/test already built): a room of 50 with 5 senders flat out, a paced run,
# and a slow reader. Checks that nothing is lost and that the output is sane (every delivery
# counted, latency percentiles ordered, server memory read) -- not speed: scripts/bench
# measures that. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

build() {
  local log
  if ! log=$(swift build "$@" 2>&1); then echo "$log"; echo "70-bench-smoke: swift build $* failed"; exit 1; fi
}
build --product tcpchat-server
build --product tcpchat-bench
bin=$(swift build --show-bin-path)

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Flags that lift tcpchat-server's protective limits for a load test, when this build has them.
help=$("$bin/tcpchat-server" --help)
flags=(--host 127.0.0.1 --port 0)
[[ "$help" == *--no-rate-limit* ]] && flags+=(--no-rate-limit)
[[ "$help" == *--max-per-ip* ]] && flags+=(--max-per-ip 0)
"$bin/tcpchat-server" "${flags[@]}" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/server.out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/server.out")
[ -n "$port" ] || { echo "70-bench-smoke: the server did not start"; cat "$work/server.err"; exit 1; }

# check NAME JSON-FILE PYTHON-CONDITIONS...: every condition must hold for the result `d`.
check() {
  local name=$1 file=$2; shift 2
  python3 - "$file" "$@" <<'EOF' || { echo "70-bench-smoke: $name failed:"; cat "$file"; exit 1; }
import json, sys
d = json.load(open(sys.argv[1]))
failed = [c for c in sys.argv[2:] if not eval(c, {}, {"d": d})]
for c in failed:
    print("  not true:", c)
sys.exit(1 if failed else 0)
EOF
  echo "70-bench-smoke: $name ok"
}

bench() { timeout 60 "$bin/tcpchat-bench" --port "$port" --server-pid "$server_pid" --json --quiet "$@"; }

bench --clients 50 --senders 5 --messages 200 >"$work/flat.json"
check "flat out, 50 clients" "$work/flat.json" \
  'd["connected"] == 50' 'd["registered"] == 50' 'd["lost"] == 0' 'd["duplicates"] == 0' \
  'd["delivered"] == d["expectedDeliveries"] == 5 * 200 * 49' 'd["deliveriesPerSecond"] > 0' \
  '0 < d["latencyP50Ms"] <= d["latencyP90Ms"] <= d["latencyP99Ms"] <= d["latencyMaxMs"]' \
  'd["rssConnectedKiB"] > 0'

bench --clients 20 --senders 4 --messages 50 --rate 200 --first-line '/nick smoke{n}' >"$work/paced.json"
check "paced, with a first line" "$work/paced.json" \
  'd["lost"] == 0' 'd["delivered"] == 4 * 50 * 19' '0.8 < d["seconds"] < 10' 'not d["cutShort"]'

bench --clients 10 --senders 2 --messages 100 --slow-readers 1 >"$work/slow.json"
check "with a slow reader" "$work/slow.json" 'd["lost"] == 0' 'd["connected"] == 11'

# The human table says the same.
"$bin/tcpchat-bench" --port "$port" --clients 5 --senders 1 --messages 10 --quiet >"$work/table.txt"
grep -q "^lost  *0$" "$work/table.txt" || { echo "70-bench-smoke: table output:"; cat "$work/table.txt"; exit 1; }
echo "70-bench-smoke: table ok"
kill -0 "$server_pid" || { echo "70-bench-smoke: the server died"; exit 1; }
