#include "ember/client.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/generic/generic_stub.h>

#include <string>

namespace ember {

const char kDefaultServiceConfig[] = R"({
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [
      {"service": "ember.v1.EmbedService"},
      {"service": "ember.v1.RerankService"},
      {"service": "ember.v1.ClassifyService"},
      {"service": "ember.v1.TokenClassificationService"},
      {"service": "ember.v1.ModelService"}
    ],
    "waitForReady": true
  }]
})";

namespace {

constexpr int kMaxMessageBytes = 256 << 20;
using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

// Reads the length-delimited fields of a message: calls on_field(number, bytes) for each, skips
// the rest. False on malformed input. (Debian's protobuf ships no google.rpc classes, and these
// two messages need no more than this.)
template <typename F>
bool ForEachBytesField(const std::string& data, F on_field) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(data.data()), static_cast<int>(data.size()));
  while (uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    std::string bytes;
    uint32_t size;
    if (!in.ReadVarint32(&size) || !in.ReadString(&bytes, static_cast<int>(size))) return false;
    on_field(WireFormatLite::GetTagFieldNumber(tag), bytes);
  }
  return in.ConsumedEntireMessage();
}

// grpc.health.v1.HealthCheckRequest{service} as bytes (field 1, a string).
std::string HealthCheckRequest(const std::string& service) {
  std::string out;
  google::protobuf::io::StringOutputStream raw(&out);
  google::protobuf::io::CodedOutputStream coded(&raw);
  WireFormatLite::WriteString(1, service, &coded);
  coded.Trim();
  return out;
}

}  // namespace

std::optional<ErrorDetail> ErrorInfo(const grpc::Status& status) {
  std::optional<ErrorDetail> found;
  // google.rpc.Status: field 3 holds the details, each a google.protobuf.Any.
  ForEachBytesField(status.error_details(), [&](int number, const std::string& bytes) {
    google::protobuf::Any any;
    if (number != 3 || found || !any.ParseFromString(bytes) ||
        any.type_url() != "type.googleapis.com/google.rpc.ErrorInfo") {
      return;
    }
    ErrorDetail detail;
    ForEachBytesField(any.value(), [&](int field, const std::string& value) {
      if (field == 1) detail.reason = value;
      if (field == 2) detail.domain = value;
      if (field == 3) {  // a map entry: key = 1, value = 2
        std::string key, entry;
        ForEachBytesField(value, [&](int f, const std::string& v) { (f == 1 ? key : entry) = v; });
        detail.metadata[key] = entry;
      }
    });
    found = detail;
  });
  return found;
}

Client::Client(const std::string& target, Options options) : options_(std::move(options)) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(kDefaultServiceConfig);
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options_.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options_.tls_root_certs;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  channel = grpc::CreateCustomChannel(target, credentials, args);
  embed = ember::v1::EmbedService::NewStub(channel);
  rerank = ember::v1::RerankService::NewStub(channel);
  classify = ember::v1::ClassifyService::NewStub(channel);
  token_classification = ember::v1::TokenClassificationService::NewStub(channel);
  model = ember::v1::ModelService::NewStub(channel);
}

std::unique_ptr<grpc::ClientContext> Client::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!options_.api_key.empty()) {
    context->AddMetadata("authorization", "Bearer " + options_.api_key);
  }
  context->set_deadline(std::chrono::system_clock::now() + options_.timeout);
  return context;
}

bool Client::IsServing(const std::string& service) const {
  // Debian ships no grpc.health.v1 client classes: the call goes through the generic stub
  // with the request written by hand and the answer's status (field 1) read back.
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  auto context = Context();
  grpc::Slice slice(HealthCheckRequest(service));
  grpc::ByteBuffer request(&slice, 1), response;
  auto call = stub.PrepareUnaryCall(context.get(), "/grpc.health.v1.Health/Check", request, &queue);
  call->StartCall();
  grpc::Status status;
  void* tag = nullptr;
  bool ok = false;
  call->Finish(&response, &status, &queue);
  if (!queue.Next(&tag, &ok) || !ok || !status.ok()) return false;
  grpc::Slice answer;
  if (!response.DumpToSingleSlice(&answer).ok()) return false;
  std::string bytes(reinterpret_cast<const char*>(answer.begin()), answer.size());
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  uint32_t value = 0;
  return in.ReadTag() == WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT) &&
         in.ReadVarint32(&value) && value == 1;  // SERVING
}

}  // namespace ember
