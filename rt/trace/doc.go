// Package trace reads, writes, converts, generates and measures routing
// traces: the record of which experts a mixture-of-experts model's router
// selected, layer by layer, token by token.
//
// The format is the reference implementation's JSONL (docs/TRACES.md has
// the details): a header object, then one object per layer per token,
//
//	{"model_name": "Qwen/Qwen1.5-MoE-A2.7B-Chat", "num_layers": 24, "num_experts": 60, "top_k": 4, "num_entries": 96}
//	{"t":0,"l":0,"e":[33,16,24,27],"s":[0.1327,0.078,0.0689,0.0488]}
//	{"t":0,"l":1,"e":[34,43,46,6],"s":[0.0383,0.0372,0.0372,0.0366]}
//
// replayed in file order. A trace can be far larger than memory, so
// everything here streams: a Reader hands out one Row at a time without
// allocating, a Writer appends rows, Convert reads vLLM-style per-layer logs
// in lockstep, Generate emits synthetic rows from a seed, and a Collector
// computes the statistics that `moec trace stats` prints in one pass.
//
// Errors that concern a line of a file are *Error values and print like
// compiler diagnostics, "trace.jsonl:1042: expert 71 out of range [0,60)".
//
// The package imports only the standard library and rt.
package trace
