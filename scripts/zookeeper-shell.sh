#!/usr/bin/env bash
# zookeeper-shell.sh host:port[/chroot] [command args]: Debian's ZooKeeper CLI (ls, get, ...).
if [ $# -lt 1 ]; then
  echo "USAGE: $0 zookeeper_host:port[/path] [args...]"
  exit 1
fi
server=$1
shift
exec java -cp "${ZK_CLASSPATH:-/etc/zookeeper/conf:/usr/share/java/zookeeper.jar}" org.apache.zookeeper.ZooKeeperMain -server "$server" "$@"
