package com.ember.client;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.EnumDescriptorProto;
import com.google.protobuf.DescriptorProtos.EnumValueDescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.DescriptorProtos.MessageOptions;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.DescriptorValidationException;
import com.google.protobuf.Descriptors.FileDescriptor;

/**
 * Descriptors, built at run time, of the two messages the client needs beyond ember.v1 that
 * Debian's Java packages lack: {@code grpc.health.v1}'s check messages (no grpc-services jar) and
 * {@code google.rpc.ErrorInfo} (proto-google-common-protos 1.16 predates it). Field numbers and
 * types are those of the published .proto files, so {@code DynamicMessage} reads and writes the
 * same bytes as the generated classes would.
 */
final class RuntimeProtos {
  static final Descriptor HEALTH_CHECK_REQUEST;
  static final Descriptor HEALTH_CHECK_RESPONSE;
  static final Descriptor ERROR_INFO;

  private RuntimeProtos() {}

  private static FieldDescriptorProto field(
      String name, int number, FieldDescriptorProto.Type type) {
    return FieldDescriptorProto.newBuilder()
        .setName(name)
        .setNumber(number)
        .setType(type)
        .setLabel(FieldDescriptorProto.Label.LABEL_OPTIONAL)
        .build();
  }

  private static FileDescriptor build(FileDescriptorProto file) {
    try {
      return FileDescriptor.buildFrom(file, new FileDescriptor[0]);
    } catch (DescriptorValidationException e) {
      throw new IllegalStateException(e);
    }
  }

  static {
    FileDescriptorProto health =
        FileDescriptorProto.newBuilder()
            .setName("grpc/health/v1/health.proto")
            .setPackage("grpc.health.v1")
            .setSyntax("proto3")
            .addMessageType(
                DescriptorProto.newBuilder()
                    .setName("HealthCheckRequest")
                    .addField(field("service", 1, FieldDescriptorProto.Type.TYPE_STRING)))
            .addMessageType(
                DescriptorProto.newBuilder()
                    .setName("HealthCheckResponse")
                    .addField(
                        field("status", 1, FieldDescriptorProto.Type.TYPE_ENUM).toBuilder()
                            .setTypeName(".grpc.health.v1.HealthCheckResponse.ServingStatus"))
                    .addEnumType(
                        EnumDescriptorProto.newBuilder()
                            .setName("ServingStatus")
                            .addValue(value("UNKNOWN", 0))
                            .addValue(value("SERVING", 1))
                            .addValue(value("NOT_SERVING", 2))
                            .addValue(value("SERVICE_UNKNOWN", 3))))
            .build();
    FileDescriptor healthFile = build(health);
    HEALTH_CHECK_REQUEST = healthFile.findMessageTypeByName("HealthCheckRequest");
    HEALTH_CHECK_RESPONSE = healthFile.findMessageTypeByName("HealthCheckResponse");

    FileDescriptorProto errors =
        FileDescriptorProto.newBuilder()
            .setName("google/rpc/error_details.proto")
            .setPackage("google.rpc")
            .setSyntax("proto3")
            .addMessageType(
                DescriptorProto.newBuilder()
                    .setName("ErrorInfo")
                    .addField(field("reason", 1, FieldDescriptorProto.Type.TYPE_STRING))
                    .addField(field("domain", 2, FieldDescriptorProto.Type.TYPE_STRING))
                    .addField(
                        field("metadata", 3, FieldDescriptorProto.Type.TYPE_MESSAGE).toBuilder()
                            .setLabel(FieldDescriptorProto.Label.LABEL_REPEATED)
                            .setTypeName(".google.rpc.ErrorInfo.MetadataEntry"))
                    .addNestedType(
                        DescriptorProto.newBuilder()
                            .setName("MetadataEntry")
                            .addField(field("key", 1, FieldDescriptorProto.Type.TYPE_STRING))
                            .addField(field("value", 2, FieldDescriptorProto.Type.TYPE_STRING))
                            .setOptions(MessageOptions.newBuilder().setMapEntry(true))))
            .build();
    ERROR_INFO = build(errors).findMessageTypeByName("ErrorInfo");
  }

  private static EnumValueDescriptorProto value(String name, int number) {
    return EnumValueDescriptorProto.newBuilder().setName(name).setNumber(number).build();
  }
}
