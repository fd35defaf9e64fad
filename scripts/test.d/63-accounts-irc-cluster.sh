#!/usr/bin/env bash
# Accounts for IRC clients and in a cluster (issue 20, branch acct-irc):
#   Tests/irc/irc_accounts_test.py: SASL PLAIN and NickServ with a raw-socket IRC client
#     against the real server with --accounts (SQLite);
#   Tests/accounts/cluster_accounts_test.py: two servers with --cluster-accounts through a
#     throwaway redis-server: register on A / identify on B, the grace rename, guessing counted
#     in Redis, the register race (the skeleton index), Redis down, ghost across servers, SASL
#     on B, bad flag pairs.
# irssi with SASL and NickServ: scripts/test.d/45-irc-client.sh. Pass test names to run a few
# of the IRC ones: scripts/test.d/63-accounts-irc-cluster.sh sasl_success nickserv
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

need=()
command -v python3 >/dev/null || need+=(python3)
command -v redis-server >/dev/null || need+=(redis-server)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing: ${need[*]}"; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

swift build --product tcpchat-server
bin=$(swift build --show-bin-path)
python3 Tests/irc/irc_accounts_test.py "$bin/tcpchat-server" "$@"
[ $# -gt 0 ] || python3 Tests/accounts/cluster_accounts_test.py "$bin/tcpchat-server"
