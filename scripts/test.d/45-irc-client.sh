#!/usr/bin/env bash
# A real IRC client (irssi, in tmux) chats through tcpchat-server: with a line-protocol peer on
# one server (Tests/irc/irssi_test.py), and on server A of a two-server cluster with a real nc
# and a real tcpchat client on server B (Tests/irc/irssi_cluster_test.py, Redis from
# redis-server). Installs irssi, redis-server, tmux and nc when run as root and missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for pair in irssi:irssi redis-server:redis-server tmux:tmux nc:netcat-openbsd; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing: ${missing[*]} (apt-get install them)"; exit 1
  fi
fi
swift build --product tcpchat-server
swift build --product tcpchat-client
bin="$(swift build --show-bin-path)"
python3 Tests/irc/irssi_test.py "$bin/tcpchat-server"
python3 Tests/irc/irssi_accounts_test.py "$bin/tcpchat-server"  # SASL, NickServ, the grace rename (acct-irc)
python3 Tests/irc/irssi_cluster_test.py "$bin/tcpchat-server" "$bin/tcpchat-client"
