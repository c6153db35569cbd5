module github.com/ember-serve/ember/clients/go

go 1.19

// The versions the client is built and tested with (Debian 12: golang-google-grpc-dev,
// golang-google-protobuf-dev; genproto as grpc v1.33.3 requires it); newer ones work too.
require (
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
