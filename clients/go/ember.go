// Package ember is a thin Go client for Ember's gRPC API (package ember.v1).
//
// Dial opens one connection with Ember's defaults (API key, TLS, a default service config) and
// returns the generated service clients of package emberv1 on it. Everything else, requests and
// responses included, is the generated code: see the emberv1 package.
package ember

import (
	"context"
	"crypto/tls"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	emberv1 "github.com/ember-serve/ember/clients/go/ember/v1"
)

// DefaultServiceConfig is the service config a Client uses unless the server's name resolver
// provides one: round-robin over every address the target resolves to, and calls that wait
// for a connection that is not ready yet instead of failing at once.
const DefaultServiceConfig = `{
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
}`

// MaxMessageBytes bounds the messages a Client sends and receives: large Embed batches
// answer with several MB of floats, past grpc-go's 4 MB default.
const MaxMessageBytes = 256 << 20

// Options configures Dial. The zero value connects without TLS and without an API key.
type Options struct {
	// APIKey, when set, is sent on every call as "authorization: Bearer <key>".
	APIKey string
	// TLS, when set, secures the connection; nil connects in plaintext.
	TLS *tls.Config
	// ServiceConfig replaces DefaultServiceConfig when set.
	ServiceConfig string
	// DialOptions are appended to those Dial builds (interceptors, keepalive, ...).
	DialOptions []grpc.DialOption
}

// Client holds one connection and the generated clients of every Ember service on it.
type Client struct {
	Conn                *grpc.ClientConn
	Embed               emberv1.EmbedServiceClient
	Rerank              emberv1.RerankServiceClient
	Classify            emberv1.ClassifyServiceClient
	TokenClassification emberv1.TokenClassificationServiceClient
	Model               emberv1.ModelServiceClient
	Health              healthpb.HealthClient
}

// Dial connects to target (for example "localhost:50051" or "dns:///ember.internal:50051").
// Like grpc.Dial it does not wait for the connection: the first call does.
func Dial(target string, opts Options) (*Client, error) {
	serviceConfig := opts.ServiceConfig
	if serviceConfig == "" {
		serviceConfig = DefaultServiceConfig
	}
	dialOptions := []grpc.DialOption{
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
	}
	if opts.TLS != nil {
		dialOptions = append(dialOptions, grpc.WithTransportCredentials(credentials.NewTLS(opts.TLS)))
	} else {
		dialOptions = append(dialOptions, grpc.WithInsecure())
	}
	if opts.APIKey != "" {
		dialOptions = append(dialOptions, grpc.WithPerRPCCredentials(bearer{opts.APIKey, opts.TLS != nil}))
	}
	conn, err := grpc.Dial(target, append(dialOptions, opts.DialOptions...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		Conn:                conn,
		Embed:               emberv1.NewEmbedServiceClient(conn),
		Rerank:              emberv1.NewRerankServiceClient(conn),
		Classify:            emberv1.NewClassifyServiceClient(conn),
		TokenClassification: emberv1.NewTokenClassificationServiceClient(conn),
		Model:               emberv1.NewModelServiceClient(conn),
		Health:              healthpb.NewHealthClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

// Serving reports whether the server's health service says service ("" for the whole server,
// or "ember.v1.EmbedService" and so on) is SERVING.
func (c *Client) Serving(ctx context.Context, service string) (bool, error) {
	answer, err := c.Health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return false, err
	}
	return answer.Status == healthpb.HealthCheckResponse_SERVING, nil
}

// ErrorInfo returns the google.rpc.ErrorInfo that a failed call's status carries: Ember puts
// one on every error, with a Reason such as "INVALID_INPUT" and the call's request id in
// Metadata["request_id"]. It returns nil when err carries none.
func ErrorInfo(err error) *errdetails.ErrorInfo {
	var withStatus interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &withStatus) {
		return nil
	}
	for _, detail := range withStatus.GRPCStatus().Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// bearer sends the API key as a bearer token on every call.
type bearer struct {
	key    string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.key}, nil
}

// RequireTransportSecurity is false for plaintext connections, so that a key can be used on
// loopback and inside a trusted network (grpc-go refuses to send it otherwise).
func (b bearer) RequireTransportSecurity() bool { return b.secure }
