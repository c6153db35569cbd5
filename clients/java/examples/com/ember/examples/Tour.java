package com.ember.examples;

import com.ember.client.EmberClient;
import com.ember.client.ErrorInfo;
import com.ember.v1.Classification;
import com.ember.v1.ClassifyInput;
import com.ember.v1.ClassifyRequest;
import com.ember.v1.ClassifyResponse;
import com.ember.v1.EmbedInput;
import com.ember.v1.EmbedRequest;
import com.ember.v1.EmbedResponse;
import com.ember.v1.EmbedStreamRequest;
import com.ember.v1.EmbedStreamResponse;
import com.ember.v1.Embedding;
import com.ember.v1.LabelScore;
import com.ember.v1.RankedText;
import com.ember.v1.RerankRequest;
import com.ember.v1.RerankResponse;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Calls every kind of Ember RPC once and prints what came back as JSON: Embed, EmbedStream,
 * Rerank, Classify, health, and a bad request's error with its structured detail. The client
 * tests run it against real servers; the README shows its first part.
 *
 * <pre>java com.ember.examples.Tour -embed localhost:50051 -rerank localhost:50052 -classify ...</pre>
 */
public final class Tour {
  private Tour() {}

  static EmbedRequest texts(String... values) {
    EmbedRequest.Builder request = EmbedRequest.newBuilder();
    for (String text : values) {
      request.addInputs(EmbedInput.newBuilder().setText(text));
    }
    return request.build();
  }

  public static void main(String[] args) throws Exception {
    String embedTarget = flag(args, "-embed");
    String rerankTarget = flag(args, "-rerank");
    String classifyTarget = flag(args, "-classify");
    String apiKey = System.getenv("EMBER_API_KEY");

    // [START readme]
    try (EmberClient client = new EmberClient(embedTarget, apiKey, false);
        EmberClient reranker = new EmberClient(rerankTarget, apiKey, false)) {
      // Embed: one vector per input, in input order.
      EmbedResponse embedded =
          client.embed.embed(
              texts("What is Ember?", "Ember serves encoder models over gRPC.", "Zoë lives in 東京 🤔"));
      System.err.println("dimensions: " + embedded.getEmbeddings(0).getValuesCount());

      // EmbedStream: send batches, read one answer per batch, in the order they were sent.
      List<EmbedStreamResponse> streamed = new ArrayList<>();
      CompletableFuture<Void> done = new CompletableFuture<>();
      StreamObserver<EmbedStreamRequest> stream =
          client.embedAsync.embedStream(
              new StreamObserver<EmbedStreamResponse>() {
                @Override
                public void onNext(EmbedStreamResponse answer) {
                  streamed.add(answer);
                }

                @Override
                public void onError(Throwable error) {
                  done.completeExceptionally(error);
                }

                @Override
                public void onCompleted() {
                  done.complete(null);
                }
              });
      String[][] batches = {{"first batch"}, {"second", "batch"}, {"third", "batch", "here"}};
      for (int i = 0; i < batches.length; i++) {
        stream.onNext(
            EmbedStreamRequest.newBuilder().setBatchId("b" + i).setRequest(texts(batches[i])).build());
      }
      stream.onCompleted();
      done.get(60, TimeUnit.SECONDS);

      // Rerank: texts sorted by relevance to the query (a server with a reranker model).
      RerankResponse ranked =
          reranker.rerank.rerank(
              RerankRequest.newBuilder()
                  .setQuery("What does Ember serve?")
                  .addTexts("Ember serves encoder models.")
                  .addTexts("Bananas are yellow.")
                  .addTexts("gRPC and REST")
                  .build());
      for (RankedText rank : ranked.getRanksList()) {
        System.err.printf("text %d: %.3f%n", rank.getIndex(), rank.getScore());
      }
      // [END readme]

      StringBuilder json = new StringBuilder("{\"embed\":");
      vectors(json, embedded);
      json.append(",\"stream\":[");
      for (int i = 0; i < streamed.size(); i++) {
        json.append(i > 0 ? "," : "").append("{\"batch_id\":\"").append(streamed.get(i).getBatchId());
        json.append("\",\"vectors\":");
        vectors(json, streamed.get(i).getResponse());
        json.append('}');
      }
      json.append("],\"rerank\":[");
      for (int i = 0; i < ranked.getRanksCount(); i++) {
        RankedText rank = ranked.getRanks(i);
        json.append(i > 0 ? "," : "").append("{\"index\":").append(rank.getIndex());
        json.append(",\"score\":").append(rank.getScore()).append('}');
      }
      json.append("],\"classify\":");
      try (EmberClient classifier = new EmberClient(classifyTarget, apiKey, false)) {
        ClassifyResponse classified =
            classifier.classify.classify(
                ClassifyRequest.newBuilder()
                    .addInputs(ClassifyInput.newBuilder().addTexts("I love this."))
                    .addInputs(
                        ClassifyInput.newBuilder().addTexts("Is it raining?").addTexts("No, it is sunny."))
                    .build());
        json.append('[');
        for (int i = 0; i < classified.getResultsCount(); i++) {
          Classification result = classified.getResults(i);
          json.append(i > 0 ? "," : "").append('[');
          for (int j = 0; j < result.getLabelsCount(); j++) {
            LabelScore label = result.getLabels(j);
            json.append(j > 0 ? "," : "").append("{\"label\":\"").append(label.getLabel());
            json.append("\",\"score\":").append(label.getScore()).append('}');
          }
          json.append(']');
        }
        json.append(']');
      }
      json.append(",\"health\":").append(client.isServing("ember.v1.EmbedService"));

      // A bad request: no inputs. The status carries a google.rpc.ErrorInfo.
      try {
        client.embed.embed(EmbedRequest.getDefaultInstance());
        throw new IllegalStateException("an empty Embed request succeeded");
      } catch (StatusRuntimeException error) {
        ErrorInfo info = ErrorInfo.fromThrowable(error);
        json.append(",\"error\":{\"code\":").append(error.getStatus().getCode().value());
        json.append(",\"message\":").append(quote(error.getStatus().getDescription()));
        if (info != null) {
          json.append(",\"reason\":").append(quote(info.reason));
          json.append(",\"domain\":").append(quote(info.domain));
          json.append(",\"request_id\":").append(quote(info.metadata.get("request_id")));
        }
        json.append("}}");
      }
      System.out.println(json);
    }
  }

  private static void vectors(StringBuilder json, EmbedResponse response) {
    json.append('[');
    for (int i = 0; i < response.getEmbeddingsCount(); i++) {
      Embedding embedding = response.getEmbeddings(i);
      json.append(i > 0 ? "," : "").append('[');
      for (int j = 0; j < embedding.getValuesCount(); j++) {
        // Float.toString is the shortest decimal that reads back as the same float.
        json.append(j > 0 ? "," : "").append(embedding.getValues(j));
      }
      json.append(']');
    }
    json.append(']');
  }

  private static String quote(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    return out.append('"').toString();
  }

  private static String flag(String[] args, String name) {
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals(name)) {
        return args[i + 1];
      }
    }
    return "localhost:50051";
  }
}
