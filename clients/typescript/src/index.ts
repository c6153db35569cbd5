/**
 * Ember's TypeScript client: the generated ember.v1 messages and services (protoc-gen-es v2) and
 * createEmberClient, which opens a Connect gRPC transport (HTTP/2, Node.js) with Ember's defaults
 * (API key, TLS, a default deadline) and makes one client per service on it.
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { ConnectError } from "@connectrpc/connect";
import { ClassifyService } from "./gen/ember/v1/classify_pb.js";
import { EmbedService } from "./gen/ember/v1/embed_pb.js";
import { ModelService } from "./gen/ember/v1/model_pb.js";
import { RerankService } from "./gen/ember/v1/rerank_pb.js";
import { TokenClassificationService } from "./gen/ember/v1/token_classification_pb.js";
import { ErrorInfoSchema, HealthService, type ErrorInfo } from "./runtime_protos.js";

export * from "./gen/ember/v1/classify_pb.js";
export * from "./gen/ember/v1/common_pb.js";
export * from "./gen/ember/v1/embed_pb.js";
export * from "./gen/ember/v1/model_pb.js";
export * from "./gen/ember/v1/rerank_pb.js";
export * from "./gen/ember/v1/token_classification_pb.js";
export type { ErrorInfo } from "./runtime_protos.js";

/** Options of createEmberClient. */
export interface EmberOptions {
  /** Sent as "authorization: Bearer <key>" on every call. */
  apiKey?: string;
  /** Connect over TLS (https); plaintext HTTP/2 otherwise. */
  tls?: boolean;
  /** Deadline of each call unless the call sets its own; default 300 s. 0: none. */
  timeoutMs?: number;
  /** More interceptors (logging, metadata, ...), run after the API key one. */
  interceptors?: Interceptor[];
}

/** One transport to an Ember server and a client per service on it. */
export interface EmberClient {
  transport: Transport;
  embed: Client<typeof EmbedService>;
  rerank: Client<typeof RerankService>;
  classify: Client<typeof ClassifyService>;
  tokenClassification: Client<typeof TokenClassificationService>;
  model: Client<typeof ModelService>;
  /** Whether the server's health service says `service` ("" for all) is SERVING. */
  isServing(service?: string): Promise<boolean>;
}

/** Largest message read: big Embed batches answer with several MB of floats. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** A client of the Ember server at `target` ("localhost:50051"). */
export function createEmberClient(target: string, options: EmberOptions = {}): EmberClient {
  const interceptors: Interceptor[] = [];
  if (options.apiKey) {
    const value = `Bearer ${options.apiKey}`;
    interceptors.push((next) => (request) => {
      request.header.set("authorization", value);
      return next(request);
    });
  }
  const transport = createGrpcTransport({
    baseUrl: `${options.tls ? "https" : "http"}://${target}`,
    interceptors: [...interceptors, ...(options.interceptors ?? [])],
    defaultTimeoutMs: options.timeoutMs ?? 300_000,
    readMaxBytes: MAX_MESSAGE_BYTES,
  });
  const health = createClient(HealthService, transport);
  return {
    transport,
    embed: createClient(EmbedService, transport),
    rerank: createClient(RerankService, transport),
    classify: createClient(ClassifyService, transport),
    tokenClassification: createClient(TokenClassificationService, transport),
    model: createClient(ModelService, transport),
    async isServing(service = "") {
      const answer = await health.check({ service });
      return answer.status === 1; // SERVING
    },
  };
}

/**
 * The google.rpc.ErrorInfo of a failed call: Ember puts one on every error, with a `reason`
 * such as "INVALID_INPUT", the domain "ember" and the call's `metadata.request_id`.
 * Undefined when the error carries none.
 */
export function errorInfo(error: ConnectError): ErrorInfo | undefined {
  return error.findDetails(ErrorInfoSchema)[0];
}
