#!/usr/bin/env bash
# A ~10-second smoke run of tcpchat-bench against tcpchat-server (debug builds, the default
# scratch path scripts/test already built): a room of 50 with 5 senders flat out, a paced run,
# a slow reader, and two servers of one cluster (through a throwaway redis-server on a free
# 127.0.0.1 port, persistence off) with the clients spread over both. Checks that nothing is
# lost and that the output is sane (every delivery counted, latency percentiles ordered,
# server memory read) -- not speed: scripts/bench measures that. Exits non-zero on the first
# failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

if ! command -v redis-server >/dev/null; then  # scripts/test installs it; so does this, as root
  [ "$(id -u)" = 0 ] || { echo "70-bench-smoke: missing redis-server (run as root to install it)"; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

build() {
  local log
  if ! log=$(swift build "$@" 2>&1); then echo "$log"; echo "70-bench-smoke: swift build $* failed"; exit 1; fi
}
build --product tcpchat-server
build --product tcpchat-bench
bin=$(swift build --show-bin-path)

work=$(mktemp -d)
server_pid=""
cluster_pids=()  # redis-server and the two cluster servers, once started
cleanup() {
  local pid
  for pid in $server_pid "${cluster_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in $server_pid "${cluster_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Flags that lift tcpchat-server's protective limits for a load test, when this build has them.
help=$("$bin/tcpchat-server" --help)
flags=(--host 127.0.0.1 --port 0)
[[ "$help" == *--no-rate-limit* ]] && flags+=(--no-rate-limit)
[[ "$help" == *--max-per-ip* ]] && flags+=(--max-per-ip 0)
# start_server NAME ARGS...: a tcpchat-server on a free port; sets `port` and `pid`.
start_server() {
  local name=$1; shift
  "$bin/tcpchat-server" "${flags[@]}" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$work/$name.out" && break; sleep 0.1; done
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/$name.out")
  [ -n "$port" ] || { echo "70-bench-smoke: the server did not start"; cat "$work/$name.err"; exit 1; }
}
start_server server
server_pid=$pid

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

# Two servers sharing their rooms through Redis, the clients alternating between them: every
# line must still reach every other client, whichever server its sender is on.
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
cluster_pids+=($!)
for _ in $(seq 1 100); do redis_up=$(python3 -c 'import socket, sys
try: socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close(); print(1)
except OSError: print(0)' "$redis_port"); [ "$redis_up" = 1 ] && break; sleep 0.1; done
[ "$redis_up" = 1 ] || { echo "70-bench-smoke: redis-server did not start"; cat "$work/redis.log"; exit 1; }
ports=() pids=()
for name in cluster1 cluster2; do
  start_server "$name" --cluster "redis://127.0.0.1:$redis_port/0" --verbose
  cluster_pids+=("$pid"); ports+=("$port"); pids+=("$pid")
  for _ in $(seq 1 100); do grep -q "cluster link up" "$work/$name.err" && break; sleep 0.1; done
  grep -q "cluster link up" "$work/$name.err" || { echo "70-bench-smoke: $name did not reach Redis"; cat "$work/$name.err"; exit 1; }
done
timeout 60 "$bin/tcpchat-bench" --port "${ports[0]},${ports[1]}" --server-pid "${pids[0]},${pids[1]}" --json --quiet \
  --clients 20 --senders 4 --messages 100 >"$work/cluster.json"
check "two servers of a cluster, 10 clients on each" "$work/cluster.json" \
  'd["servers"] == 2' 'd["connected"] == 20' 'd["registered"] == 20' 'd["lost"] == 0' 'd["duplicates"] == 0' \
  'd["delivered"] == d["expectedDeliveries"] == 4 * 100 * 19' 'd["rssConnectedKiB"] > 0'
for pid in "${pids[@]}"; do kill -0 "$pid" || { echo "70-bench-smoke: a cluster server died"; exit 1; }; done

# tcpchat-bench --tls against the server's TLS listener (a throwaway self-signed certificate;
# the bench does not verify): what scripts/bench-tls runs, on a small room.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null
"$bin/tcpchat-server" "${flags[@]}" --no-plain --tls-port 0 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
  >"$work/tls.out" 2>"$work/tls.err" &
tls_pid=$!
cluster_pids+=("$tls_pid")  # stopped by cleanup with the others
for _ in $(seq 1 100); do grep -q "listening on" "$work/tls.out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\) (TLS)$/\1/p' "$work/tls.out")
[ -n "$port" ] || { echo "70-bench-smoke: the TLS server did not start"; cat "$work/tls.err"; exit 1; }
timeout 60 "$bin/tcpchat-bench" --port "$port" --server-pid "$tls_pid" --json --quiet --tls \
  --clients 20 --senders 4 --messages 100 >"$work/tls.json"
check "over TLS, 20 clients" "$work/tls.json" \
  'd["connected"] == 20' 'd["registered"] == 20' 'd["lost"] == 0' 'd["duplicates"] == 0' \
  'd["delivered"] == d["expectedDeliveries"] == 4 * 100 * 19'
kill -0 "$tls_pid" || { echo "70-bench-smoke: the TLS server died"; exit 1; }
