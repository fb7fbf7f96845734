package model

// Mixtral (model_type "mixtral") follows MixtralDecoderLayer:
// grouped-query attention without biases, on a sliding window when
// sliding_window is set, and in every layer a router over
// num_local_experts experts whose chosen weights are renormalized:
//
//	p = softmax(Router x)
//	y = Σ_{e ∈ topk(p)} p_e / Σ_{topk} p · Expert_e(x)
//
// Its experts are block_sparse_moe.experts.E.{w1, w3, w2}: gate, up, down.
var mixtral = family{name: "Mixtral", rmsEps: 1e-5, ropeTheta: 1e6, read: readMixtral, layer: mixtralLayer, chat: &inst}

func readMixtral(r *reader, c *Config) {
	c.moe(r, "intermediate_size", "num_local_experts")
	c.Router.NormTopK = true
	window := r.optInt("sliding_window", 0, 0, 1<<30)
	c.readLayerTypes(r, window, func(int) bool { return window > 0 })
	c.setSparse(r, func(int) bool { return true })
}

func mixtralLayer(c *Config, i int) Layer {
	l := Layer{Index: i, Attention: c.gqa(i, attnBias{})}
	c.norms(&l)
	c.feedForward(&l, mixtralExperts)
	return l
}
