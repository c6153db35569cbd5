#!/usr/bin/env bash
# Install Debian's redis-server (the shared job store the tests start: tests/service/test_jobs_redis.py);
# a no-op once installed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/apt.sh
need_commands redis-server:redis-server
