package com.ember.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * ModelService describes the loaded model and exposes its tokenizer.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: ember/v1/model.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class ModelServiceGrpc {

  private ModelServiceGrpc() {}

  public static final String SERVICE_NAME = "ember.v1.ModelService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.ember.v1.GetModelInfoRequest,
      com.ember.v1.GetModelInfoResponse> getGetModelInfoMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetModelInfo",
      requestType = com.ember.v1.GetModelInfoRequest.class,
      responseType = com.ember.v1.GetModelInfoResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.GetModelInfoRequest,
      com.ember.v1.GetModelInfoResponse> getGetModelInfoMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.GetModelInfoRequest, com.ember.v1.GetModelInfoResponse> getGetModelInfoMethod;
    if ((getGetModelInfoMethod = ModelServiceGrpc.getGetModelInfoMethod) == null) {
      synchronized (ModelServiceGrpc.class) {
        if ((getGetModelInfoMethod = ModelServiceGrpc.getGetModelInfoMethod) == null) {
          ModelServiceGrpc.getGetModelInfoMethod = getGetModelInfoMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.GetModelInfoRequest, com.ember.v1.GetModelInfoResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetModelInfo"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.GetModelInfoRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.GetModelInfoResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ModelServiceMethodDescriptorSupplier("GetModelInfo"))
              .build();
        }
      }
    }
    return getGetModelInfoMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.TokenizeRequest,
      com.ember.v1.TokenizeResponse> getTokenizeMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Tokenize",
      requestType = com.ember.v1.TokenizeRequest.class,
      responseType = com.ember.v1.TokenizeResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.TokenizeRequest,
      com.ember.v1.TokenizeResponse> getTokenizeMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.TokenizeRequest, com.ember.v1.TokenizeResponse> getTokenizeMethod;
    if ((getTokenizeMethod = ModelServiceGrpc.getTokenizeMethod) == null) {
      synchronized (ModelServiceGrpc.class) {
        if ((getTokenizeMethod = ModelServiceGrpc.getTokenizeMethod) == null) {
          ModelServiceGrpc.getTokenizeMethod = getTokenizeMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.TokenizeRequest, com.ember.v1.TokenizeResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Tokenize"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.TokenizeRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.TokenizeResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ModelServiceMethodDescriptorSupplier("Tokenize"))
              .build();
        }
      }
    }
    return getTokenizeMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.DecodeRequest,
      com.ember.v1.DecodeResponse> getDecodeMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Decode",
      requestType = com.ember.v1.DecodeRequest.class,
      responseType = com.ember.v1.DecodeResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.DecodeRequest,
      com.ember.v1.DecodeResponse> getDecodeMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.DecodeRequest, com.ember.v1.DecodeResponse> getDecodeMethod;
    if ((getDecodeMethod = ModelServiceGrpc.getDecodeMethod) == null) {
      synchronized (ModelServiceGrpc.class) {
        if ((getDecodeMethod = ModelServiceGrpc.getDecodeMethod) == null) {
          ModelServiceGrpc.getDecodeMethod = getDecodeMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.DecodeRequest, com.ember.v1.DecodeResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Decode"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.DecodeRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.DecodeResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ModelServiceMethodDescriptorSupplier("Decode"))
              .build();
        }
      }
    }
    return getDecodeMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.ListModelsRequest,
      com.ember.v1.ListModelsResponse> getListModelsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListModels",
      requestType = com.ember.v1.ListModelsRequest.class,
      responseType = com.ember.v1.ListModelsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.ListModelsRequest,
      com.ember.v1.ListModelsResponse> getListModelsMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.ListModelsRequest, com.ember.v1.ListModelsResponse> getListModelsMethod;
    if ((getListModelsMethod = ModelServiceGrpc.getListModelsMethod) == null) {
      synchronized (ModelServiceGrpc.class) {
        if ((getListModelsMethod = ModelServiceGrpc.getListModelsMethod) == null) {
          ModelServiceGrpc.getListModelsMethod = getListModelsMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.ListModelsRequest, com.ember.v1.ListModelsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListModels"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.ListModelsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.ListModelsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new ModelServiceMethodDescriptorSupplier("ListModels"))
              .build();
        }
      }
    }
    return getListModelsMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static ModelServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ModelServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ModelServiceStub>() {
        @java.lang.Override
        public ModelServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ModelServiceStub(channel, callOptions);
        }
      };
    return ModelServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static ModelServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ModelServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ModelServiceBlockingStub>() {
        @java.lang.Override
        public ModelServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ModelServiceBlockingStub(channel, callOptions);
        }
      };
    return ModelServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static ModelServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<ModelServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<ModelServiceFutureStub>() {
        @java.lang.Override
        public ModelServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new ModelServiceFutureStub(channel, callOptions);
        }
      };
    return ModelServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * ModelService describes the loaded model and exposes its tokenizer.
   * </pre>
   */
  public static abstract class ModelServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * GetModelInfo describes the loaded model, what it serves and the server's limits.
     * </pre>
     */
    public void getModelInfo(com.ember.v1.GetModelInfoRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.GetModelInfoResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetModelInfoMethod(), responseObserver);
    }

    /**
     * <pre>
     * Tokenize returns the tokens the model would see for each input.
     * </pre>
     */
    public void tokenize(com.ember.v1.TokenizeRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.TokenizeResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getTokenizeMethod(), responseObserver);
    }

    /**
     * <pre>
     * Decode turns token ids back into text with the model's tokenizer (the inverse of Tokenize).
     * </pre>
     */
    public void decode(com.ember.v1.DecodeRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.DecodeResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDecodeMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListModels describes every model the server serves, in the order they were given.
     * </pre>
     */
    public void listModels(com.ember.v1.ListModelsRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.ListModelsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListModelsMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getGetModelInfoMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.GetModelInfoRequest,
                com.ember.v1.GetModelInfoResponse>(
                  this, METHODID_GET_MODEL_INFO)))
          .addMethod(
            getTokenizeMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.TokenizeRequest,
                com.ember.v1.TokenizeResponse>(
                  this, METHODID_TOKENIZE)))
          .addMethod(
            getDecodeMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.DecodeRequest,
                com.ember.v1.DecodeResponse>(
                  this, METHODID_DECODE)))
          .addMethod(
            getListModelsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.ListModelsRequest,
                com.ember.v1.ListModelsResponse>(
                  this, METHODID_LIST_MODELS)))
          .build();
    }
  }

  /**
   * <pre>
   * ModelService describes the loaded model and exposes its tokenizer.
   * </pre>
   */
  public static final class ModelServiceStub extends io.grpc.stub.AbstractAsyncStub<ModelServiceStub> {
    private ModelServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ModelServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ModelServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * GetModelInfo describes the loaded model, what it serves and the server's limits.
     * </pre>
     */
    public void getModelInfo(com.ember.v1.GetModelInfoRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.GetModelInfoResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetModelInfoMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Tokenize returns the tokens the model would see for each input.
     * </pre>
     */
    public void tokenize(com.ember.v1.TokenizeRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.TokenizeResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getTokenizeMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Decode turns token ids back into text with the model's tokenizer (the inverse of Tokenize).
     * </pre>
     */
    public void decode(com.ember.v1.DecodeRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.DecodeResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDecodeMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListModels describes every model the server serves, in the order they were given.
     * </pre>
     */
    public void listModels(com.ember.v1.ListModelsRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.ListModelsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListModelsMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * ModelService describes the loaded model and exposes its tokenizer.
   * </pre>
   */
  public static final class ModelServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<ModelServiceBlockingStub> {
    private ModelServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ModelServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ModelServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * GetModelInfo describes the loaded model, what it serves and the server's limits.
     * </pre>
     */
    public com.ember.v1.GetModelInfoResponse getModelInfo(com.ember.v1.GetModelInfoRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetModelInfoMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Tokenize returns the tokens the model would see for each input.
     * </pre>
     */
    public com.ember.v1.TokenizeResponse tokenize(com.ember.v1.TokenizeRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getTokenizeMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Decode turns token ids back into text with the model's tokenizer (the inverse of Tokenize).
     * </pre>
     */
    public com.ember.v1.DecodeResponse decode(com.ember.v1.DecodeRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDecodeMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListModels describes every model the server serves, in the order they were given.
     * </pre>
     */
    public com.ember.v1.ListModelsResponse listModels(com.ember.v1.ListModelsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListModelsMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * ModelService describes the loaded model and exposes its tokenizer.
   * </pre>
   */
  public static final class ModelServiceFutureStub extends io.grpc.stub.AbstractFutureStub<ModelServiceFutureStub> {
    private ModelServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected ModelServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new ModelServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * GetModelInfo describes the loaded model, what it serves and the server's limits.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.GetModelInfoResponse> getModelInfo(
        com.ember.v1.GetModelInfoRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetModelInfoMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Tokenize returns the tokens the model would see for each input.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.TokenizeResponse> tokenize(
        com.ember.v1.TokenizeRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getTokenizeMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Decode turns token ids back into text with the model's tokenizer (the inverse of Tokenize).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.DecodeResponse> decode(
        com.ember.v1.DecodeRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDecodeMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListModels describes every model the server serves, in the order they were given.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.ListModelsResponse> listModels(
        com.ember.v1.ListModelsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListModelsMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_GET_MODEL_INFO = 0;
  private static final int METHODID_TOKENIZE = 1;
  private static final int METHODID_DECODE = 2;
  private static final int METHODID_LIST_MODELS = 3;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final ModelServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(ModelServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_GET_MODEL_INFO:
          serviceImpl.getModelInfo((com.ember.v1.GetModelInfoRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.GetModelInfoResponse>) responseObserver);
          break;
        case METHODID_TOKENIZE:
          serviceImpl.tokenize((com.ember.v1.TokenizeRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.TokenizeResponse>) responseObserver);
          break;
        case METHODID_DECODE:
          serviceImpl.decode((com.ember.v1.DecodeRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.DecodeResponse>) responseObserver);
          break;
        case METHODID_LIST_MODELS:
          serviceImpl.listModels((com.ember.v1.ListModelsRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.ListModelsResponse>) responseObserver);
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
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class ModelServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    ModelServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.ember.v1.ModelProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("ModelService");
    }
  }

  private static final class ModelServiceFileDescriptorSupplier
      extends ModelServiceBaseDescriptorSupplier {
    ModelServiceFileDescriptorSupplier() {}
  }

  private static final class ModelServiceMethodDescriptorSupplier
      extends ModelServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    ModelServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (ModelServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new ModelServiceFileDescriptorSupplier())
              .addMethod(getGetModelInfoMethod())
              .addMethod(getTokenizeMethod())
              .addMethod(getDecodeMethod())
              .addMethod(getListModelsMethod())
              .build();
        }
      }
    }
    return result;
  }
}
