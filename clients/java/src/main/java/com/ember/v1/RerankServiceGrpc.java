package com.ember.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * RerankService orders texts by their relevance to a query with a reranker model.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: ember/v1/rerank.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class RerankServiceGrpc {

  private RerankServiceGrpc() {}

  public static final String SERVICE_NAME = "ember.v1.RerankService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.ember.v1.RerankRequest,
      com.ember.v1.RerankResponse> getRerankMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Rerank",
      requestType = com.ember.v1.RerankRequest.class,
      responseType = com.ember.v1.RerankResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.RerankRequest,
      com.ember.v1.RerankResponse> getRerankMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.RerankRequest, com.ember.v1.RerankResponse> getRerankMethod;
    if ((getRerankMethod = RerankServiceGrpc.getRerankMethod) == null) {
      synchronized (RerankServiceGrpc.class) {
        if ((getRerankMethod = RerankServiceGrpc.getRerankMethod) == null) {
          RerankServiceGrpc.getRerankMethod = getRerankMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.RerankRequest, com.ember.v1.RerankResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Rerank"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.RerankRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.RerankResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RerankServiceMethodDescriptorSupplier("Rerank"))
              .build();
        }
      }
    }
    return getRerankMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.RerankStreamRequest,
      com.ember.v1.RerankStreamResponse> getRerankStreamMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RerankStream",
      requestType = com.ember.v1.RerankStreamRequest.class,
      responseType = com.ember.v1.RerankStreamResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
  public static io.grpc.MethodDescriptor<com.ember.v1.RerankStreamRequest,
      com.ember.v1.RerankStreamResponse> getRerankStreamMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.RerankStreamRequest, com.ember.v1.RerankStreamResponse> getRerankStreamMethod;
    if ((getRerankStreamMethod = RerankServiceGrpc.getRerankStreamMethod) == null) {
      synchronized (RerankServiceGrpc.class) {
        if ((getRerankStreamMethod = RerankServiceGrpc.getRerankStreamMethod) == null) {
          RerankServiceGrpc.getRerankStreamMethod = getRerankStreamMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.RerankStreamRequest, com.ember.v1.RerankStreamResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RerankStream"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.RerankStreamRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.RerankStreamResponse.getDefaultInstance()))
              .setSchemaDescriptor(new RerankServiceMethodDescriptorSupplier("RerankStream"))
              .build();
        }
      }
    }
    return getRerankStreamMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static RerankServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RerankServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RerankServiceStub>() {
        @java.lang.Override
        public RerankServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RerankServiceStub(channel, callOptions);
        }
      };
    return RerankServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static RerankServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RerankServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RerankServiceBlockingStub>() {
        @java.lang.Override
        public RerankServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RerankServiceBlockingStub(channel, callOptions);
        }
      };
    return RerankServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static RerankServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<RerankServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<RerankServiceFutureStub>() {
        @java.lang.Override
        public RerankServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new RerankServiceFutureStub(channel, callOptions);
        }
      };
    return RerankServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * RerankService orders texts by their relevance to a query with a reranker model.
   * </pre>
   */
  public static abstract class RerankServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * Rerank scores every text against the query and returns them sorted by score.
     * </pre>
     */
    public void rerank(com.ember.v1.RerankRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.RerankResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRerankMethod(), responseObserver);
    }

    /**
     * <pre>
     * RerankStream reranks a stream of queries, answered in the order they were sent.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<com.ember.v1.RerankStreamRequest> rerankStream(
        io.grpc.stub.StreamObserver<com.ember.v1.RerankStreamResponse> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getRerankStreamMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getRerankMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.RerankRequest,
                com.ember.v1.RerankResponse>(
                  this, METHODID_RERANK)))
          .addMethod(
            getRerankStreamMethod(),
            io.grpc.stub.ServerCalls.asyncBidiStreamingCall(
              new MethodHandlers<
                com.ember.v1.RerankStreamRequest,
                com.ember.v1.RerankStreamResponse>(
                  this, METHODID_RERANK_STREAM)))
          .build();
    }
  }

  /**
   * <pre>
   * RerankService orders texts by their relevance to a query with a reranker model.
   * </pre>
   */
  public static final class RerankServiceStub extends io.grpc.stub.AbstractAsyncStub<RerankServiceStub> {
    private RerankServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RerankServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RerankServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Rerank scores every text against the query and returns them sorted by score.
     * </pre>
     */
    public void rerank(com.ember.v1.RerankRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.RerankResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRerankMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * RerankStream reranks a stream of queries, answered in the order they were sent.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<com.ember.v1.RerankStreamRequest> rerankStream(
        io.grpc.stub.StreamObserver<com.ember.v1.RerankStreamResponse> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncBidiStreamingCall(
          getChannel().newCall(getRerankStreamMethod(), getCallOptions()), responseObserver);
    }
  }

  /**
   * <pre>
   * RerankService orders texts by their relevance to a query with a reranker model.
   * </pre>
   */
  public static final class RerankServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<RerankServiceBlockingStub> {
    private RerankServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RerankServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RerankServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Rerank scores every text against the query and returns them sorted by score.
     * </pre>
     */
    public com.ember.v1.RerankResponse rerank(com.ember.v1.RerankRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRerankMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * RerankService orders texts by their relevance to a query with a reranker model.
   * </pre>
   */
  public static final class RerankServiceFutureStub extends io.grpc.stub.AbstractFutureStub<RerankServiceFutureStub> {
    private RerankServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected RerankServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new RerankServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Rerank scores every text against the query and returns them sorted by score.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.RerankResponse> rerank(
        com.ember.v1.RerankRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRerankMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_RERANK = 0;
  private static final int METHODID_RERANK_STREAM = 1;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final RerankServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(RerankServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_RERANK:
          serviceImpl.rerank((com.ember.v1.RerankRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.RerankResponse>) responseObserver);
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
        case METHODID_RERANK_STREAM:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.rerankStream(
              (io.grpc.stub.StreamObserver<com.ember.v1.RerankStreamResponse>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class RerankServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    RerankServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.ember.v1.RerankProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("RerankService");
    }
  }

  private static final class RerankServiceFileDescriptorSupplier
      extends RerankServiceBaseDescriptorSupplier {
    RerankServiceFileDescriptorSupplier() {}
  }

  private static final class RerankServiceMethodDescriptorSupplier
      extends RerankServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    RerankServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (RerankServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new RerankServiceFileDescriptorSupplier())
              .addMethod(getRerankMethod())
              .addMethod(getRerankStreamMethod())
              .build();
        }
      }
    }
    return result;
  }
}
