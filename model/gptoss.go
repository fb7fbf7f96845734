package model

// gpt-oss (model_type "gpt_oss") follows GptOssDecoderLayer: attention
// with biases on q, k, v and o and a learned sink logit per head, on a
// sliding window in the layers layer_types says (every other one by
// default); in every layer a router with a bias whose top-k logits are
// softmaxed among themselves, and experts with biases and a clamped
// SwiGLU (Config.Activation):
//
//	l = Router x + RouterBias
//	y = Σ_{e ∈ topk(l)} softmax_{topk}(l)_e · Expert_e(x)
//
// Its experts are fused per layer (MoE.Fused). Without rope_scaling it
// uses YaRN, factor 32 over an original 4,096 positions.
var gptOSS = family{name: "gpt-oss", rmsEps: 1e-5, ropeTheta: 150000, read: readGPTOSS, layer: gptOSSLayer}

func readGPTOSS(r *reader, c *Config) {
	c.ExpertIntermediate = r.int("intermediate_size", 1, maxDim)
	c.Experts = r.int("num_local_experts", 1, maxExperts)
	switch {
	case r.has("num_experts_per_tok"):
		c.TopK = r.int("num_experts_per_tok", 1, maxExperts)
	case r.has("experts_per_token"):
		c.TopK = r.int("experts_per_token", 1, maxExperts)
	default:
		r.fail("gpt_oss config lacks \"experts_per_token\" (or \"num_experts_per_tok\")")
	}
	b := r.bool("attention_bias", true)
	c.bias = attnBias{qkv: b, o: b}
	c.Router.Scoring = TopKSoftmax
	c.swiglu = SwiGLU{Alpha: r.float("swiglu_alpha", 1.702, false), Limit: r.float("swiglu_limit", 7, false)}
	if !hasRope(r) {
		c.Rope.Type, c.Rope.Factor, c.Rope.OriginalMaxPositions = "yarn", 32, 4096
		c.Rope.BetaFast, c.Rope.BetaSlow, c.Rope.Truncate = 32, 1, false
	}
	window := r.optInt("sliding_window", 128, 0, 1<<30)
	c.readLayerTypes(r, window, func(i int) bool { return i%2 == 0 })
	c.setSparse(r, func(int) bool { return true })
}

func gptOSSLayer(c *Config, i int) Layer {
	l := Layer{Index: i, Attention: c.gqa(i, c.bias)}
	c.norms(&l)
	p := layerPrefix(i)
	l.Attention.Sinks = vec(p+"self_attn.sinks", c.Heads)
	e, h, inter := int64(c.Experts), int64(c.Hidden), int64(c.ExpertIntermediate)
	p += "mlp."
	l.MoE = &MoE{
		Router:     mat(p+"router.weight", c.Experts, c.Hidden),
		RouterBias: vec(p+"router.bias", c.Experts),
		Fused: FusedExperts{
			GateUp:     Weight{p + "experts.gate_up_proj", []int64{e, h, 2 * inter}},
			GateUpBias: Weight{p + "experts.gate_up_proj_bias", []int64{e, 2 * inter}},
			Down:       Weight{p + "experts.down_proj", []int64{e, inter, h}},
			DownBias:   Weight{p + "experts.down_proj_bias", []int64{e, h}},
		},
		layer: i,
	}
	return l
}
