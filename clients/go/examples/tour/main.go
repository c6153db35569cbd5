// Command tour calls every kind of Ember RPC once and prints what came back as JSON: Embed,
// EmbedStream, Rerank, Classify, health, and a bad request's error with its structured detail.
// The client tests run it against real servers; the README shows its first part.
//
//	go run ./examples/tour -embed localhost:50051 -rerank localhost:50052 -classify localhost:50053
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/grpc/status"

	ember "github.com/ember-serve/ember/clients/go"
	emberv1 "github.com/ember-serve/ember/clients/go/ember/v1"
)

// texts makes the inputs of one Embed request.
func texts(values ...string) []*emberv1.EmbedInput {
	inputs := make([]*emberv1.EmbedInput, len(values))
	for i, text := range values {
		inputs[i] = &emberv1.EmbedInput{Content: &emberv1.EmbedInput_Text{Text: text}}
	}
	return inputs
}

func vectors(response *emberv1.EmbedResponse) [][]float32 {
	out := make([][]float32, len(response.Embeddings))
	for i, embedding := range response.Embeddings {
		out[i] = embedding.Values
	}
	return out
}

func main() {
	embedTarget := flag.String("embed", "localhost:50051", "an Ember server with an embedding model")
	rerankTarget := flag.String("rerank", "localhost:50051", "an Ember server with a reranker")
	classifyTarget := flag.String("classify", "localhost:50051", "an Ember server with a classifier")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	result := map[string]interface{}{}

	// [START readme]
	client, err := ember.Dial(*embedTarget, ember.Options{APIKey: os.Getenv("EMBER_API_KEY")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// Embed: one vector per input, in input order.
	embedded, err := client.Embed.Embed(ctx, &emberv1.EmbedRequest{
		Inputs: texts("What is Ember?", "Ember serves encoder models over gRPC.", "Zoë lives in 東京 🤔"),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "dimensions:", len(embedded.Embeddings[0].Values))

	// EmbedStream: send batches, read one answer per batch, in the order they were sent.
	stream, err := client.Embed.EmbedStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	batches := [][]string{{"first batch"}, {"second", "batch"}, {"third", "batch", "here"}}
	for i, batch := range batches {
		request := &emberv1.EmbedRequest{Inputs: texts(batch...)}
		if err := stream.Send(&emberv1.EmbedStreamRequest{BatchId: fmt.Sprint("b", i), Request: request}); err != nil {
			log.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		log.Fatal(err)
	}
	var streamed []*emberv1.EmbedStreamResponse
	for {
		answer, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		streamed = append(streamed, answer) // answer.GetError() is set if the batch failed
	}

	// Rerank: texts sorted by relevance to the query (a server with a reranker model).
	reranker, err := ember.Dial(*rerankTarget, ember.Options{APIKey: os.Getenv("EMBER_API_KEY")})
	if err != nil {
		log.Fatal(err)
	}
	defer reranker.Close()
	ranked, err := reranker.Rerank.Rerank(ctx, &emberv1.RerankRequest{
		Query: "What does Ember serve?",
		Texts: []string{"Ember serves encoder models.", "Bananas are yellow.", "gRPC and REST"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, rank := range ranked.Ranks {
		fmt.Fprintf(os.Stderr, "text %d: %.3f\n", rank.Index, rank.Score)
	}
	// [END readme]

	batchAnswers := make([]map[string]interface{}, len(streamed))
	for i, answer := range streamed {
		batchAnswers[i] = map[string]interface{}{"batch_id": answer.BatchId, "vectors": vectors(answer.GetResponse())}
	}
	ranks := make([]map[string]interface{}, len(ranked.Ranks))
	for i, rank := range ranked.Ranks {
		ranks[i] = map[string]interface{}{"index": rank.Index, "score": rank.Score}
	}

	classifier, err := ember.Dial(*classifyTarget, ember.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer classifier.Close()
	classified, err := classifier.Classify.Classify(ctx, &emberv1.ClassifyRequest{Inputs: []*emberv1.ClassifyInput{
		{Texts: []string{"I love this."}}, {Texts: []string{"Is it raining?", "No, it is sunny."}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	classes := make([][]map[string]interface{}, len(classified.Results))
	for i, classification := range classified.Results {
		for _, label := range classification.Labels {
			classes[i] = append(classes[i], map[string]interface{}{"label": label.Label, "score": label.Score})
		}
	}

	serving, err := client.Serving(ctx, "ember.v1.EmbedService")
	if err != nil {
		log.Fatal(err)
	}

	// A bad request: no inputs. The status carries a google.rpc.ErrorInfo.
	_, badErr := client.Embed.Embed(ctx, &emberv1.EmbedRequest{})
	failure := map[string]interface{}{"code": int(status.Code(badErr)), "message": status.Convert(badErr).Message()}
	if info := ember.ErrorInfo(badErr); info != nil {
		failure["reason"] = info.Reason
		failure["domain"] = info.Domain
		failure["request_id"] = info.Metadata["request_id"]
	}

	result["embed"] = vectors(embedded)
	result["stream"] = batchAnswers
	result["rerank"] = ranks
	result["classify"] = classes
	result["health"] = serving
	result["error"] = failure
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		log.Fatal(err)
	}
}
