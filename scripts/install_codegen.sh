#!/usr/bin/env bash
# Install the code generators `make stubs` and `make check-protos` run besides the venv's
# (grpcio-tools, mypy-protobuf) and buf: Debian's protoc (Java and C++ messages), protoc-gen-go,
# protoc-gen-go-grpc, grpc_java_plugin and grpc_cpp_plugin, and npm's protoc-gen-es (clients/typescript's
# devDependencies). Each is installed only when missing; their versions fix the stubs byte for
# byte, so they come from the same places on every machine (Debian 12, the npm lockfile).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/apt.sh
need_commands protoc:protobuf-compiler protoc-gen-go:protoc-gen-go \
  protoc-gen-go-grpc:protoc-gen-go-grpc grpc_java_plugin:protobuf-compiler-grpc-java-plugin \
  grpc_cpp_plugin:protobuf-compiler-grpc
if [ ! -x clients/typescript/node_modules/.bin/protoc-gen-es ] \
  || [ clients/typescript/package-lock.json -nt clients/typescript/node_modules/.package-lock.json ]; then
  npm ci --silent --no-audit --no-fund --ignore-scripts --prefix clients/typescript
fi
