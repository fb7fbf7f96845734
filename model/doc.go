// Package model is moec's one reading of a Hugging Face checkpoint's
// config.json: the families it describes, and what it says of each.
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
// # Files from the internet
//
// A config.json is a file from the internet, so every count and size is
// bounded and all arithmetic on them is checked for overflow. A
// config.json may declare at most 4,096 layers, 65,536 experts a layer,
// widths and vocabularies of 2^24, 2^50 parameters in all, in 16 MiB of
// JSON with nothing after the object.
package model
