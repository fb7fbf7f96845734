// Package model is moec's one reading of a Hugging Face checkpoint: what
// its config.json says, and the tensors of its safetensors files.
//
// # Families
//
// moec knows the Mixture-of-Experts families that transformers builds
// from these model types, one file each, which says in its comment what
// the family computes and in its code how its config.json names its sizes
// and which tensors each layer has:
//
//	mixtral       Mixtral                       mixtral.go
//	qwen2_moe     Qwen1.5-MoE, Qwen2-MoE        qwen2moe.go
//	qwen3_moe     Qwen3-MoE                     qwen3moe.go
//	olmoe         OLMoE                         olmoe.go
//	deepseek_v2   DeepSeek-V2                   deepseek.go
//	deepseek_v3   DeepSeek-V3                   deepseek.go
//	gpt_oss       gpt-oss                       gptoss.go
//
// ParseConfig reads a config.json as transformers 4.x writes it
// (rope_theta, rope_scaling) and as 5.x does (rope_parameters, which
// holds rope_theta; layer_types; qkv_bias), into a Config: dimensions,
// which layers are sparse, the router's rule, the rope. Config.Layer(i)
// names each tensor of decoder layer i with the shape the config gives it,
// so that a forward pass is one loop over layers reading the same
// description for every family; the byte arithmetic of moec auto
// (NonExpertParams, KVBytes) counts those same tensors.
//
// # Checkpoints
//
// Open maps a checkpoint's safetensors files (sharded through
// model.safetensors.index.json, or one file) and finds every tensor by
// name; Experts finds the routed experts of the families whose experts
// are stored one by one, and packs each, gate, up and down, into a
// buffer: cudart's store fills its arena that way.
//
// # Files from the internet
//
// A checkpoint is a file from the internet, so every count and size is
// bounded by what the file itself can hold and all arithmetic on them is
// checked for overflow. A config.json may declare at most 4,096 layers,
// 65,536 experts a layer, widths and vocabularies of 2^24, 2^50
// parameters in all, in 16 MiB of JSON with nothing after the object; a
// safetensors header at most 100 MiB, each tensor of a known dtype whose
// shape's bytes are exactly its data offsets', the tensors tiling the
// data with neither overlap nor gap. An expert number in a tensor name is
// never used to size anything before the experts below it are found.
//
// What a mapped reader cannot defend is a file that changes after Open.
// The files are mapped read-only and shared: if another process truncates
// one, its pages past the new end no longer exist, and touching them
// raises SIGBUS, which would kill a Go program. Tensor.Read and
// Experts.Pack copy with the runtime's panic-on-fault set and report that
// as an error; Tensor.Data returns the mapped bytes themselves, and a
// caller that reads them (a GPU upload of the skeleton) is not defended.
// A file rewritten in place, at the same size, is read as it now is. Keep
// checkpoints unchanged while they are open, or copy them first.
package model
