// Package cpu is moec's reference forward pass of a Mixture-of-Experts
// decoder, in pure Go: the oracle that the CUDA engine and the tests are
// checked against, and the executor of experts a policy schedules on the
// CPU.
//
// It computes as transformers 5.x does in float32: RMSNorm, rotary
// embeddings (NeoX half-split, float32 frequencies), grouped-query
// attention over a key/value cache, or DeepSeek-V2's multi-head latent
// attention (interleaved complex-form RoPE with YaRN frequencies over the
// rotated part of each head), the router's float32 softmax and top-k
// (DeepSeek-V2's group-limited choice and routed_scaling_factor), SwiGLU
// experts and shared experts, the float32 weighted combine, the final
// norm and the language-model head. Weights stored as bfloat16 or float16 are
// widened to float32 when the model is loaded; every dot product is
// accumulated in float64 and rounded once.
package cpu
