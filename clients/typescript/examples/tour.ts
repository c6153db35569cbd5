/**
 * Calls every kind of Ember RPC once and prints what came back as JSON: Embed, EmbedStream,
 * Rerank, Classify, health, and a bad request's error with its structured detail. The client
 * tests run it against real servers; the README shows its first part.
 *
 *   node dist/examples/tour.js -embed localhost:50051 -rerank localhost:50052 -classify ...
 */
import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  createEmberClient,
  EmbedInputSchema,
  EmbedRequestSchema,
  EmbedStreamRequestSchema,
  errorInfo,
  type EmbedResponse,
  type EmbedStreamRequest,
  type EmbedStreamResponse,
} from "../src/index.js";

function flag(name: string): string {
  const at = process.argv.indexOf(name);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : "localhost:50051";
}

const vectors = (response: EmbedResponse) =>
  response.embeddings.map((embedding) => embedding.values);

// [START readme]
const texts = (...values: string[]) =>
  create(EmbedRequestSchema, {
    inputs: values.map((text) =>
      create(EmbedInputSchema, { content: { case: "text", value: text } }),
    ),
  });

const client = createEmberClient(flag("-embed"), { apiKey: process.env.EMBER_API_KEY });

// Embed: one vector per input, in input order.
const embedded = await client.embed.embed(
  texts("What is Ember?", "Ember serves encoder models over gRPC.", "Zoë lives in 東京 🤔"),
);
console.error("dimensions:", embedded.embeddings[0].values.length);

// EmbedStream: send batches, read one answer per batch, in the order they were sent.
const batches = [["first batch"], ["second", "batch"], ["third", "batch", "here"]];
async function* requests(): AsyncIterable<EmbedStreamRequest> {
  for (const [i, batch] of batches.entries()) {
    yield create(EmbedStreamRequestSchema, { batchId: `b${i}`, request: texts(...batch) });
  }
}
const streamed: EmbedStreamResponse[] = [];
for await (const answer of client.embed.embedStream(requests())) {
  streamed.push(answer); // answer.result.case is "error" if the batch failed
}

// Rerank: texts sorted by relevance to the query (a server with a reranker model).
const reranker = createEmberClient(flag("-rerank"), { apiKey: process.env.EMBER_API_KEY });
const ranked = await reranker.rerank.rerank({
  query: "What does Ember serve?",
  texts: ["Ember serves encoder models.", "Bananas are yellow.", "gRPC and REST"],
});
for (const rank of ranked.ranks) {
  console.error(`text ${rank.index}: ${rank.score.toFixed(3)}`);
}
// [END readme]

const classifier = createEmberClient(flag("-classify"));
const classified = await classifier.classify.classify({
  inputs: [{ texts: ["I love this."] }, { texts: ["Is it raining?", "No, it is sunny."] }],
});

// A bad request: no inputs. The status carries a google.rpc.ErrorInfo.
let failure: Record<string, unknown> = {};
try {
  await client.embed.embed({});
  throw new Error("an empty Embed request succeeded");
} catch (error) {
  const connectError = ConnectError.from(error);
  const info = errorInfo(connectError);
  failure = {
    code: connectError.code,
    message: connectError.rawMessage,
    reason: info?.reason,
    domain: info?.domain,
    request_id: info?.metadata.request_id,
  };
}

console.log(
  JSON.stringify({
    embed: vectors(embedded),
    stream: streamed.map((answer) => ({
      batch_id: answer.batchId,
      vectors: answer.result.case === "response" ? vectors(answer.result.value) : [],
    })),
    rerank: ranked.ranks.map((rank) => ({ index: rank.index, score: rank.score })),
    classify: classified.results.map((result) =>
      result.labels.map((label) => ({ label: label.label, score: label.score })),
    ),
    health: await client.isServing("ember.v1.EmbedService"),
    error: failure,
  }),
);
