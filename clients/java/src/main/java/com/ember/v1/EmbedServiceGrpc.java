package com.ember.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * EmbedService turns texts into dense or sparse vectors.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: ember/v1/embed.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class EmbedServiceGrpc {

  private EmbedServiceGrpc() {}

  public static final String SERVICE_NAME = "ember.v1.EmbedService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<com.ember.v1.EmbedRequest,
      com.ember.v1.EmbedResponse> getEmbedMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Embed",
      requestType = com.ember.v1.EmbedRequest.class,
      responseType = com.ember.v1.EmbedResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.EmbedRequest,
      com.ember.v1.EmbedResponse> getEmbedMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.EmbedRequest, com.ember.v1.EmbedResponse> getEmbedMethod;
    if ((getEmbedMethod = EmbedServiceGrpc.getEmbedMethod) == null) {
      synchronized (EmbedServiceGrpc.class) {
        if ((getEmbedMethod = EmbedServiceGrpc.getEmbedMethod) == null) {
          EmbedServiceGrpc.getEmbedMethod = getEmbedMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.EmbedRequest, com.ember.v1.EmbedResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Embed"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EmbedRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EmbedResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbedServiceMethodDescriptorSupplier("Embed"))
              .build();
        }
      }
    }
    return getEmbedMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.EmbedStreamRequest,
      com.ember.v1.EmbedStreamResponse> getEmbedStreamMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EmbedStream",
      requestType = com.ember.v1.EmbedStreamRequest.class,
      responseType = com.ember.v1.EmbedStreamResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
  public static io.grpc.MethodDescriptor<com.ember.v1.EmbedStreamRequest,
      com.ember.v1.EmbedStreamResponse> getEmbedStreamMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.EmbedStreamRequest, com.ember.v1.EmbedStreamResponse> getEmbedStreamMethod;
    if ((getEmbedStreamMethod = EmbedServiceGrpc.getEmbedStreamMethod) == null) {
      synchronized (EmbedServiceGrpc.class) {
        if ((getEmbedStreamMethod = EmbedServiceGrpc.getEmbedStreamMethod) == null) {
          EmbedServiceGrpc.getEmbedStreamMethod = getEmbedStreamMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.EmbedStreamRequest, com.ember.v1.EmbedStreamResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.BIDI_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EmbedStream"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EmbedStreamRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EmbedStreamResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbedServiceMethodDescriptorSupplier("EmbedStream"))
              .build();
        }
      }
    }
    return getEmbedStreamMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.EmbedSparseRequest,
      com.ember.v1.EmbedSparseResponse> getEmbedSparseMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EmbedSparse",
      requestType = com.ember.v1.EmbedSparseRequest.class,
      responseType = com.ember.v1.EmbedSparseResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.EmbedSparseRequest,
      com.ember.v1.EmbedSparseResponse> getEmbedSparseMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.EmbedSparseRequest, com.ember.v1.EmbedSparseResponse> getEmbedSparseMethod;
    if ((getEmbedSparseMethod = EmbedServiceGrpc.getEmbedSparseMethod) == null) {
      synchronized (EmbedServiceGrpc.class) {
        if ((getEmbedSparseMethod = EmbedServiceGrpc.getEmbedSparseMethod) == null) {
          EmbedServiceGrpc.getEmbedSparseMethod = getEmbedSparseMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.EmbedSparseRequest, com.ember.v1.EmbedSparseResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EmbedSparse"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EmbedSparseRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EmbedSparseResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbedServiceMethodDescriptorSupplier("EmbedSparse"))
              .build();
        }
      }
    }
    return getEmbedSparseMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.SimilarityRequest,
      com.ember.v1.SimilarityResponse> getSimilarityMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Similarity",
      requestType = com.ember.v1.SimilarityRequest.class,
      responseType = com.ember.v1.SimilarityResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.SimilarityRequest,
      com.ember.v1.SimilarityResponse> getSimilarityMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.SimilarityRequest, com.ember.v1.SimilarityResponse> getSimilarityMethod;
    if ((getSimilarityMethod = EmbedServiceGrpc.getSimilarityMethod) == null) {
      synchronized (EmbedServiceGrpc.class) {
        if ((getSimilarityMethod = EmbedServiceGrpc.getSimilarityMethod) == null) {
          EmbedServiceGrpc.getSimilarityMethod = getSimilarityMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.SimilarityRequest, com.ember.v1.SimilarityResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Similarity"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.SimilarityRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.SimilarityResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbedServiceMethodDescriptorSupplier("Similarity"))
              .build();
        }
      }
    }
    return getSimilarityMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.EmbedTokensRequest,
      com.ember.v1.EmbedTokensResponse> getEmbedTokensMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EmbedTokens",
      requestType = com.ember.v1.EmbedTokensRequest.class,
      responseType = com.ember.v1.EmbedTokensResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.EmbedTokensRequest,
      com.ember.v1.EmbedTokensResponse> getEmbedTokensMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.EmbedTokensRequest, com.ember.v1.EmbedTokensResponse> getEmbedTokensMethod;
    if ((getEmbedTokensMethod = EmbedServiceGrpc.getEmbedTokensMethod) == null) {
      synchronized (EmbedServiceGrpc.class) {
        if ((getEmbedTokensMethod = EmbedServiceGrpc.getEmbedTokensMethod) == null) {
          EmbedServiceGrpc.getEmbedTokensMethod = getEmbedTokensMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.EmbedTokensRequest, com.ember.v1.EmbedTokensResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EmbedTokens"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EmbedTokensRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EmbedTokensResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbedServiceMethodDescriptorSupplier("EmbedTokens"))
              .build();
        }
      }
    }
    return getEmbedTokensMethod;
  }

  private static volatile io.grpc.MethodDescriptor<com.ember.v1.EncodeRequest,
      com.ember.v1.EncodeResponse> getEncodeMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Encode",
      requestType = com.ember.v1.EncodeRequest.class,
      responseType = com.ember.v1.EncodeResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<com.ember.v1.EncodeRequest,
      com.ember.v1.EncodeResponse> getEncodeMethod() {
    io.grpc.MethodDescriptor<com.ember.v1.EncodeRequest, com.ember.v1.EncodeResponse> getEncodeMethod;
    if ((getEncodeMethod = EmbedServiceGrpc.getEncodeMethod) == null) {
      synchronized (EmbedServiceGrpc.class) {
        if ((getEncodeMethod = EmbedServiceGrpc.getEncodeMethod) == null) {
          EmbedServiceGrpc.getEncodeMethod = getEncodeMethod =
              io.grpc.MethodDescriptor.<com.ember.v1.EncodeRequest, com.ember.v1.EncodeResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Encode"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EncodeRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  com.ember.v1.EncodeResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbedServiceMethodDescriptorSupplier("Encode"))
              .build();
        }
      }
    }
    return getEncodeMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static EmbedServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<EmbedServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<EmbedServiceStub>() {
        @java.lang.Override
        public EmbedServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new EmbedServiceStub(channel, callOptions);
        }
      };
    return EmbedServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static EmbedServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<EmbedServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<EmbedServiceBlockingStub>() {
        @java.lang.Override
        public EmbedServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new EmbedServiceBlockingStub(channel, callOptions);
        }
      };
    return EmbedServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static EmbedServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<EmbedServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<EmbedServiceFutureStub>() {
        @java.lang.Override
        public EmbedServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new EmbedServiceFutureStub(channel, callOptions);
        }
      };
    return EmbedServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * EmbedService turns texts into dense or sparse vectors.
   * </pre>
   */
  public static abstract class EmbedServiceImplBase implements io.grpc.BindableService {

    /**
     * <pre>
     * Embed returns one dense vector per input, in input order.
     * </pre>
     */
    public void embed(com.ember.v1.EmbedRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.EmbedResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEmbedMethod(), responseObserver);
    }

    /**
     * <pre>
     * EmbedStream embeds a stream of batches; each answer carries the batch_id of its request and
     * answers come back in the order the batches were sent.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<com.ember.v1.EmbedStreamRequest> embedStream(
        io.grpc.stub.StreamObserver<com.ember.v1.EmbedStreamResponse> responseObserver) {
      return io.grpc.stub.ServerCalls.asyncUnimplementedStreamingCall(getEmbedStreamMethod(), responseObserver);
    }

    /**
     * <pre>
     * EmbedSparse returns one sparse vector (SPLADE-style, vocabulary-sized) per input.
     * </pre>
     */
    public void embedSparse(com.ember.v1.EmbedSparseRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.EmbedSparseResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEmbedSparseMethod(), responseObserver);
    }

    /**
     * <pre>
     * Similarity scores sentences against a source sentence: the cosine of their embeddings.
     * </pre>
     */
    public void similarity(com.ember.v1.SimilarityRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.SimilarityResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSimilarityMethod(), responseObserver);
    }

    /**
     * <pre>
     * EmbedTokens returns the last hidden state of every token of each input (special tokens
     * included), with the tokens' ids and character offsets: TEI's /embed_all.
     * </pre>
     */
    public void embedTokens(com.ember.v1.EmbedTokensRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.EmbedTokensResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEmbedTokensMethod(), responseObserver);
    }

    /**
     * <pre>
     * Encode returns the outputs asked for (dense, sparse, multi-vector) of each input, all from
     * one forward pass (BGE-M3's three outputs; ColBERT's multi-vectors).
     * </pre>
     */
    public void encode(com.ember.v1.EncodeRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.EncodeResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEncodeMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getEmbedMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.EmbedRequest,
                com.ember.v1.EmbedResponse>(
                  this, METHODID_EMBED)))
          .addMethod(
            getEmbedStreamMethod(),
            io.grpc.stub.ServerCalls.asyncBidiStreamingCall(
              new MethodHandlers<
                com.ember.v1.EmbedStreamRequest,
                com.ember.v1.EmbedStreamResponse>(
                  this, METHODID_EMBED_STREAM)))
          .addMethod(
            getEmbedSparseMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.EmbedSparseRequest,
                com.ember.v1.EmbedSparseResponse>(
                  this, METHODID_EMBED_SPARSE)))
          .addMethod(
            getSimilarityMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.SimilarityRequest,
                com.ember.v1.SimilarityResponse>(
                  this, METHODID_SIMILARITY)))
          .addMethod(
            getEmbedTokensMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.EmbedTokensRequest,
                com.ember.v1.EmbedTokensResponse>(
                  this, METHODID_EMBED_TOKENS)))
          .addMethod(
            getEncodeMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                com.ember.v1.EncodeRequest,
                com.ember.v1.EncodeResponse>(
                  this, METHODID_ENCODE)))
          .build();
    }
  }

  /**
   * <pre>
   * EmbedService turns texts into dense or sparse vectors.
   * </pre>
   */
  public static final class EmbedServiceStub extends io.grpc.stub.AbstractAsyncStub<EmbedServiceStub> {
    private EmbedServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected EmbedServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new EmbedServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Embed returns one dense vector per input, in input order.
     * </pre>
     */
    public void embed(com.ember.v1.EmbedRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.EmbedResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEmbedMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * EmbedStream embeds a stream of batches; each answer carries the batch_id of its request and
     * answers come back in the order the batches were sent.
     * </pre>
     */
    public io.grpc.stub.StreamObserver<com.ember.v1.EmbedStreamRequest> embedStream(
        io.grpc.stub.StreamObserver<com.ember.v1.EmbedStreamResponse> responseObserver) {
      return io.grpc.stub.ClientCalls.asyncBidiStreamingCall(
          getChannel().newCall(getEmbedStreamMethod(), getCallOptions()), responseObserver);
    }

    /**
     * <pre>
     * EmbedSparse returns one sparse vector (SPLADE-style, vocabulary-sized) per input.
     * </pre>
     */
    public void embedSparse(com.ember.v1.EmbedSparseRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.EmbedSparseResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEmbedSparseMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Similarity scores sentences against a source sentence: the cosine of their embeddings.
     * </pre>
     */
    public void similarity(com.ember.v1.SimilarityRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.SimilarityResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSimilarityMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * EmbedTokens returns the last hidden state of every token of each input (special tokens
     * included), with the tokens' ids and character offsets: TEI's /embed_all.
     * </pre>
     */
    public void embedTokens(com.ember.v1.EmbedTokensRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.EmbedTokensResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEmbedTokensMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Encode returns the outputs asked for (dense, sparse, multi-vector) of each input, all from
     * one forward pass (BGE-M3's three outputs; ColBERT's multi-vectors).
     * </pre>
     */
    public void encode(com.ember.v1.EncodeRequest request,
        io.grpc.stub.StreamObserver<com.ember.v1.EncodeResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEncodeMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * EmbedService turns texts into dense or sparse vectors.
   * </pre>
   */
  public static final class EmbedServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<EmbedServiceBlockingStub> {
    private EmbedServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected EmbedServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new EmbedServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Embed returns one dense vector per input, in input order.
     * </pre>
     */
    public com.ember.v1.EmbedResponse embed(com.ember.v1.EmbedRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEmbedMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * EmbedSparse returns one sparse vector (SPLADE-style, vocabulary-sized) per input.
     * </pre>
     */
    public com.ember.v1.EmbedSparseResponse embedSparse(com.ember.v1.EmbedSparseRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEmbedSparseMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Similarity scores sentences against a source sentence: the cosine of their embeddings.
     * </pre>
     */
    public com.ember.v1.SimilarityResponse similarity(com.ember.v1.SimilarityRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSimilarityMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * EmbedTokens returns the last hidden state of every token of each input (special tokens
     * included), with the tokens' ids and character offsets: TEI's /embed_all.
     * </pre>
     */
    public com.ember.v1.EmbedTokensResponse embedTokens(com.ember.v1.EmbedTokensRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEmbedTokensMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Encode returns the outputs asked for (dense, sparse, multi-vector) of each input, all from
     * one forward pass (BGE-M3's three outputs; ColBERT's multi-vectors).
     * </pre>
     */
    public com.ember.v1.EncodeResponse encode(com.ember.v1.EncodeRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEncodeMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * EmbedService turns texts into dense or sparse vectors.
   * </pre>
   */
  public static final class EmbedServiceFutureStub extends io.grpc.stub.AbstractFutureStub<EmbedServiceFutureStub> {
    private EmbedServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected EmbedServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new EmbedServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Embed returns one dense vector per input, in input order.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.EmbedResponse> embed(
        com.ember.v1.EmbedRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEmbedMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * EmbedSparse returns one sparse vector (SPLADE-style, vocabulary-sized) per input.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.EmbedSparseResponse> embedSparse(
        com.ember.v1.EmbedSparseRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEmbedSparseMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Similarity scores sentences against a source sentence: the cosine of their embeddings.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.SimilarityResponse> similarity(
        com.ember.v1.SimilarityRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSimilarityMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * EmbedTokens returns the last hidden state of every token of each input (special tokens
     * included), with the tokens' ids and character offsets: TEI's /embed_all.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.EmbedTokensResponse> embedTokens(
        com.ember.v1.EmbedTokensRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEmbedTokensMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Encode returns the outputs asked for (dense, sparse, multi-vector) of each input, all from
     * one forward pass (BGE-M3's three outputs; ColBERT's multi-vectors).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<com.ember.v1.EncodeResponse> encode(
        com.ember.v1.EncodeRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEncodeMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_EMBED = 0;
  private static final int METHODID_EMBED_SPARSE = 1;
  private static final int METHODID_SIMILARITY = 2;
  private static final int METHODID_EMBED_TOKENS = 3;
  private static final int METHODID_ENCODE = 4;
  private static final int METHODID_EMBED_STREAM = 5;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final EmbedServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(EmbedServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_EMBED:
          serviceImpl.embed((com.ember.v1.EmbedRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.EmbedResponse>) responseObserver);
          break;
        case METHODID_EMBED_SPARSE:
          serviceImpl.embedSparse((com.ember.v1.EmbedSparseRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.EmbedSparseResponse>) responseObserver);
          break;
        case METHODID_SIMILARITY:
          serviceImpl.similarity((com.ember.v1.SimilarityRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.SimilarityResponse>) responseObserver);
          break;
        case METHODID_EMBED_TOKENS:
          serviceImpl.embedTokens((com.ember.v1.EmbedTokensRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.EmbedTokensResponse>) responseObserver);
          break;
        case METHODID_ENCODE:
          serviceImpl.encode((com.ember.v1.EncodeRequest) request,
              (io.grpc.stub.StreamObserver<com.ember.v1.EncodeResponse>) responseObserver);
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
        case METHODID_EMBED_STREAM:
          return (io.grpc.stub.StreamObserver<Req>) serviceImpl.embedStream(
              (io.grpc.stub.StreamObserver<com.ember.v1.EmbedStreamResponse>) responseObserver);
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class EmbedServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    EmbedServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return com.ember.v1.EmbedProto.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("EmbedService");
    }
  }

  private static final class EmbedServiceFileDescriptorSupplier
      extends EmbedServiceBaseDescriptorSupplier {
    EmbedServiceFileDescriptorSupplier() {}
  }

  private static final class EmbedServiceMethodDescriptorSupplier
      extends EmbedServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    EmbedServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (EmbedServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new EmbedServiceFileDescriptorSupplier())
              .addMethod(getEmbedMethod())
              .addMethod(getEmbedStreamMethod())
              .addMethod(getEmbedSparseMethod())
              .addMethod(getSimilarityMethod())
              .addMethod(getEmbedTokensMethod())
              .addMethod(getEncodeMethod())
              .build();
        }
      }
    }
    return result;
  }
}
