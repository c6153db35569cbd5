#!/usr/bin/env bash
# Fail when any committed generated file (Python, Go, TypeScript, Java, C++) differs from what
# `buf generate` (buf.gen.yaml) writes from protos/, or when one is left over that it no longer
# writes. Run through `make check-protos`, which installs the generators first.
set -euo pipefail
cd "$(dirname "$0")/.."
buf="${BUF:-.tools/node_modules/.bin/buf}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$buf" generate -o "$tmp" >/dev/null 2>"$tmp.log" || { cat "$tmp.log" >&2; exit 1; }
rm -f "$tmp.log"
status=0
while IFS= read -r file; do
  if ! cmp -s "$tmp/$file" "$file"; then
    echo "stale generated file: $file (run: make stubs)" >&2
    status=1
  fi
done < <(cd "$tmp" && find . -type f | sed 's|^\./||' | sort)
# Generated folders hold nothing else; protos/ember/v1 also holds the .proto sources.
while IFS= read -r file; do
  [ -e "$tmp/$file" ] || { echo "orphan generated file: $file" >&2; status=1; }
done < <(
  find protos/ember/v1 -name '*_pb2*.py*'
  find clients/go/ember clients/typescript/src/gen clients/java/src/main/java/com/ember/v1 \
    clients/cpp/gen -type f
)
[ "$status" -eq 0 ] && echo "generated stubs are up to date"
exit "$status"
