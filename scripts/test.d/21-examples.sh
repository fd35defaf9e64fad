#!/usr/bin/env bash
# Runs the examples of README "Using the library from C and Swift" against each other, across
# languages: the C embedded server with the Swift client, and the Swift embedded server with
# the C client. Each time a client takes a nick, asks the bot "!time", quits with /quit, a
# second client just reaches end of input, and the server stops on SIGINT with status 0.
# Loopback only, port 0; waits are bounded only so that a broken build fails instead of hanging.
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

scratch=.build-capi-test
build() {
  local log
  if ! log=$(swift build "$@" 2>&1); then echo "$log"; echo "21-examples: swift build $* failed"; exit 1; fi
}
DWARF4=(-Xcc -gdwarf-4 -Xswiftc -dwarf-version=4)   # as 20-capi.sh builds this scratch path
build --scratch-path "$scratch" "${DWARF4[@]}" --product tcpchat
build --scratch-path "$scratch" "${DWARF4[@]}" --product example-chat-client
build --scratch-path "$scratch" "${DWARF4[@]}" --product example-embedded-server
bin=$(cd "$(swift build --scratch-path "$scratch" "${DWARF4[@]}" --show-bin-path)" && pwd)
work=$(mktemp -d)
server_pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for example in chat_client embedded_server; do
  gcc -std=c99 -Wall -Wextra -Werror -pedantic -IInclude "examples/c/$example.c" -o "$work/$example" \
    -L"$bin" -Wl,-rpath,"$bin" -ltcpchat -lpthread
done

# wait_for FILE TEXT: until FILE contains TEXT (fixed string), for at most 20 s.
wait_for() {
  local tries=0
  until grep -qF -- "$2" "$1" 2>/dev/null; do
    tries=$((tries + 1))
    if [ $tries -gt 200 ]; then
      echo "21-examples: no \"$2\" in $1:"; cat "$1"; return 1
    fi
    sleep 0.1
  done
}

# wait_exit PID: its exit status, waiting at most 20 s.
wait_exit() {
  local tries=0
  while kill -0 "$1" 2>/dev/null; do
    tries=$((tries + 1))
    if [ $tries -gt 200 ]; then echo "21-examples: process $1 did not exit"; return 1; fi
    sleep 0.1
  done
  wait "$1"
}

# pair NAME SERVER CLIENT
pair() {
  local name=$1 server=$2 client=$3 port client_pid status
  echo "-- $name"
  : >"$work/server.out"; : >"$work/server.err"; : >"$work/client.out"
  "$server" 0 >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  wait_for "$work/server.out" "listening on port "
  port=$(sed -n 's/^listening on port \([0-9]*\).*/\1/p' "$work/server.out")

  rm -f "$work/input"; mkfifo "$work/input"
  "$client" 127.0.0.1 "$port" <"$work/input" >"$work/client.out" 2>&1 &
  client_pid=$!
  exec 3>"$work/input"
  echo "/nick tester" >&3
  wait_for "$work/client.out" "* you are now known as tester"
  echo '!time' >&3
  wait_for "$work/client.out" "* tester asked the time: it is "
  echo "/quit done" >&3
  status=0; wait_exit "$client_pid" || status=$?
  exec 3>&-
  [ "$status" = 0 ] || { echo "21-examples: client exited $status"; cat "$work/client.out"; return 1; }
  grep -qF "* goodbye, tester" "$work/client.out"

  # End of input without /quit: the client half-closes, the server closes, the client exits 0.
  printf 'just passing through\n' | "$client" 127.0.0.1 "$port" >"$work/client.out" 2>&1
  grep -qF "* welcome to tcpchat, " "$work/client.out"
  wait_for "$work/server.err" ": connection closed"   # the server log: "disconnect ... guestN: connection closed"

  kill -INT "$server_pid"
  status=0; wait_exit "$server_pid" || status=$?
  server_pid=""
  [ "$status" = 0 ] || { echo "21-examples: server exited $status"; cat "$work/server.err"; return 1; }
  grep -qF "stopped" "$work/server.err"
}

pair "C embedded_server + Swift example-chat-client" "$work/embedded_server" "$bin/example-chat-client"
pair "Swift example-embedded-server + C chat_client" "$bin/example-embedded-server" "$work/chat_client"
echo "21-examples: ok"
