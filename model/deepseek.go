package model

import "math"

// DeepSeek-V2 and V3 (model_type "deepseek_v2", "deepseek_v3") follow
// DeepseekV2/V3DecoderLayer: multi-head latent attention (MLA), whose
// cache keeps kv_lora_rank + qk_rope_head_dim values a token, with rope
// on qk_rope_head_dim dimensions of each head, pairs interleaved; the
// first first_k_dense_replace layers, and those not a multiple of
// moe_layer_freq, dense; the others n_routed_experts routed experts and
// n_shared_experts shared ones (one MLP that many times as wide):
//
//	V2: s = softmax(Router x); choose topk(s), among the topk_group best
//	    of n_group groups by their best score (group_limited_greedy)
//	V3: s = sigmoid(Router x); choose topk(s + b), among the topk_group
//	    best groups by the sum of their two best s + b (noaux_tc);
//	    b is the layer's e_score_correction_bias
//	y = Σ_{e chosen} w_e Expert_e(x) + Shared(x)
//
// with w = s, divided by its sum over the chosen when norm_topk_prob,
// times routed_scaling_factor. The attention's softmax scale and its
// norms' epsilon are in MLA (SoftmaxScale, NormEps); transformers 5.x
// makes every layer from first_k_dense_replace on sparse, ignoring
// moe_layer_freq, which is 1 in every published config.
var (
	deepseekV2 = family{name: "DeepSeek-V2", rmsEps: 1e-6, ropeTheta: 10000, read: readDeepSeek, layer: deepseekLayer}
	deepseekV3 = family{name: "DeepSeek-V3", rmsEps: 1e-6, ropeTheta: 10000, read: readDeepSeek, layer: deepseekLayer}
)

func readDeepSeek(r *reader, c *Config) {
	v3 := c.Type == "deepseek_v3"
	c.moe(r, "moe_intermediate_size", "n_routed_experts")
	c.SharedExperts = r.optInt("n_shared_experts", 0, 0, maxExperts)
	c.SharedIntermediate = c.ExpertIntermediate
	c.MLA = &MLA{
		KVLoraRank: r.int("kv_lora_rank", 1, maxDim),
		QLoraRank:  r.optInt("q_lora_rank", 0, 1, maxDim),
		QKRope:     r.int("qk_rope_head_dim", 1, maxDim),
		QKNope:     r.int("qk_nope_head_dim", 1, maxDim),
		VHead:      r.int("v_head_dim", 1, maxDim),
	}
	if r.bool("attention_bias", false) {
		r.fail("%s config has \"attention_bias\": true, which no published DeepSeek model has and moec does not read", c.Type)
	}
	m := c.MLA
	m.NormEps = 1e-6
	m.SoftmaxScale = math.Pow(float64(m.QKNope+m.QKRope), -0.5)
	if c.Rope.Type != "default" && c.Rope.MScaleAllDim != 0 {
		s := YarnMScale(c.Rope.Factor, c.Rope.MScaleAllDim)
		m.SoftmaxScale = m.SoftmaxScale * s * s
	}
	c.Rope.Dim = m.QKRope
	c.Rope.Interleaved = !v3 || r.bool("rope_interleave", true)

	x := &c.Router
	method, scale, norm := "greedy", 1.0, false
	if v3 {
		method, scale, norm = "noaux_tc", 2.5, true
		x.Scoring, x.GroupScore = Sigmoid, GroupTop2Sum
	}
	x.Scale = r.float("routed_scaling_factor", scale, false)
	x.NormTopK = r.bool("norm_topk_prob", norm)
	method = r.string("topk_method", method)
	if s := r.string("scoring_func", x.Scoring.String()); s != x.Scoring.String() {
		r.fail("%s config has \"scoring_func\" %q, want %q", c.Type, s, x.Scoring)
	}
	switch {
	case !v3 && method == "greedy":
	case !v3 && method == "group_limited_greedy", v3 && method == "noaux_tc":
		x.Groups = r.optInt("n_group", 1, 1, maxExperts)
		x.GroupsKept = r.optInt("topk_group", 1, 1, maxExperts)
	default:
		r.fail("%s config has \"topk_method\" %q, which moec does not know", c.Type, method)
	}

	first := r.optInt("first_k_dense_replace", 0, 0, 1<<30)
	freq := r.optInt("moe_layer_freq", 1, 1, 1<<30)
	c.setSparse(r, func(i int) bool { return i >= first && i%freq == 0 })
}

func deepseekLayer(c *Config, i int) Layer {
	l := Layer{Index: i, Attention: c.mla(i)}
	c.norms(&l)
	c.feedForward(&l, mlpExperts)
	p := layerPrefix(i) + "mlp."
	if m := l.MoE; m != nil && c.SharedExperts > 0 {
		m.Shared = c.mlp(p+"shared_experts.", c.SharedExperts*c.SharedIntermediate)
	}
	if m := l.MoE; m != nil && c.Type == "deepseek_v3" {
		m.RouterBias = vec(p+"gate.e_score_correction_bias", c.Experts)
	}
	return l
}

// mla returns the multi-head latent attention of layer i.
func (c *Config) mla(i int) Attention {
	p := layerPrefix(i) + "self_attn."
	m, heads := c.MLA, c.Heads
	qHead := m.QKNope + m.QKRope
	a := Attention{
		KVA:     mat(p+"kv_a_proj_with_mqa.weight", m.KVLoraRank+m.QKRope, c.Hidden),
		KVANorm: vec(p+"kv_a_layernorm.weight", m.KVLoraRank),
		KVB:     mat(p+"kv_b_proj.weight", heads*(m.QKNope+m.VHead), m.KVLoraRank),
		O:       mat(p+"o_proj.weight", c.Hidden, heads*m.VHead),
	}
	if m.QLoraRank == 0 {
		a.Q = mat(p+"q_proj.weight", heads*qHead, c.Hidden)
	} else {
		a.QA = mat(p+"q_a_proj.weight", m.QLoraRank, c.Hidden)
		a.QANorm = vec(p+"q_a_layernorm.weight", m.QLoraRank)
		a.QB = mat(p+"q_b_proj.weight", heads*qHead, m.QLoraRank)
	}
	return a
}
