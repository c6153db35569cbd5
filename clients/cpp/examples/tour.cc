// Calls every kind of Ember RPC once and prints what came back as JSON: Embed, EmbedStream,
// Rerank, Classify, health, and a bad request's error with its structured detail. The client
// tests run it against real servers; the README shows its first part.
//
//   build/tour -embed localhost:50051 -rerank localhost:50052 -classify localhost:50053
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "ember/client.h"

namespace {

std::string Flag(int argc, char** argv, const std::string& name) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (name == argv[i]) return argv[i + 1];
  }
  return "localhost:50051";
}

ember::v1::EmbedRequest Texts(const std::vector<std::string>& texts) {
  ember::v1::EmbedRequest request;
  for (const auto& text : texts) request.add_inputs()->set_text(text);
  return request;
}

void Check(const grpc::Status& status, const char* what) {
  if (!status.ok()) {
    std::cerr << what << " failed: " << status.error_message() << "\n";
    std::exit(1);
  }
}

// The shortest decimal that reads back as the same float.
std::string Number(float value) {
  char buffer[32];
  auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  return std::string(buffer, end);
}

std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;  // none expected in these strings
    out += c;
  }
  return out + "\"";
}

std::string Vectors(const ember::v1::EmbedResponse& response) {
  std::string out = "[";
  for (int i = 0; i < response.embeddings_size(); ++i) {
    out += i ? ",[" : "[";
    const auto& values = response.embeddings(i).values();
    for (int j = 0; j < values.size(); ++j) out += (j ? "," : "") + Number(values[j]);
    out += "]";
  }
  return out + "]";
}

}  // namespace

int main(int argc, char** argv) {
  const char* key = std::getenv("EMBER_API_KEY");
  ember::Options options;
  options.api_key = key ? key : "";

  // [START readme]
  ember::Client client(Flag(argc, argv, "-embed"), options);

  // Embed: one vector per input, in input order.
  ember::v1::EmbedResponse embedded;
  Check(client.embed->Embed(client.Context().get(),
                            Texts({"What is Ember?", "Ember serves encoder models over gRPC.",
                                   "Zoë lives in 東京 🤔"}),
                            &embedded),
        "Embed");
  std::cerr << "dimensions: " << embedded.embeddings(0).values_size() << "\n";

  // EmbedStream: send batches, read one answer per batch, in the order they were sent.
  auto context = client.Context();
  auto stream = client.embed->EmbedStream(context.get());
  std::vector<std::vector<std::string>> batches = {
      {"first batch"}, {"second", "batch"}, {"third", "batch", "here"}};
  for (size_t i = 0; i < batches.size(); ++i) {
    ember::v1::EmbedStreamRequest request;
    request.set_batch_id("b" + std::to_string(i));
    *request.mutable_request() = Texts(batches[i]);
    stream->Write(request);
  }
  stream->WritesDone();
  std::vector<ember::v1::EmbedStreamResponse> streamed;
  ember::v1::EmbedStreamResponse answer;
  while (stream->Read(&answer)) streamed.push_back(answer);  // answer.has_error() if it failed
  Check(stream->Finish(), "EmbedStream");

  // Rerank: texts sorted by relevance to the query (a server with a reranker model).
  ember::Client reranker(Flag(argc, argv, "-rerank"), options);
  ember::v1::RerankRequest rerank;
  rerank.set_query("What does Ember serve?");
  for (const char* text : {"Ember serves encoder models.", "Bananas are yellow.", "gRPC and REST"}) {
    rerank.add_texts(text);
  }
  ember::v1::RerankResponse ranked;
  Check(reranker.rerank->Rerank(reranker.Context().get(), rerank, &ranked), "Rerank");
  for (const auto& rank : ranked.ranks()) {
    std::cerr << "text " << rank.index() << ": " << rank.score() << "\n";
  }
  // [END readme]

  ember::Client classifier(Flag(argc, argv, "-classify"), options);
  ember::v1::ClassifyRequest classify;
  classify.add_inputs()->add_texts("I love this.");
  auto* pair = classify.add_inputs();
  pair->add_texts("Is it raining?");
  pair->add_texts("No, it is sunny.");
  ember::v1::ClassifyResponse classified;
  Check(classifier.classify->Classify(classifier.Context().get(), classify, &classified),
        "Classify");

  // A bad request: no inputs. The status carries a google.rpc.ErrorInfo.
  ember::v1::EmbedResponse unused;
  grpc::Status bad =
      client.embed->Embed(client.Context().get(), ember::v1::EmbedRequest(), &unused);
  auto info = ember::ErrorInfo(bad);

  std::ostringstream json;
  json << "{\"embed\":" << Vectors(embedded) << ",\"stream\":[";
  for (size_t i = 0; i < streamed.size(); ++i) {
    json << (i ? "," : "") << "{\"batch_id\":" << Quote(streamed[i].batch_id())
         << ",\"vectors\":" << Vectors(streamed[i].response()) << "}";
  }
  json << "],\"rerank\":[";
  for (int i = 0; i < ranked.ranks_size(); ++i) {
    json << (i ? "," : "") << "{\"index\":" << ranked.ranks(i).index()
         << ",\"score\":" << Number(ranked.ranks(i).score()) << "}";
  }
  json << "],\"classify\":[";
  for (int i = 0; i < classified.results_size(); ++i) {
    json << (i ? ",[" : "[");
    const auto& labels = classified.results(i).labels();
    for (int j = 0; j < labels.size(); ++j) {
      json << (j ? "," : "") << "{\"label\":" << Quote(labels[j].label())
           << ",\"score\":" << Number(labels[j].score()) << "}";
    }
    json << "]";
  }
  json << "],\"health\":" << (client.IsServing("ember.v1.EmbedService") ? "true" : "false");
  json << ",\"error\":{\"code\":" << bad.error_code()
       << ",\"message\":" << Quote(bad.error_message());
  if (info) {
    json << ",\"reason\":" << Quote(info->reason) << ",\"domain\":" << Quote(info->domain)
         << ",\"request_id\":" << Quote(info->metadata["request_id"]);
  }
  json << "}}";
  std::cout << json.str() << std::endl;
  return 0;
}
