#!/usr/bin/env bash
# Cluster mode end to end (Tests/cluster/cluster.py): two and three tcpchat-servers joined
# through a real redis-server on a free 127.0.0.1 port (persistence off, stopped after):
# chat, /me and notices across servers, /msg, /who, /rooms, history, nick collisions, a server
# killed with SIGKILL, Redis stopped and restarted mid-chat, Redis hung (SIGSTOP), Redis
# unreachable at start, bad flags. Pass check names to run a few: scripts/test.d/35-cluster.sh chat lost
set -euo pipefail
cd "$(dirname "$0")/../.."
export SWIFT_BACKTRACE=enable=no

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing: ${need[*]} (run as root to install them)"; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

swift build --product tcpchat-server >/dev/null
exec python3 Tests/cluster/cluster.py "$(swift build --show-bin-path)/tcpchat-server" "$@"
