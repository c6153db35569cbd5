#!/usr/bin/env bash
# Regenerate the Python stubs (messages, .pyi, gRPC services) from protos/ember/v1/*.proto.
# Usage: scripts/gen_protos.sh [OUT_ROOT]   (default: protos, i.e. in place beside the .proto files)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-protos}"
py="${PYTHON:-.venv/bin/python}"
mkdir -p "$out"
"$py" -m grpc_tools.protoc -I protos \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/ember/v1/*.proto
