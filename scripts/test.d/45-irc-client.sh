#!/usr/bin/env bash
# A real IRC client (irssi, in tmux) and a line-protocol peer chat through tcpchat-server
# (Tests/irc/irssi_test.py). Installs irssi when run as root and it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v irssi >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq irssi >/dev/null
  else
    echo "irssi missing (apt-get install irssi)"; exit 1
  fi
fi
swift build --product tcpchat-server
python3 Tests/irc/irssi_test.py "$(swift build --show-bin-path)/tcpchat-server"
