#!/usr/bin/env bash
# kafka-server-stop.sh: sends SIGTERM (or $SIGNAL) to every running zkafka broker; it shuts down cleanly.
SIGNAL=${SIGNAL:-TERM}
pids=$(ps ax -o pid= -o args= | grep 'zkafka kafka-server-start' | grep -v grep | awk '{print $1}')
if [ -z "$pids" ]; then
  echo "No kafka server to stop"
  exit 1
fi
kill -s "$SIGNAL" $pids
