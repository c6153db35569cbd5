package com.ember.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * AdminService loads and unloads models while the server runs. It answers only on a server
 * started with --enable-admin (else PERMISSION_DENIED) and, like every service, requires the
 * API key when the server has one.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: ember/v1/admin.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class AdminServiceGrpc {

  private AdminServiceGrpc() {}

  public static final String SERVICE_NAME = "ember.v1.AdminService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.ember.v1.LoadModelRequest,
      com.ember.v1.LoadModelResponse> getLoadModelMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "LoadModel",
      requestType = com.ember.v1.LoadModelRequest.class,
      responseType = com.ember.v1.LoadModelResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.LoadModelRequest,
      com.ember.v1.LoadModelResponse> getLoadModelMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.LoadModelRequest, com.ember.v1.LoadModelResponse> getLoadModelMethod;
    if ((getLoadModelMethod = AdminServiceGrpc.getLoadModelMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getLoadModelMethod = AdminServiceGrpc.getLoadModelMethod) == null) {
          AdminServiceGrpc.getLoadModelMethod = getLoadModelMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.LoadModelRequest, com.ember.v1.LoadModelResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "LoadModel"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.LoadModelRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.LoadModelResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("LoadModel"))
              .build();
        }
      }
    }
    return getLoadModelMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.UnloadModelRequest,
      com.ember.v1.UnloadModelResponse> getUnloadModelMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "UnloadModel",
      requestType = com.ember.v1.UnloadModelRequest.class,
      responseType = com.ember.v1.UnloadModelResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.UnloadModelRequest,
      com.ember.v1.UnloadModelResponse> getUnloadModelMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.UnloadModelRequest, com.ember.v1.UnloadModelResponse> getUnloadModelMethod;
    if ((getUnloadModelMethod = AdminServiceGrpc.getUnloadModelMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getUnloadModelMethod = AdminServiceGrpc.getUnloadModelMethod) == null) {
          AdminServiceGrpc.getUnloadModelMethod = getUnloadModelMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.UnloadModelRequest, com.ember.v1.UnloadModelResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "UnloadModel"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.UnloadModelRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.UnloadModelResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("UnloadModel"))
              .build();
        }
      }
    }
    return getUnloadModelMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static AdminServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceStub>() {
        @java.lang.Override
        public AdminServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceStub(channel, callOptions);
        }
      };
    return AdminServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static AdminServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingStub>() {
        @java.lang.Override
        public AdminServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceBlockingStub(channel, callOptions);
        }
      };
    return AdminServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static AdminServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceFutureStub>() {
        @java.lang.Override
        public AdminServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceFutureStub(channel, callOptions);
        }
      };
    return AdminServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * AdminService loads and unloads models while the server runs. It answers only on a server
   * started with --enable-admin (else PERMISSION_DENIED) and, like every service, requires the
   * API key when the server has one.
   * </pre>
   */
  public static abstract class AdminServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * LoadModel loads, warms up and (for a reduced CPU precision) self-checks a model as start-up
     * does, then serves it. A model id or alias already served is ALREADY_EXISTS; a path that is
     * neither a model folder nor a cached hub id is FAILED_PRECONDITION.
     * </pre>
     */
    public void loadModel(com.ember.v1.LoadModelRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.LoadModelResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getLoadModelMethod(), responseObserver);
    }

    /**
     * <pre>
     * UnloadModel stops routing requests to a model, answers the requests it already accepted,
     * then frees it. An unknown model is NOT_FOUND; the last model cannot be unloaded
     * (FAILED_PRECONDITION).
     * </pre>
     */
    public void unloadModel(com.ember.v1.UnloadModelRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.UnloadModelResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getUnloadModelMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getLoadModelMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.LoadModelRequest,
                com.ember.v1.LoadModelResponse>(
                  this, METHODID_LOAD_MODEL)))
          .addMethod(
            getUnloadModelMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.UnloadModelRequest,
                com.ember.v1.UnloadModelResponse>(
                  this, METHODID_UNLOAD_MODEL)))
          .build();
    }
  }

  /**
   * <pre>
   * AdminService loads and unloads models while the server runs. It answers only on a server
   * started with --enable-admin (else PERMISSION_DENIED) and, like every service, requires the
   * API key when the server has one.
   * </pre>
   */
  public static final class AdminServiceStub extends io.grpc.stub.AbstractAsyncStub<AdminServiceStub> {
    private AdminServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * LoadModel loads, warms up and (for a reduced CPU precision) self-checks a model as start-up
     * does, then serves it. A model id or alias already served is ALREADY_EXISTS; a path that is
     * neither a model folder nor a cached hub id is FAILED_PRECONDITION.
     * </pre>
     */
    public void loadModel(com.ember.v1.LoadModelRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.LoadModelResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getLoadModelMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * UnloadModel stops routing requests to a model, answers the requests it already accepted,
     * then frees it. An unknown model is NOT_FOUND; the last model cannot be unloaded
     * (FAILED_PRECONDITION).
     * </pre>
     */
    public void unloadModel(com.ember.v1.UnloadModelRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.UnloadModelResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getUnloadModelMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * AdminService loads and unloads models while the server runs. It answers only on a server
   * started with --enable-admin (else PERMISSION_DENIED) and, like every service, requires the
   * API key when the server has one.
   * </pre>
   */
  public static final class AdminServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<AdminServiceBlockingStub> {
    private AdminServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * LoadModel loads, warms up and (for a reduced CPU precision) self-checks a model as start-up
     * does, then serves it. A model id or alias already served is ALREADY_EXISTS; a path that is
     * neither a model folder nor a cached hub id is FAILED_PRECONDITION.
     * </pre>
     */
    public com.ember.v1.LoadModelResponse loadModel(com.ember.v1.LoadModelRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getLoadModelMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * UnloadModel stops routing requests to a model, answers the requests it already accepted,
     * then frees it. An unknown model is NOT_FOUND; the last model cannot be unloaded
     * (FAILED_PRECONDITION).
     * </pre>
     */
    public com.ember.v1.UnloadModelResponse unloadModel(com.ember.v1.UnloadModelRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getUnloadModelMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * AdminService loads and unloads models while the server runs. It answers only on a server
   * started with --enable-admin (else PERMISSION_DENIED) and, like every service, requires the
   * API key when the server has one.
   * </pre>
   */
  public static final class AdminServiceFutureStub extends io.grpc.stub.AbstractFutureStub<AdminServiceFutureStub> {
    private AdminServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * LoadModel loads, warms up and (for a reduced CPU precision) self-checks a model as start-up
     * does, then serves it. A model id or alias already served is ALREADY_EXISTS; a path that is
     * neither a model folder nor a cached hub id is FAILED_PRECONDITION.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.LoadModelResponse> loadModel(
        com.ember.v1.LoadModelRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getLoadModelMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * UnloadModel stops routing requests to a model, answers the requests it already accepted,
     * then frees it. An unknown model is NOT_FOUND; the last model cannot be unloaded
     * (FAILED_PRECONDITION).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.UnloadModelResponse> unloadModel(
        com.ember.v1.UnloadModelRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getUnloadModelMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_LOAD_MODEL = 0;
  private static final int METHODID_UNLOAD_MODEL = 1;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AdminServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(AdminServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_LOAD_MODEL:
          serviceImpl.loadModel((com.ember.v1.LoadModelRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.LoadModelResponse>) responseObserver);
          break;
        case METHODID_UNLOAD_MODEL:
          serviceImpl.unloadModel((com.ember.v1.UnloadModelRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.UnloadModelResponse>) responseObserver);
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

  private static abstract class AdminServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    AdminServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.ember.v1.AdminProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("AdminService");
    }
  }

  private static final class AdminServiceFileDescriptorSupplier
      extends AdminServiceBaseDescriptorSupplier {
    AdminServiceFileDescriptorSupplier() {}
  }

  private static final class AdminServiceMethodDescriptorSupplier
      extends AdminServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    AdminServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (AdminServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new AdminServiceFileDescriptorSupplier())
              .addMethod(getLoadModelMethod())
              .addMethod(getUnloadModelMethod())
              .build();
        }
      }
    }
    return result;
  }
}
