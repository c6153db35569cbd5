package com.ember.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * TokenClassificationService labels tokens and entity spans (NER) with a token-classification model.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: ember/v1/token_classification.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class TokenClassificationServiceGrpc {

  private TokenClassificationServiceGrpc() {}

  public static final String SERVICE_NAME = "ember.v1.TokenClassificationService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.ember.v1.PredictTokensRequest,
      com.ember.v1.PredictTokensResponse> getPredictTokensMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "PredictTokens",
      requestType = com.ember.v1.PredictTokensRequest.class,
      responseType = com.ember.v1.PredictTokensResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.PredictTokensRequest,
      com.ember.v1.PredictTokensResponse> getPredictTokensMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.PredictTokensRequest, com.ember.v1.PredictTokensResponse> getPredictTokensMethod;
    if ((getPredictTokensMethod = TokenClassificationServiceGrpc.getPredictTokensMethod) == null) {
      synchronized (TokenClassificationServiceGrpc.class) {
        if ((getPredictTokensMethod = TokenClassificationServiceGrpc.getPredictTokensMethod) == null) {
          TokenClassificationServiceGrpc.getPredictTokensMethod = getPredictTokensMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.PredictTokensRequest, com.ember.v1.PredictTokensResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "PredictTokens"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.PredictTokensRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.PredictTokensResponse.getDefaultInstance()))
              .setSchemaDescriptor(new TokenClassificationServiceMethodDescriptorSupplier("PredictTokens"))
              .build();
        }
      }
    }
    return getPredictTokensMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.PredictTokensStreamRequest,
      com.ember.v1.PredictTokensStreamResponse> getPredictTokensStreamMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "PredictTokensStream",
      requestType = com.ember.v1.PredictTokensStreamRequest.class,
      responseType = com.ember.v1.PredictTokensStreamResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
  public static io.grpc.MethodDescriptor<com.ember.v1.PredictTokensStreamRequest,
      com.ember.v1.PredictTokensStreamResponse> getPredictTokensStreamMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.PredictTokensStreamRequest, com.ember.v1.PredictTokensStreamResponse> getPredictTokensStreamMethod;
    if ((getPredictTokensStreamMethod = TokenClassificationServiceGrpc.getPredictTokensStreamMethod) == null) {
      synchronized (TokenClassificationServiceGrpc.class) {
        if ((getPredictTokensStreamMethod = TokenClassificationServiceGrpc.getPredictTokensStreamMethod) == null) {
          TokenClassificationServiceGrpc.getPredictTokensStreamMethod = getPredictTokensStreamMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.PredictTokensStreamRequest, com.ember.v1.PredictTokensStreamResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "PredictTokensStream"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.PredictTokensStreamRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.PredictTokensStreamResponse.getDefaultInstance()))
              .setSchemaDescriptor(new TokenClassificationServiceMethodDescriptorSupplier("PredictTokensStream"))
              .build();
        }
      }
    }
    return getPredictTokensStreamMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static TokenClassificationServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<TokenClassificationServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<TokenClassificationServiceStub>() {
        @java.lang.Override
        public TokenClassificationServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new TokenClassificationServiceStub(channel, callOptions);
        }
      };
    return TokenClassificationServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static TokenClassificationServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<TokenClassificationServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<TokenClassificationServiceBlockingStub>() {
        @java.lang.Override
        public TokenClassificationServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new TokenClassificationServiceBlockingStub(channel, callOptions);
        }
      };
    return TokenClassificationServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static TokenClassificationServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<TokenClassificationServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<TokenClassificationServiceFutureStub>() {
        @java.lang.Override
        public TokenClassificationServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new TokenClassificationServiceFutureStub(channel, callOptions);
        }
      };
    return TokenClassificationServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * TokenClassificationService labels tokens and entity spans (NER) with a token-classification model.
   * </pre>
   */
  public static abstract class TokenClassificationServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * PredictTokens labels the tokens (or merged entity spans) of each input, in input order.
     * </pre>
     */
    public void predictTokens(com.ember.v1.PredictTokensRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.PredictTokensResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getPredictTokensMethod(), responseObserver);
    }

    /**
     * <pre>
     * PredictTokensStream labels a stream of batches, answered in the order they were sent.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<com.ember.v1.PredictTokensStreamRequest> predictTokensStream(
        io.grpc.stub.StreamObserver<com.ember.v1.PredictTokensStreamResponse> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getPredictTokensStreamMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getPredictTokensMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.PredictTokensRequest,
                com.ember.v1.PredictTokensResponse>(
                  this, METHODID_PREDICT_TOKENS)))
          .addMethod(
            getPredictTokensStreamMethod(),
            io.grpc.stub.ServerCalls.asyncBidiStreamingCall(
              new MethodHandlers<
                com.ember.v1.PredictTokensStreamRequest,
                com.ember.v1.PredictTokensStreamResponse>(
                  this, METHODID_PREDICT_TOKENS_STREAM)))
          .build();
    }
  }

  /**
   * <pre>
   * TokenClassificationService labels tokens and entity spans (NER) with a token-classification model.
   * </pre>
   */
  public static final class TokenClassificationServiceStub extends io.grpc.stub.AbstractAsyncStub<TokenClassificationServiceStub> {
    private TokenClassificationServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected TokenClassificationServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new TokenClassificationServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * PredictTokens labels the tokens (or merged entity spans) of each input, in input order.
     * </pre>
     */
    public void predictTokens(com.ember.v1.PredictTokensRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.PredictTokensResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getPredictTokensMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * PredictTokensStream labels a stream of batches, answered in the order they were sent.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<com.ember.v1.PredictTokensStreamRequest> predictTokensStream(
        io.grpc.stub.StreamObserver<com.ember.v1.PredictTokensStreamResponse> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncBidiStreamingCall(
          getChannel().newCall(getPredictTokensStreamMethod(), getCallOptions()), responseObserver);
    }
  }

  /**
   * <pre>
   * TokenClassificationService labels tokens and entity spans (NER) with a token-classification model.
   * </pre>
   */
  public static final class TokenClassificationServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<TokenClassificationServiceBlockingStub> {
    private TokenClassificationServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected TokenClassificationServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new TokenClassificationServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * PredictTokens labels the tokens (or merged entity spans) of each input, in input order.
     * </pre>
     */
    public com.ember.v1.PredictTokensResponse predictTokens(com.ember.v1.PredictTokensRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getPredictTokensMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * TokenClassificationService labels tokens and entity spans (NER) with a token-classification model.
   * </pre>
   */
  public static final class TokenClassificationServiceFutureStub extends io.grpc.stub.AbstractFutureStub<TokenClassificationServiceFutureStub> {
    private TokenClassificationServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected TokenClassificationServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new TokenClassificationServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * PredictTokens labels the tokens (or merged entity spans) of each input, in input order.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.PredictTokensResponse> predictTokens(
        com.ember.v1.PredictTokensRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getPredictTokensMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_PREDICT_TOKENS = 0;
  private static final int METHODID_PREDICT_TOKENS_STREAM = 1;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final TokenClassificationServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(TokenClassificationServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_PREDICT_TOKENS:
          serviceImpl.predictTokens((com.ember.v1.PredictTokensRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.PredictTokensResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_PREDICT_TOKENS_STREAM:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.predictTokensStream(
              (io.grpc.stub.StreamObserver<com.ember.v1.PredictTokensStreamResponse>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class TokenClassificationServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    TokenClassificationServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.ember.v1.TokenClassificationProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("TokenClassificationService");
    }
  }

  private static final class TokenClassificationServiceFileDescriptorSupplier
      extends TokenClassificationServiceBaseDescriptorSupplier {
    TokenClassificationServiceFileDescriptorSupplier() {}
  }

  private static final class TokenClassificationServiceMethodDescriptorSupplier
      extends TokenClassificationServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    TokenClassificationServiceMethodDescriptorSupplier(String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (TokenClassificationServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new TokenClassificationServiceFileDescriptorSupplier())
              .addMethod(getPredictTokensMethod())
              .addMethod(getPredictTokensStreamMethod())
              .build();
        }
      }
    }
    return result;
  }
}
