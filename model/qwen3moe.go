package model

// Qwen3-MoE (model_type "qwen3_moe": Qwen3-30B-A3B, Qwen3-235B-A22B)
// follows Qwen3MoeDecoderLayer: Qwen2-MoE's sparse layers without the
// shared expert, and attention without biases (unless attention_bias)
// whose q and k are RMS-normalized per head before rope:
//
//	q = rope(QNorm(Q x)), k = rope(KNorm(K x))   each head_dim wide
//	y = Σ_{e ∈ topk(p)} w_e Expert_e(x),  p = softmax(Router x)
//
// with w = p, or p / Σ_{topk} p when norm_topk_prob.
var qwen3MoE = family{name: "Qwen3-MoE", rmsEps: 1e-6, ropeTheta: 10000, read: readQwen3MoE, layer: qwen3MoELayer, chat: &chatML}

func readQwen3MoE(r *reader, c *Config) {
	// The published configs say num_experts; transformers 5.x writes the
	// same number as num_local_experts (its attribute map's name).
	experts := "num_experts"
	if !r.has(experts) && r.has("num_local_experts") {
		experts = "num_local_experts"
	}
	c.moe(r, "moe_intermediate_size", experts)
	b := r.bool("attention_bias", false)
	c.bias = attnBias{qkv: b, o: b}
	c.Router.NormTopK = r.bool("norm_topk_prob", false)
	qwenSparse(r, c)
	// transformers 5.x: every layer slides when use_sliding_window.
	window := qwenWindow(r)
	c.readLayerTypes(r, window, func(int) bool { return window > 0 })
}

func qwen3MoELayer(c *Config, i int) Layer {
	l := Layer{Index: i, Attention: c.gqa(i, c.bias)}
	c.norms(&l)
	p := layerPrefix(i)
	l.Attention.QNorm = vec(p+"self_attn.q_norm.weight", c.HeadDim)
	l.Attention.KNorm = vec(p+"self_attn.k_norm.weight", c.HeadDim)
	c.feedForward(&l, mlpExperts)
	return l
}
