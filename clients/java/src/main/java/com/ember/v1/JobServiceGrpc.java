package com.ember.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * JobService runs work in the background: a job is submitted, runs when the model has room,
 * survives a server restart (it resumes where it stopped, every input done exactly once) and
 * leaves its results as Parquet parts in the server's data folder.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: ember/v1/jobs.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class JobServiceGrpc {

  private JobServiceGrpc() {}

  public static final String SERVICE_NAME = "ember.v1.JobService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.ember.v1.SubmitJobRequest,
      com.ember.v1.SubmitJobResponse> getSubmitJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SubmitJob",
      requestType = com.ember.v1.SubmitJobRequest.class,
      responseType = com.ember.v1.SubmitJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.SubmitJobRequest,
      com.ember.v1.SubmitJobResponse> getSubmitJobMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.SubmitJobRequest, com.ember.v1.SubmitJobResponse> getSubmitJobMethod;
    if ((getSubmitJobMethod = JobServiceGrpc.getSubmitJobMethod) == null) {
      synchronized (JobServiceGrpc.class) {
        if ((getSubmitJobMethod = JobServiceGrpc.getSubmitJobMethod) == null) {
          JobServiceGrpc.getSubmitJobMethod = getSubmitJobMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.SubmitJobRequest, com.ember.v1.SubmitJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SubmitJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.SubmitJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.SubmitJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new JobServiceMethodDescriptorSupplier("SubmitJob"))
              .build();
        }
      }
    }
    return getSubmitJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.GetJobRequest,
      com.ember.v1.GetJobResponse> getGetJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetJob",
      requestType = com.ember.v1.GetJobRequest.class,
      responseType = com.ember.v1.GetJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.GetJobRequest,
      com.ember.v1.GetJobResponse> getGetJobMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.GetJobRequest, com.ember.v1.GetJobResponse> getGetJobMethod;
    if ((getGetJobMethod = JobServiceGrpc.getGetJobMethod) == null) {
      synchronized (JobServiceGrpc.class) {
        if ((getGetJobMethod = JobServiceGrpc.getGetJobMethod) == null) {
          JobServiceGrpc.getGetJobMethod = getGetJobMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.GetJobRequest, com.ember.v1.GetJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.GetJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.GetJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new JobServiceMethodDescriptorSupplier("GetJob"))
              .build();
        }
      }
    }
    return getGetJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.WatchJobRequest,
      com.ember.v1.WatchJobResponse> getWatchJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "WatchJob",
      requestType = com.ember.v1.WatchJobRequest.class,
      responseType = com.ember.v1.WatchJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<com.ember.v1.WatchJobRequest,
      com.ember.v1.WatchJobResponse> getWatchJobMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.WatchJobRequest, com.ember.v1.WatchJobResponse> getWatchJobMethod;
    if ((getWatchJobMethod = JobServiceGrpc.getWatchJobMethod) == null) {
      synchronized (JobServiceGrpc.class) {
        if ((getWatchJobMethod = JobServiceGrpc.getWatchJobMethod) == null) {
          JobServiceGrpc.getWatchJobMethod = getWatchJobMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.WatchJobRequest, com.ember.v1.WatchJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "WatchJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.WatchJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.WatchJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new JobServiceMethodDescriptorSupplier("WatchJob"))
              .build();
        }
      }
    }
    return getWatchJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.CancelJobRequest,
      com.ember.v1.CancelJobResponse> getCancelJobMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CancelJob",
      requestType = com.ember.v1.CancelJobRequest.class,
      responseType = com.ember.v1.CancelJobResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.CancelJobRequest,
      com.ember.v1.CancelJobResponse> getCancelJobMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.CancelJobRequest, com.ember.v1.CancelJobResponse> getCancelJobMethod;
    if ((getCancelJobMethod = JobServiceGrpc.getCancelJobMethod) == null) {
      synchronized (JobServiceGrpc.class) {
        if ((getCancelJobMethod = JobServiceGrpc.getCancelJobMethod) == null) {
          JobServiceGrpc.getCancelJobMethod = getCancelJobMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.CancelJobRequest, com.ember.v1.CancelJobResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CancelJob"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.CancelJobRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.CancelJobResponse.getDefaultInstance()))
              .setSchemaDescriptor(new JobServiceMethodDescriptorSupplier("CancelJob"))
              .build();
        }
      }
    }
    return getCancelJobMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.ListJobsRequest,
      com.ember.v1.ListJobsResponse> getListJobsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListJobs",
      requestType = com.ember.v1.ListJobsRequest.class,
      responseType = com.ember.v1.ListJobsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.ListJobsRequest,
      com.ember.v1.ListJobsResponse> getListJobsMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.ListJobsRequest, com.ember.v1.ListJobsResponse> getListJobsMethod;
    if ((getListJobsMethod = JobServiceGrpc.getListJobsMethod) == null) {
      synchronized (JobServiceGrpc.class) {
        if ((getListJobsMethod = JobServiceGrpc.getListJobsMethod) == null) {
          JobServiceGrpc.getListJobsMethod = getListJobsMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.ListJobsRequest, com.ember.v1.ListJobsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListJobs"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.ListJobsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.ListJobsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new JobServiceMethodDescriptorSupplier("ListJobs"))
              .build();
        }
      }
    }
    return getListJobsMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static JobServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<JobServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<JobServiceStub>() {
        @java.lang.Override
        public JobServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new JobServiceStub(channel, callOptions);
        }
      };
    return JobServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static JobServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<JobServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<JobServiceBlockingStub>() {
        @java.lang.Override
        public JobServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new JobServiceBlockingStub(channel, callOptions);
        }
      };
    return JobServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static JobServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<JobServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<JobServiceFutureStub>() {
        @java.lang.Override
        public JobServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new JobServiceFutureStub(channel, callOptions);
        }
      };
    return JobServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * JobService runs work in the background: a job is submitted, runs when the model has room,
   * survives a server restart (it resumes where it stopped, every input done exactly once) and
   * leaves its results as Parquet parts in the server's data folder.
   * </pre>
   */
  public static abstract class JobServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * SubmitJob stores a job durably and queues it; it answers at once with the job's id.
     * </pre>
     */
    public void submitJob(com.ember.v1.SubmitJobRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.SubmitJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSubmitJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * GetJob describes one job: its state, progress and where its results are.
     * </pre>
     */
    public void getJob(com.ember.v1.GetJobRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.GetJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * WatchJob sends the job's description now and again whenever its state or progress
     * changes; the stream ends when the job has ended.
     * </pre>
     */
    public void watchJob(com.ember.v1.WatchJobRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.WatchJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getWatchJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * CancelJob stops a queued or running job; the parts already written stay.
     * </pre>
     */
    public void cancelJob(com.ember.v1.CancelJobRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.CancelJobResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCancelJobMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListJobs describes the server's jobs, newest first.
     * </pre>
     */
    public void listJobs(com.ember.v1.ListJobsRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.ListJobsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListJobsMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getSubmitJobMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.SubmitJobRequest,
                com.ember.v1.SubmitJobResponse>(
                  this, METHODID_SUBMIT_JOB)))
          .addMethod(
            getGetJobMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.GetJobRequest,
                com.ember.v1.GetJobResponse>(
                  this, METHODID_GET_JOB)))
          .addMethod(
            getWatchJobMethod(),
            io.grpc.stub.ServerCalls.asyncServerStreamingCall(
              new MethodHandlers<
                com.ember.v1.WatchJobRequest,
                com.ember.v1.WatchJobResponse>(
                  this, METHODID_WATCH_JOB)))
          .addMethod(
            getCancelJobMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.CancelJobRequest,
                com.ember.v1.CancelJobResponse>(
                  this, METHODID_CANCEL_JOB)))
          .addMethod(
            getListJobsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.ListJobsRequest,
                com.ember.v1.ListJobsResponse>(
                  this, METHODID_LIST_JOBS)))
          .build();
    }
  }

  /**
   * <pre>
   * JobService runs work in the background: a job is submitted, runs when the model has room,
   * survives a server restart (it resumes where it stopped, every input done exactly once) and
   * leaves its results as Parquet parts in the server's data folder.
   * </pre>
   */
  public static final class JobServiceStub extends io.grpc.stub.AbstractAsyncStub<JobServiceStub> {
    private JobServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected JobServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new JobServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * SubmitJob stores a job durably and queues it; it answers at once with the job's id.
     * </pre>
     */
    public void submitJob(com.ember.v1.SubmitJobRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.SubmitJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSubmitJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * GetJob describes one job: its state, progress and where its results are.
     * </pre>
     */
    public void getJob(com.ember.v1.GetJobRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.GetJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * WatchJob sends the job's description now and again whenever its state or progress
     * changes; the stream ends when the job has ended.
     * </pre>
     */
    public void watchJob(com.ember.v1.WatchJobRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.WatchJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getWatchJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * CancelJob stops a queued or running job; the parts already written stay.
     * </pre>
     */
    public void cancelJob(com.ember.v1.CancelJobRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.CancelJobResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCancelJobMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListJobs describes the server's jobs, newest first.
     * </pre>
     */
    public void listJobs(com.ember.v1.ListJobsRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.ListJobsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListJobsMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * JobService runs work in the background: a job is submitted, runs when the model has room,
   * survives a server restart (it resumes where it stopped, every input done exactly once) and
   * leaves its results as Parquet parts in the server's data folder.
   * </pre>
   */
  public static final class JobServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<JobServiceBlockingStub> {
    private JobServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected JobServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new JobServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * SubmitJob stores a job durably and queues it; it answers at once with the job's id.
     * </pre>
     */
    public com.ember.v1.SubmitJobResponse submitJob(com.ember.v1.SubmitJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSubmitJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * GetJob describes one job: its state, progress and where its results are.
     * </pre>
     */
    public com.ember.v1.GetJobResponse getJob(com.ember.v1.GetJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * WatchJob sends the job's description now and again whenever its state or progress
     * changes; the stream ends when the job has ended.
     * </pre>
     */
    public java.util.Iterator<com.ember.v1.WatchJobResponse> watchJob(
        com.ember.v1.WatchJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getWatchJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * CancelJob stops a queued or running job; the parts already written stay.
     * </pre>
     */
    public com.ember.v1.CancelJobResponse cancelJob(com.ember.v1.CancelJobRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCancelJobMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListJobs describes the server's jobs, newest first.
     * </pre>
     */
    public com.ember.v1.ListJobsResponse listJobs(com.ember.v1.ListJobsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListJobsMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * JobService runs work in the background: a job is submitted, runs when the model has room,
   * survives a server restart (it resumes where it stopped, every input done exactly once) and
   * leaves its results as Parquet parts in the server's data folder.
   * </pre>
   */
  public static final class JobServiceFutureStub extends io.grpc.stub.AbstractFutureStub<JobServiceFutureStub> {
    private JobServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected JobServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new JobServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * SubmitJob stores a job durably and queues it; it answers at once with the job's id.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.SubmitJobResponse> submitJob(
        com.ember.v1.SubmitJobRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSubmitJobMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * GetJob describes one job: its state, progress and where its results are.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.GetJobResponse> getJob(
        com.ember.v1.GetJobRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetJobMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * CancelJob stops a queued or running job; the parts already written stay.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.CancelJobResponse> cancelJob(
        com.ember.v1.CancelJobRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCancelJobMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListJobs describes the server's jobs, newest first.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.ListJobsResponse> listJobs(
        com.ember.v1.ListJobsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListJobsMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_SUBMIT_JOB = 0;
  private static final int METHODID_GET_JOB = 1;
  private static final int METHODID_WATCH_JOB = 2;
  private static final int METHODID_CANCEL_JOB = 3;
  private static final int METHODID_LIST_JOBS = 4;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final JobServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(JobServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_SUBMIT_JOB:
          serviceImpl.submitJob((com.ember.v1.SubmitJobRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.SubmitJobResponse>) responseObserver);
          break;
        case METHODID_GET_JOB:
          serviceImpl.getJob((com.ember.v1.GetJobRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.GetJobResponse>) responseObserver);
          break;
        case METHODID_WATCH_JOB:
          serviceImpl.watchJob((com.ember.v1.WatchJobRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.WatchJobResponse>) responseObserver);
          break;
        case METHODID_CANCEL_JOB:
          serviceImpl.cancelJob((com.ember.v1.CancelJobRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.CancelJobResponse>) responseObserver);
          break;
        case METHODID_LIST_JOBS:
          serviceImpl.listJobs((com.ember.v1.ListJobsRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.ListJobsResponse>) responseObserver);
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

  private static abstract class JobServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    JobServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.ember.v1.JobsProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("JobService");
    }
  }

  private static final class JobServiceFileDescriptorSupplier
      extends JobServiceBaseDescriptorSupplier {
    JobServiceFileDescriptorSupplier() {}
  }

  private static final class JobServiceMethodDescriptorSupplier
      extends JobServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    JobServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (JobServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new JobServiceFileDescriptorSupplier())
              .addMethod(getSubmitJobMethod())
              .addMethod(getGetJobMethod())
              .addMethod(getWatchJobMethod())
              .addMethod(getCancelJobMethod())
              .addMethod(getListJobsMethod())
              .build();
        }
      }
    }
    return result;
  }
}
