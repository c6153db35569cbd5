#!/usr/bin/env bash
# Build the Java client offline from Debian's jars (no Maven Central): the generated ember.v1
# classes and com.ember.client into build/ember-client.jar, then the examples into
# build/examples. Prints the run-time classpath on its last line.
# Needs: apt-get install default-jdk-headless libgrpc-java libprotobuf-java libnetty-java
#        libgoogle-common-protos-java libguava-java libjsr305-java libgeronimo-annotation-1.3-spec-java
# (the last for the javax.annotation.Generated that grpc_java_plugin 1.41 writes)
set -euo pipefail
cd "$(dirname "$0")"
jars=/usr/share/java
classpath=""
for jar in grpc-api grpc-core grpc-context grpc-stub grpc-protobuf grpc-protobuf-lite grpc-netty \
  protobuf proto-google-common-protos guava jsr305 error_prone_annotations geronimo-annotation-1.3-spec \
  perfmark-api gson \
  netty-buffer netty-codec netty-codec-http netty-codec-http2 netty-codec-socks netty-common \
  netty-handler netty-handler-proxy netty-resolver netty-transport; do
  [ -e "$jars/$jar.jar" ] || { echo "missing $jars/$jar.jar (see the apt-get line above)" >&2; exit 1; }
  classpath="$classpath:$jars/$jar.jar"
done
classpath="${classpath#:}"
rm -rf build
mkdir -p build/classes build/examples
find src/main/java -name '*.java' >build/sources.txt
javac -nowarn -encoding UTF-8 --release 11 -d build/classes -cp "$classpath" @build/sources.txt
jar --create --file build/ember-client.jar -C build/classes .
find examples -name '*.java' >build/example-sources.txt
javac -encoding UTF-8 --release 11 -d build/examples -cp "build/ember-client.jar:$classpath" \
  @build/example-sources.txt
echo "build/ember-client.jar:build/examples:$classpath"
