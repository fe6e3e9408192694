#!/usr/bin/env bash
# kafka-server-start.sh [-daemon] server.properties [--override property=value]*
if [ $# -lt 1 ]; then
  echo "USAGE: $0 [-daemon] server.properties [--override property=value]*"
  exit 1
fi
base_dir=$(cd "$(dirname "$0")/.." && pwd)
LOG_DIR="${LOG_DIR:-$base_dir/logs}"
if [ "$1" = "-daemon" ]; then
  shift
  mkdir -p "$LOG_DIR"
  nohup "$base_dir/scripts/zkafka-run-class.sh" kafka-server-start "$@" > "$LOG_DIR/kafkaServer.out" 2>&1 < /dev/null &
  exit 0
fi
exec "$base_dir/scripts/zkafka-run-class.sh" kafka-server-start "$@"
