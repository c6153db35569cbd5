package com.ember.client;

import com.google.protobuf.Any;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code google.rpc.ErrorInfo} an Ember error carries in its status details: {@link #reason}
 * is a word a program can switch on ("INVALID_INPUT", "OVERLOADED", ...), {@link #domain} is
 * "ember" and {@link #metadata} holds the call's "request_id".
 */
public final class ErrorInfo {
  private static final String TYPE_URL = "type.googleapis.com/google.rpc.ErrorInfo";

  public final String reason;
  public final String domain;
  public final Map<String, String> metadata;

  private ErrorInfo(String reason, String domain, Map<String, String> metadata) {
    this.reason = reason;
    this.domain = domain;
    this.metadata = Collections.unmodifiableMap(metadata);
  }

  /**
   * The ErrorInfo of a failed call's exception ({@code StatusRuntimeException}), or null when its
   * status carries none.
   */
  public static ErrorInfo fromThrowable(Throwable error) {
    Status status = StatusProto.fromThrowable(error);
    if (status == null) {
      return null;
    }
    for (Any detail : status.getDetailsList()) {
      if (TYPE_URL.equals(detail.getTypeUrl())) {
        return parse(detail);
      }
    }
    return null;
  }

  private static ErrorInfo parse(Any detail) {
    DynamicMessage info;
    try {
      info = DynamicMessage.parseFrom(RuntimeProtos.ERROR_INFO, detail.getValue());
    } catch (InvalidProtocolBufferException e) {
      return null;
    }
    FieldDescriptor metadataField = RuntimeProtos.ERROR_INFO.findFieldByName("metadata");
    Map<String, String> metadata = new LinkedHashMap<>();
    for (int i = 0; i < info.getRepeatedFieldCount(metadataField); i++) {
      Message entry = (Message) info.getRepeatedField(metadataField, i);
      metadata.put(
          (String) entry.getField(entry.getDescriptorForType().findFieldByName("key")),
          (String) entry.getField(entry.getDescriptorForType().findFieldByName("value")));
    }
    return new ErrorInfo(
        (String) info.getField(RuntimeProtos.ERROR_INFO.findFieldByName("reason")),
        (String) info.getField(RuntimeProtos.ERROR_INFO.findFieldByName("domain")),
        metadata);
  }
}
