#!/usr/bin/env bash
# with-server.sh SERVER PROGRAM [PROGRAM...]
#
# Starts the tcpchat-server binary SERVER on 127.0.0.1, port 0 (any free port), runs each
# PROGRAM with the arguments "127.0.0.1 PORT" one after the other, then stops the server with
# SIGTERM. Succeeds when every program exits 0 and the server stops gracefully (status 0).
# CTest's end-to-end test runs it on the built server; scripts/test.d/50-cmake.sh on the
# installed one with the consumer programs. Waits are bounded only so that a broken build
# fails instead of hanging.
set -euo pipefail
export SWIFT_BACKTRACE=enable=no

server=$1; shift
[ $# -gt 0 ] || { echo "usage: with-server.sh SERVER PROGRAM..." >&2; exit 2; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$server" --host 127.0.0.1 --port 0 >"$work/out" 2>"$work/err" &
server_pid=$!

# The server prints "listening on ADDRESS:PORT" once it accepts connections.
port=""
for _ in $(seq 200); do
  port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "with-server: $server did not start:"; cat "$work/out" "$work/err"; exit 1
fi
echo "with-server: $(basename "$server") listening on 127.0.0.1:$port"

for program in "$@"; do
  echo "with-server: running $program"
  if ! timeout 60 "$program" 127.0.0.1 "$port"; then
    echo "with-server: $program failed; server log:"; cat "$work/err"; exit 1
  fi
done

kill -TERM "$server_pid"
status=0
for _ in $(seq 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
wait "$server_pid" || status=$?
server_pid=""
if [ "$status" != 0 ]; then
  echo "with-server: the server exited with status $status:"; cat "$work/err"; exit 1
fi
echo "with-server: ok"
