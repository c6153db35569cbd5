#!/usr/bin/env bash
# Regenerate the Python stubs from protos/ember/v1/*.proto: messages (*_pb2.py), gRPC services
# (*_pb2_grpc.py) and typed stubs for both (*.pyi, from mypy-protobuf, incl. grpc.aio types).
# Usage: scripts/gen_protos.sh [OUT_ROOT]   (default: protos, i.e. in place beside the .proto files)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-protos}"
bin="${VENV_BIN:-.venv/bin}"
mkdir -p "$out"
"$bin/python" -m grpc_tools.protoc -I protos \
  --plugin=protoc-gen-mypy="$bin/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$bin/protoc-gen-mypy_grpc" \
  --python_out="$out" --grpc_python_out="$out" \
  --mypy_out="$out" --mypy_grpc_out="$out" \
  protos/ember/v1/*.proto
