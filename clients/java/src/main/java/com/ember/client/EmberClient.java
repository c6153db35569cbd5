package com.ember.client;

import com.ember.v1.ClassifyServiceGrpc;
import com.ember.v1.EmbedServiceGrpc;
import com.ember.v1.ModelServiceGrpc;
import com.ember.v1.RerankServiceGrpc;
import com.ember.v1.TokenClassificationServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import com.google.protobuf.DynamicMessage;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One channel to an Ember server with Ember's defaults (API key, TLS, a default service config)
 * and the generated stubs of every service on it. Requests and responses are the generated
 * classes of package {@code com.ember.v1}. Close it when done.
 */
public final class EmberClient implements AutoCloseable {
  /** Largest message sent or received: big Embed batches answer with several MB of floats. */
  public static final int MAX_MESSAGE_BYTES = 256 << 20;

  private static final String[] SERVICES = {
    "ember.v1.EmbedService",
    "ember.v1.RerankService",
    "ember.v1.ClassifyService",
    "ember.v1.TokenClassificationService",
    "ember.v1.ModelService",
  };

  public final ManagedChannel channel;
  public final EmbedServiceGrpc.EmbedServiceBlockingStub embed;
  /** The asynchronous stub: EmbedStream (bidirectional streaming) lives here. */
  public final EmbedServiceGrpc.EmbedServiceStub embedAsync;
  public final RerankServiceGrpc.RerankServiceBlockingStub rerank;
  public final ClassifyServiceGrpc.ClassifyServiceBlockingStub classify;
  public final TokenClassificationServiceGrpc.TokenClassificationServiceBlockingStub tokens;
  public final ModelServiceGrpc.ModelServiceBlockingStub model;
  private static final MethodDescriptor<DynamicMessage, DynamicMessage> HEALTH_CHECK =
      MethodDescriptor.<DynamicMessage, DynamicMessage>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName("grpc.health.v1.Health/Check")
          .setRequestMarshaller(
              ProtoUtils.marshaller(
                  DynamicMessage.getDefaultInstance(RuntimeProtos.HEALTH_CHECK_REQUEST)))
          .setResponseMarshaller(
              ProtoUtils.marshaller(
                  DynamicMessage.getDefaultInstance(RuntimeProtos.HEALTH_CHECK_RESPONSE)))
          .build();

  /**
   * Connects to {@code target} ("localhost:50051", "dns:///ember.internal:50051").
   *
   * @param apiKey sent as "authorization: Bearer KEY" on every call; null or empty for none
   * @param tls whether to use TLS (the JVM's trust store); false for plaintext
   */
  public EmberClient(String target, String apiKey, boolean tls) {
    ManagedChannelBuilder<?> builder =
        ManagedChannelBuilder.forTarget(target)
            .maxInboundMessageSize(MAX_MESSAGE_BYTES)
            .defaultServiceConfig(defaultServiceConfig());
    if (tls) {
      builder.useTransportSecurity();
    } else {
      builder.usePlaintext();
    }
    if (apiKey != null && !apiKey.isEmpty()) {
      Metadata headers = new Metadata();
      headers.put(
          Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + apiKey);
      builder.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    channel = builder.build();
    embed = EmbedServiceGrpc.newBlockingStub(channel);
    embedAsync = EmbedServiceGrpc.newStub(channel);
    rerank = RerankServiceGrpc.newBlockingStub(channel);
    classify = ClassifyServiceGrpc.newBlockingStub(channel);
    tokens = TokenClassificationServiceGrpc.newBlockingStub(channel);
    model = ModelServiceGrpc.newBlockingStub(channel);
  }

  /**
   * The service config used unless the name resolver gives one: round-robin over every address
   * the target resolves to, and calls that wait for a connection that is not ready yet.
   */
  public static Map<String, Object> defaultServiceConfig() {
    List<Object> names = new ArrayList<>();
    for (String service : SERVICES) {
      names.add(Map.of("service", service));
    }
    return Map.of(
        "loadBalancingConfig", List.of(Map.of("round_robin", Map.of())),
        "methodConfig", List.of(Map.of("name", names, "waitForReady", true)));
  }

  /** Whether the server's health service says {@code service} ("" for all) is SERVING. */
  public boolean isServing(String service) {
    DynamicMessage request =
        DynamicMessage.newBuilder(RuntimeProtos.HEALTH_CHECK_REQUEST)
            .setField(RuntimeProtos.HEALTH_CHECK_REQUEST.findFieldByName("service"), service)
            .build();
    DynamicMessage answer =
        ClientCalls.blockingUnaryCall(channel, HEALTH_CHECK, model.getCallOptions(), request);
    Object status =
        answer.getField(RuntimeProtos.HEALTH_CHECK_RESPONSE.findFieldByName("status"));
    return "SERVING".equals(status.toString());
  }

  @Override
  public void close() throws InterruptedException {
    channel.shutdown().awaitTermination(10, TimeUnit.SECONDS);
  }
}
