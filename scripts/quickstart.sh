#!/usr/bin/env bash
# The body of `make run`: ZooKeeper (config/zookeeper.properties) in the background and one broker
# (config/server.properties) in the foreground, like Kafka's quickstart. Ctrl-C stops both.
set -u
base_dir=$(cd "$(dirname "$0")/.." && pwd)
cd "$base_dir"
LOG_DIR="${LOG_DIR:-$base_dir/logs}"
mkdir -p "$LOG_DIR"
zk_pid=""
started_zk=0
if (exec 3<>/dev/tcp/127.0.0.1/2181) 2>/dev/null; then
  echo "ZooKeeper is already listening on localhost:2181; using it."
else
  echo "Starting ZooKeeper on localhost:2181 (log: $LOG_DIR/zookeeper.out)"
  scripts/zookeeper-server-start.sh config/zookeeper.properties > "$LOG_DIR/zookeeper.out" 2>&1 &
  zk_pid=$!
  started_zk=1
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/2181) 2>/dev/null && break
    sleep 0.2
  done
fi
cleanup() {
  if [ -n "${broker_pid:-}" ]; then kill -TERM "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null; fi
  if [ $started_zk = 1 ]; then kill -TERM "$zk_pid" 2>/dev/null; wait "$zk_pid" 2>/dev/null; echo "ZooKeeper stopped."; fi
}
trap 'cleanup; exit 0' INT TERM
scripts/kafka-server-start.sh config/server.properties "$@" &
broker_pid=$!
wait "$broker_pid"
broker_pid=""
cleanup
