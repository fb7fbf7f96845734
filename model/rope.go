package model

import "math"

// Rope is a model's rotary position embedding: rotation i of a head's
// first Dim dimensions turns by position x Theta^(-2i/Dim), rescaled as
// Type says for contexts longer than the model was trained on.
type Rope struct {
	Theta float64 // rope_theta
	Dim   int     // the rotated dimensions of a head: HeadDim, or MLA's qk_rope_head_dim
	// Interleaved rotates the pairs (2i, 2i+1), as DeepSeek does, rather
	// than (i, i + Dim/2).
	Interleaved bool
	// Type is the scaling: "default" (none), "linear", "dynamic", "yarn",
	// ..., as transformers names it (rope_type, or type before 4.45).
	Type string
	// Factor is the context's scaling factor; 1 for "default".
	Factor float64
	// The YaRN parameters, 0 where the config leaves them to
	// transformers' defaults.
	OriginalMaxPositions int     // original_max_position_embeddings
	BetaFast, BetaSlow   float64 // beta_fast, beta_slow
	MScale, MScaleAllDim float64 // mscale, mscale_all_dim (DeepSeek)
	Truncate             bool    // truncate (gpt-oss has false; true when absent)
}

// readRope reads rope_theta and rope_scaling (transformers 4.x) or
// rope_parameters (5.x, which moves rope_theta inside it). A family with
// scaling by default (gpt-oss) sets Rope again when neither is there.
func (c *Config) readRope(r *reader) {
	c.Rope = Rope{Theta: r.float("rope_theta", c.family.ropeTheta, false), Dim: c.HeadDim, Type: "default", Factor: 1, Truncate: true}
	p := r.object("rope_parameters")
	if p == nil {
		p = r.object("rope_scaling")
	} else if p.has("full_attention") || p.has("sliding_attention") {
		r.fail("\"rope_parameters\" differs by layer type, which no family moec knows does")
		return
	}
	if p == nil {
		return
	}
	x := &c.Rope
	x.Theta = p.float("rope_theta", x.Theta, false)
	x.Type = p.string("rope_type", p.string("type", "default"))
	x.Factor = p.float("factor", 1, false)
	x.OriginalMaxPositions = p.optInt("original_max_position_embeddings", 0, 1, maxDim)
	x.BetaFast = p.float("beta_fast", 0, false)
	x.BetaSlow = p.float("beta_slow", 0, false)
	x.MScale = p.float("mscale", 0, true)
	x.MScaleAllDim = p.float("mscale_all_dim", 0, true)
	x.Truncate = p.bool("truncate", true)
}

// hasRope reports whether the config says anything of its rope scaling.
func hasRope(r *reader) bool { return r.has("rope_parameters") || r.has("rope_scaling") }

// InvFreq returns the inverse frequencies of plain rotary embeddings over
// r.Dim dimensions, theta^(-2i/Dim) for i < Dim/2, rounded where
// transformers rounds them: the exponent 2i/Dim in float32, the power and
// its reciprocal in float32. The CPU reference and the CUDA engine both
// rotate with these numbers.
func (r Rope) InvFreq() []float32 {
	inv := make([]float32, r.Dim/2)
	for i := range inv {
		e := float32(2*i) / float32(r.Dim)
		inv[i] = 1 / float32(math.Pow(r.Theta, float64(e)))
	}
	return inv
}
