// Package moec ships, inside the moec command, the example that
// "moec replay" runs when it is given no policy and no trace, so that a
// binary installed with go install shows what moec does without a clone:
// the reference's composed example policy over real routing of
// Qwen1.5-MoE (5 of its MoE layers, 4,357 tokens of GSM8K).
//
// The compiler, the runtime and the tools live in the packages below this
// one; README.md is the map.
package moec

import "embed"

// Demo holds the example's policy and trace at their paths in this
// repository, DemoPolicy and DemoTrace.
//
//go:embed examples/composed_policy.moe testdata/traces/qwen15moe-gsm8k-5layer.jsonl
var Demo embed.FS

// The paths of the example's files in Demo, which are also their paths
// in this repository.
const (
	DemoPolicy = "examples/composed_policy.moe"
	DemoTrace  = "testdata/traces/qwen15moe-gsm8k-5layer.jsonl"
)
