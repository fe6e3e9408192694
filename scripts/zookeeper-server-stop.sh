#!/usr/bin/env bash
# zookeeper-server-stop.sh: stops every ZooKeeper server (QuorumPeerMain) started by zookeeper-server-start.sh.
SIGNAL=${SIGNAL:-TERM}
pids=$(ps ax -o pid= -o args= | grep java | grep -i QuorumPeerMain | grep -v grep | awk '{print $1}')
if [ -z "$pids" ]; then
  echo "No zookeeper server to stop"
  exit 1
fi
kill -s "$SIGNAL" $pids
