#!/usr/bin/env bash
# Starts a throw-away redis-server (no persistence) on the URL's port when none answers there.
set -euo pipefail
url=${1:-redis://127.0.0.1:6379/0}
hostport=${url#redis://}; hostport=${hostport%%/*}
host=${hostport%%:*}; port=${hostport##*:}
if redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; then exit 0; fi
echo "starting redis-server on $host:$port"
redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
  --dir /tmp --logfile /tmp/fl5g-redis-$port.log
for _ in $(seq 1 50); do
  redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG && exit 0
  sleep 0.1
done
echo "redis-server did not answer on $host:$port" >&2
exit 1
