package model

// OLMoE (model_type "olmoe") follows OlmoeDecoderLayer: attention whose
// q and k are RMS-normalized over their whole width (not per head), and
// optionally clamped to ±clip_qkv with v; every layer sparse:
//
//	q = rope(QNorm(Q x)), k = rope(KNorm(K x))
//	y = Σ_{e ∈ topk(p)} w_e Expert_e(x),  p = softmax(Router x)
//
// with w = p, or p / Σ_{topk} p when norm_topk_prob.
var olmoe = family{name: "OLMoE", rmsEps: 1e-5, ropeTheta: 10000, read: readOLMoE, layer: olmoeLayer}

func readOLMoE(r *reader, c *Config) {
	c.moe(r, "intermediate_size", "num_experts")
	b := r.bool("attention_bias", false)
	c.bias = attnBias{qkv: b, o: b}
	c.clipQKV = r.float("clip_qkv", 0, false)
	c.Router.NormTopK = r.bool("norm_topk_prob", false)
	c.setSparse(r, func(int) bool { return true })
}

func olmoeLayer(c *Config, i int) Layer {
	l := Layer{Index: i, Attention: c.gqa(i, c.bias)}
	c.norms(&l)
	p := layerPrefix(i) + "self_attn."
	l.Attention.QNorm = vec(p+"q_norm.weight", c.Heads*c.HeadDim)
	l.Attention.KNorm = vec(p+"k_norm.weight", c.KVHeads*c.HeadDim)
	c.feedForward(&l, mlpExperts)
	return l
}
