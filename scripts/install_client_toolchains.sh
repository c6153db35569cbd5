#!/usr/bin/env bash
# Install what `make test-clients` builds and runs the Go, Java, TypeScript and C++ clients
# with, all from Debian and npm (no Go module proxy, no Maven Central): Go 1.19 with Debian's
# grpc-go, protobuf-go and genproto sources (GOPATH layout under /usr/share/gocode); a JDK with
# Debian's grpc-java, protobuf-java and netty jars; Node.js and the TypeScript package's npm
# dependencies; CMake and g++ with gRPC C++ 1.51 and protobuf 3.21.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/apt.sh
scripts/install_codegen.sh
need_commands go:golang-go javac:default-jdk-headless node:nodejs npm:npm cmake:cmake g++:g++ \
  pkg-config:pkg-config
apt_install golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev \
  golang-github-golang-protobuf-1-5-dev \
  libgrpc-java libprotobuf-java libgoogle-common-protos-java libnetty-java libguava-java \
  libjsr305-java liberror-prone-java libgeronimo-annotation-1.3-spec-java libperfmark-java \
  libgoogle-gson-java libgrpc++-dev libprotobuf-dev
