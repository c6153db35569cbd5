// Ember's C++ client: the generated ember.v1 stubs (gen/) and a thin helper over them.
//
// ember::Client opens one channel with Ember's defaults (a default service config, 256 MB
// messages, TLS when asked) and holds a generated stub per service. Context() makes a
// ClientContext that carries the API key and a deadline. ErrorInfo() reads the
// google.rpc.ErrorInfo every Ember error carries in its status details.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "ember/v1/classify.grpc.pb.h"
#include "ember/v1/embed.grpc.pb.h"
#include "ember/v1/model.grpc.pb.h"
#include "ember/v1/rerank.grpc.pb.h"
#include "ember/v1/token_classification.grpc.pb.h"

namespace ember {

// The service config a Client uses: round-robin over every address the target resolves to,
// and calls that wait for a connection that is not ready yet instead of failing at once.
extern const char kDefaultServiceConfig[];

struct Options {
  // Sent as "authorization: Bearer <key>" by Context(); empty for none.
  std::string api_key;
  // Connect over TLS with the system's root certificates (or tls_root_certs, PEM).
  bool tls = false;
  std::string tls_root_certs;
  // Deadline Context() sets on each call.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

// google.rpc.ErrorInfo: reason (e.g. "INVALID_INPUT"), domain ("ember"), metadata
// ("request_id").
struct ErrorDetail {
  std::string reason;
  std::string domain;
  std::map<std::string, std::string> metadata;
};

// The ErrorInfo in a failed call's status details, if any.
std::optional<ErrorDetail> ErrorInfo(const grpc::Status& status);

class Client {
 public:
  Client(const std::string& target, Options options = {});

  // A context for one call: the API key, the deadline.
  std::unique_ptr<grpc::ClientContext> Context() const;
  // Whether the server's health service says service ("" for all) is SERVING.
  bool IsServing(const std::string& service = "") const;

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<ember::v1::EmbedService::Stub> embed;
  std::unique_ptr<ember::v1::RerankService::Stub> rerank;
  std::unique_ptr<ember::v1::ClassifyService::Stub> classify;
  std::unique_ptr<ember::v1::TokenClassificationService::Stub> token_classification;
  std::unique_ptr<ember::v1::ModelService::Stub> model;

 private:
  Options options_;
};

}  // namespace ember
