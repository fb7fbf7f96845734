package model

// Qwen2-MoE (model_type "qwen2_moe": Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B)
// follows Qwen2MoeDecoderLayer: attention with biases on q, k and v
// (qkv_bias in transformers 5.x), and in each sparse layer a router, the
// chosen experts and a shared expert behind a sigmoid gate:
//
//	p = softmax(Router x)
//	y = Σ_{e ∈ topk(p)} w_e Expert_e(x) + sigmoid(SharedGate x) · Shared(x)
//
// with w = p, or p / Σ_{topk} p when norm_topk_prob. Layer i is sparse
// unless it is in mlp_only_layers or i+1 is not a multiple of
// decoder_sparse_step.
var qwen2MoE = family{name: "Qwen2-MoE", rmsEps: 1e-6, ropeTheta: 10000, read: readQwen2MoE, layer: qwen2MoELayer, chat: &chatMLSystem}

func readQwen2MoE(r *reader, c *Config) {
	c.moe(r, "moe_intermediate_size", "num_experts")
	c.SharedExperts = 1
	c.SharedIntermediate = r.int("shared_expert_intermediate_size", 1, maxDim)
	c.SharedGate = true
	c.bias = attnBias{qkv: r.bool("qkv_bias", true)}
	c.Router.NormTopK = r.bool("norm_topk_prob", false)
	qwenSparse(r, c)
	// transformers 5.x, without layer_types: the even layers below
	// max_window_layers slide when use_sliding_window.
	window := qwenWindow(r)
	below := r.optInt("max_window_layers", 28, 0, 1<<30)
	c.readLayerTypes(r, window, func(i int) bool { return window > 0 && i%2 == 0 && i < below })
}

func qwen2MoELayer(c *Config, i int) Layer {
	l := Layer{Index: i, Attention: c.gqa(i, c.bias)}
	c.norms(&l)
	c.feedForward(&l, mlpExperts)
	if m := l.MoE; m != nil {
		p := layerPrefix(i) + "mlp."
		m.Shared = c.mlp(p+"shared_expert.", c.SharedIntermediate)
		m.SharedGate = mat(p+"shared_expert_gate.weight", 1, c.Hidden)
	}
	return l
}

// qwenSparse reads the sparse layers of Qwen2-MoE and Qwen3-MoE:
// transformers' Qwen2MoeDecoderLayer tests (i+1) % decoder_sparse_step,
// so a step of 0 is a division by zero there and an error here.
func qwenSparse(r *reader, c *Config) {
	step := r.optInt("decoder_sparse_step", 1, 0, 1<<30)
	if step == 0 {
		r.fail("\"decoder_sparse_step\" is 0: transformers makes layer i sparse when (i+1) %% decoder_sparse_step is 0, a division by zero; want a positive integer")
		step = 1
	}
	dense := r.intSet("mlp_only_layers", 1<<30)
	c.setSparse(r, func(i int) bool { return !dense[i] && (i+1)%step == 0 })
}

// qwenWindow returns the sliding window of the Qwen families: 0 unless
// use_sliding_window.
func qwenWindow(r *reader) int {
	if !r.bool("use_sliding_window", false) {
		return 0
	}
	return r.optInt("sliding_window", 0, 0, 1<<30)
}
