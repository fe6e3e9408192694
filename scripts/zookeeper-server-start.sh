#!/usr/bin/env bash
# zookeeper-server-start.sh [-daemon] zookeeper.properties
# Starts Debian's ZooKeeper package (QuorumPeerMain) the way Kafka's script does.
if [ $# -lt 1 ]; then
  echo "USAGE: $0 [-daemon] zookeeper.properties"
  exit 1
fi
base_dir=$(cd "$(dirname "$0")/.." && pwd)
LOG_DIR="${LOG_DIR:-$base_dir/logs}"
ZK_CLASSPATH="${ZK_CLASSPATH:-/etc/zookeeper/conf:/usr/share/java/zookeeper.jar}"
if [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java > /dev/null; then
  echo "ZooKeeper is not installed: run 'make deps' (as root: apt-get install -y zookeeper)" >&2
  exit 1
fi
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512M -Xms512M}"
daemon=0
if [ "$1" = "-daemon" ]; then
  daemon=1
  shift
fi
mkdir -p "$LOG_DIR"
cmd=(java $KAFKA_HEAP_OPTS -Dzookeeper.log.dir="$LOG_DIR" -cp "$ZK_CLASSPATH" org.apache.zookeeper.server.quorum.QuorumPeerMain "$@")
if [ $daemon = 1 ]; then
  nohup "${cmd[@]}" > "$LOG_DIR/zookeeper.out" 2>&1 < /dev/null &
  exit 0
fi
exec "${cmd[@]}"
