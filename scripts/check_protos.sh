#!/usr/bin/env bash
# Fail when the committed Python stubs differ from what protos/ember/v1/*.proto generate.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
scripts/gen_protos.sh "$tmp" >/dev/null 2>&1
status=0
for f in "$tmp"/ember/v1/*; do
  name="$(basename "$f")"
  if ! cmp -s "$f" "protos/ember/v1/$name"; then
    echo "stale generated file: protos/ember/v1/$name (run: make protos)" >&2
    status=1
  fi
done
for f in protos/ember/v1/*_pb2*.py*; do
  [ -e "$tmp/ember/v1/$(basename "$f")" ] || { echo "orphan generated file: $f" >&2; status=1; }
done
[ "$status" -eq 0 ] && echo "generated stubs are up to date"
exit "$status"
