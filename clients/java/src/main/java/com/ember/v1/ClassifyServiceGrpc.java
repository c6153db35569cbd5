package com.ember.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * ClassifyService scores texts and text pairs with a sequence-classification model.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: ember/v1/classify.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class ClassifyServiceGrpc {

  private ClassifyServiceGrpc() {}

  public static final String SERVICE_NAME = "ember.v1.ClassifyService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.ember.v1.ClassifyRequest,
      com.ember.v1.ClassifyResponse> getClassifyMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Classify",
      requestType = com.ember.v1.ClassifyRequest.class,
      responseType = com.ember.v1.ClassifyResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.ClassifyRequest,
      com.ember.v1.ClassifyResponse> getClassifyMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.ClassifyRequest, com.ember.v1.ClassifyResponse> getClassifyMethod;
    if ((getClassifyMethod = ClassifyServiceGrpc.getClassifyMethod) == null) {
      synchronized (ClassifyServiceGrpc.class) {
        if ((getClassifyMethod = ClassifyServiceGrpc.getClassifyMethod) == null) {
          ClassifyServiceGrpc.getClassifyMethod = getClassifyMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.ClassifyRequest, com.ember.v1.ClassifyResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Classify"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.ClassifyRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.ClassifyResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ClassifyServiceMethodDescriptorSupplier("Classify"))
              .build();
        }
      }
    }
    return getClassifyMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.ClassifyStreamRequest,
      com.ember.v1.ClassifyStreamResponse> getClassifyStreamMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ClassifyStream",
      requestType = com.ember.v1.ClassifyStreamRequest.class,
      responseType = com.ember.v1.ClassifyStreamResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
  public static io.grpc.MethodDescriptor<com.ember.v1.ClassifyStreamRequest,
      com.ember.v1.ClassifyStreamResponse> getClassifyStreamMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.ClassifyStreamRequest, com.ember.v1.ClassifyStreamResponse> getClassifyStreamMethod;
    if ((getClassifyStreamMethod = ClassifyServiceGrpc.getClassifyStreamMethod) == null) {
      synchronized (ClassifyServiceGrpc.class) {
        if ((getClassifyStreamMethod = ClassifyServiceGrpc.getClassifyStreamMethod) == null) {
          ClassifyServiceGrpc.getClassifyStreamMethod = getClassifyStreamMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.ClassifyStreamRequest, com.ember.v1.ClassifyStreamResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ClassifyStream"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.ClassifyStreamRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.ClassifyStreamResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ClassifyServiceMethodDescriptorSupplier("ClassifyStream"))
              .build();
        }
      }
    }
    return getClassifyStreamMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ClassifyServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ClassifyServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ClassifyServiceStub>() {
        @java.lang.Override
        public ClassifyServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ClassifyServiceStub(channel, callOptions);
        }
      };
    return ClassifyServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ClassifyServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ClassifyServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ClassifyServiceBlockingStub>() {
        @java.lang.Override
        public ClassifyServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ClassifyServiceBlockingStub(channel, callOptions);
        }
      };
    return ClassifyServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ClassifyServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ClassifyServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ClassifyServiceFutureStub>() {
        @java.lang.Override
        public ClassifyServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ClassifyServiceFutureStub(channel, callOptions);
        }
      };
    return ClassifyServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * ClassifyService scores texts and text pairs with a sequence-classification model.
   * </pre>
   */
  public static abstract class ClassifyServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * Classify returns every label with its score for each input, in input order.
     * </pre>
     */
    public void classify(com.ember.v1.ClassifyRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.ClassifyResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getClassifyMethod(), responseObserver);
    }

    /**
     * <pre>
     * ClassifyStream classifies a stream of batches, answered in the order they were sent.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<com.ember.v1.ClassifyStreamRequest> classifyStream(
        io.grpc.stub.StreamObserver<com.ember.v1.ClassifyStreamResponse> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getClassifyStreamMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getClassifyMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.ClassifyRequest,
                com.ember.v1.ClassifyResponse>(
                  this, METHODID_CLASSIFY)))
          .addMethod(
            getClassifyStreamMethod(),
            io.grpc.stub.ServerCalls.asyncBidiStreamingCall(
              new MethodHandlers<
                com.ember.v1.ClassifyStreamRequest,
                com.ember.v1.ClassifyStreamResponse>(
                  this, METHODID_CLASSIFY_STREAM)))
          .build();
    }
  }

  /**
   * <pre>
   * ClassifyService scores texts and text pairs with a sequence-classification model.
   * </pre>
   */
  public static final class ClassifyServiceStub extends io.grpc.stub.AbstractAsyncStub<ClassifyServiceStub> {
    private ClassifyServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ClassifyServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ClassifyServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Classify returns every label with its score for each input, in input order.
     * </pre>
     */
    public void classify(com.ember.v1.ClassifyRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.ClassifyResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getClassifyMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ClassifyStream classifies a stream of batches, answered in the order they were sent.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<com.ember.v1.ClassifyStreamRequest> classifyStream(
        io.grpc.stub.StreamObserver<com.ember.v1.ClassifyStreamResponse> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncBidiStreamingCall(
          getChannel().newCall(getClassifyStreamMethod(), getCallOptions()), responseObserver);
    }
  }

  /**
   * <pre>
   * ClassifyService scores texts and text pairs with a sequence-classification model.
   * </pre>
   */
  public static final class ClassifyServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<ClassifyServiceBlockingStub> {
    private ClassifyServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ClassifyServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ClassifyServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Classify returns every label with its score for each input, in input order.
     * </pre>
     */
    public com.ember.v1.ClassifyResponse classify(com.ember.v1.ClassifyRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getClassifyMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * ClassifyService scores texts and text pairs with a sequence-classification model.
   * </pre>
   */
  public static final class ClassifyServiceFutureStub extends io.grpc.stub.AbstractFutureStub<ClassifyServiceFutureStub> {
    private ClassifyServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ClassifyServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ClassifyServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Classify returns every label with its score for each input, in input order.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.ClassifyResponse> classify(
        com.ember.v1.ClassifyRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getClassifyMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_CLASSIFY = 0;
  private static final int METHODID_CLASSIFY_STREAM = 1;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final ClassifyServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(ClassifyServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_CLASSIFY:
          serviceImpl.classify((com.ember.v1.ClassifyRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.ClassifyResponse>) responseObserver);
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
        case METHODID_CLASSIFY_STREAM:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.classifyStream(
              (io.grpc.stub.StreamObserver<com.ember.v1.ClassifyStreamResponse>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class ClassifyServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ClassifyServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.ember.v1.ClassifyProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ClassifyService");
    }
  }

  private static final class ClassifyServiceFileDescriptorSupplier
      extends ClassifyServiceBaseDescriptorSupplier {
    ClassifyServiceFileDescriptorSupplier() {}
  }

  private static final class ClassifyServiceMethodDescriptorSupplier
      extends ClassifyServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    ClassifyServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (ClassifyServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ClassifyServiceFileDescriptorSupplier())
              .addMethod(getClassifyMethod())
              .addMethod(getClassifyStreamMethod())
              .build();
        }
      }
    }
    return result;
  }
}
