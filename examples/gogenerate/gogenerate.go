// Package gogenerate shows moec used as a downstream project uses it: the
// policies of policy.moe are compiled into policy_gen.go by go generate,
// and the program calls the generated types directly.
//
// After editing policy.moe, run
//
//	go generate ./examples/gogenerate
//
// (a test in cmd/moec fails while policy_gen.go is stale).
package gogenerate

//go:generate go run github.com/moepolicy/moec/cmd/moec build -o policy_gen.go policy.moe
