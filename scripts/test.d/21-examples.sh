#!/usr/bin/env bash
# Runs the examples of README "Using the library from C and Swift" against each other, across
# languages: the C embedded server with the Swift client, and the Swift embedded server with
# the C client. Each time a client takes a nick, asks the bot "!time", quits with /quit, a
# second client just reaches end of input, and the server stops on SIGINT with status 0.
# Then the embedding examples (1.1): bot (host-driven, /roll, greeting, word filter, /login and
# /kick) with two poll_clients, C and Swift mixed both ways.
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
build --scratch-path "$scratch" "${DWARF4[@]}" --product example-bot
build --scratch-path "$scratch" "${DWARF4[@]}" --product example-poll-client
bin=$(cd "$(swift build --scratch-path "$scratch" "${DWARF4[@]}" --show-bin-path)" && pwd)
work=$(mktemp -d)
server_pid=""
cleanup() {
  exec 3>&- 4>&- 2>/dev/null || true
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for example in chat_client embedded_server bot poll_client; do
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

# steer NAME BOT TESTER WATCHER: the bot's commands, greeting and filter, seen by two clients.
steer() {
  local name=$1 bot=$2 tester=$3 watcher=$4 port tester_pid watcher_pid status
  echo "-- $name"
  : >"$work/server.out"; : >"$work/server.err"; : >"$work/tester.out"; : >"$work/watcher.out"
  "$bot" 0 pw >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  wait_for "$work/server.out" "listening on port "
  port=$(sed -n 's/^listening on port \([0-9]*\).*/\1/p' "$work/server.out")

  rm -f "$work/watcher.in" "$work/tester.in"; mkfifo "$work/watcher.in" "$work/tester.in"
  "$watcher" 127.0.0.1 "$port" <"$work/watcher.in" >"$work/watcher.out" 2>&1 &
  watcher_pid=$!
  exec 4>"$work/watcher.in"
  wait_for "$work/watcher.out" "* welcome to #lobby, guest1"          # the join greeting
  echo "/nick watcher" >&4
  wait_for "$work/watcher.out" "* you are now known as watcher"

  "$tester" 127.0.0.1 "$port" <"$work/tester.in" >"$work/tester.out" 2>&1 &
  tester_pid=$!
  exec 3>"$work/tester.in"
  echo "/nick tester" >&3
  wait_for "$work/tester.out" "* you are now known as tester"
  echo "/roll 2d6" >&3                                                   # a command of the host's
  wait_for "$work/watcher.out" "<@dice> tester rolled 2d6: "
  echo "what the darn" >&3                                               # the word filter
  wait_for "$work/watcher.out" "<tester> what the ****"
  echo "/kick watcher" >&3
  wait_for "$work/tester.out" "* only admins may /kick"
  echo "/login nope" >&3
  wait_for "$work/tester.out" "! wrong password"
  echo "/login pw" >&3
  wait_for "$work/tester.out" "* you are an admin now"
  echo "/kick watcher being rude" >&3
  wait_for "$work/watcher.out" "! you were kicked: being rude"
  wait_for "$work/tester.out" "* watcher left (kicked: being rude)"
  status=0; wait_exit "$watcher_pid" || status=$?
  exec 4>&-
  [ "$status" = 0 ] || { echo "21-examples: watcher exited $status"; cat "$work/watcher.out"; return 1; }
  echo "/frob" >&3
  wait_for "$work/tester.out" "! unknown command /frob, try /help"
  echo "/quit" >&3
  status=0; wait_exit "$tester_pid" || status=$?
  exec 3>&-
  [ "$status" = 0 ] || { echo "21-examples: tester exited $status"; cat "$work/tester.out"; return 1; }
  if grep -qF "darn" "$work/watcher.out"; then echo "21-examples: the filter let a word through"; return 1; fi

  kill -INT "$server_pid"
  status=0; wait_exit "$server_pid" || status=$?
  server_pid=""
  [ "$status" = 0 ] || { echo "21-examples: bot exited $status"; cat "$work/server.err"; return 1; }
  grep -qF "stopped" "$work/server.err"
}

steer "C bot + C poll_client + Swift example-poll-client" "$work/bot" "$work/poll_client" "$bin/example-poll-client"
steer "Swift example-bot + Swift example-poll-client + C poll_client" "$bin/example-bot" "$bin/example-poll-client" "$work/poll_client"
echo "21-examples: ok"
