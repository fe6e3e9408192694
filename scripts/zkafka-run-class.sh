#!/usr/bin/env bash
# Runs one zkafka subcommand from this checkout's bin/zkafka (built by `make build`).
base_dir=$(cd "$(dirname "$0")/.." && pwd)
bin="${ZKAFKA_BIN:-$base_dir/bin/zkafka}"
if [ ! -x "$bin" ]; then
  echo "zkafka binary not found at $bin: run 'make build' in $base_dir first" >&2
  exit 1
fi
exec "$bin" "$@"
