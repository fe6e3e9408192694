#!/usr/bin/env bash
exec "$(dirname "$0")/zkafka-run-class.sh" kafka-transactions "$@"
