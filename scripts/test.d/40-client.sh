#!/usr/bin/env bash
# The tcpchat client (SwiftPM product tcpchat-client), end to end: the real binary in real
# pseudo-terminals (tmux panes) and in pipes, against a real tcpchat-server and plain sockets
# on 127.0.0.1. The cases are in Tests/client/client_test.py; pass test names to run a few:
#   scripts/test.d/40-client.sh history listen
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

need=()
command -v tmux >/dev/null || need+=(tmux)
command -v python3 >/dev/null || need+=(python3)
command -v nc >/dev/null || need+=(netcat-openbsd)
[ -f /usr/include/readline/readline.h ] || need+=(libreadline-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing: ${need[*]}"; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

swift build --product tcpchat        # libtcpchat.so, checked below
swift build --product tcpchat-server
swift build --product tcpchat-client
bin=$(swift build --show-bin-path)

# The library must not link GNU readline (GPL-3); only the client does.
if ldd "$bin/libtcpchat.so" | grep -q readline; then
  echo "libtcpchat.so links readline"; exit 1
fi
# (ldd's output captured first: with pipefail, `grep -q` closing the pipe at its early match
# can fail ldd with SIGPIPE, and the check with it.)
client_libraries=$(ldd "$bin/tcpchat-client")
grep -q libreadline <<<"$client_libraries" || { echo "tcpchat-client does not link readline"; exit 1; }

python3 Tests/client/client_test.py "$bin/tcpchat-client" "$bin/tcpchat-server" "$@"
