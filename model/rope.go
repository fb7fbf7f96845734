package model

import (
	"fmt"
	"math"
)

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
	// AttentionFactor is attention_factor, the config's own scale of
	// cos and sin; 0 when it leaves it to YaRN's formula.
	AttentionFactor float64
	Truncate        bool // truncate (gpt-oss has false; true when absent)
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
	x.AttentionFactor = p.float("attention_factor", 0, true)
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

// Frequencies returns the inverse frequencies r rotates by and the factor
// transformers multiplies cos and sin by (its attention_factor), for
// maxPositions, the config's max_position_embeddings: InvFreq and 1 for
// "default", YaRN's for "yarn". Other scalings are an error.
func (r Rope) Frequencies(maxPositions int) ([]float32, float32, error) {
	switch r.Type {
	case "default":
		return r.InvFreq(), 1, nil
	case "yarn":
		return r.yarn(maxPositions)
	}
	return nil, 0, fmt.Errorf("rope scaling %q is not one moec computes (default, yarn)", r.Type)
}

// yarn computes _compute_yarn_parameters of transformers 5.x
// (modeling_rope_utils.py): the frequencies of the dimensions that turn
// fewer than beta_slow times over the original context divided by
// Factor, those that turn more than beta_fast times kept, a linear ramp
// between; and attention_factor, get_mscale(Factor, MScale) /
// get_mscale(Factor, MScaleAllDim) when both are set (DeepSeek), else
// get_mscale(Factor), unless the config gives it. The tensor arithmetic
// is float32 and rounds where torch rounds (each elementwise operation);
// the Python scalars (the correction range, the factors) are float64.
func (r Rope) yarn(maxPositions int) ([]float32, float32, error) {
	orig := r.OriginalMaxPositions
	if orig == 0 {
		orig = maxPositions
	}
	if orig <= 0 || r.Dim < 2 || r.Factor <= 0 || r.Theta <= 1 {
		return nil, 0, fmt.Errorf("yarn rope over %d dimensions, factor %g, theta %g and an original context of %d positions: want positive sizes and theta > 1", r.Dim, r.Factor, r.Theta, orig)
	}
	attn := r.AttentionFactor
	if attn == 0 {
		if r.MScale != 0 && r.MScaleAllDim != 0 {
			attn = YarnMScale(r.Factor, r.MScale) / YarnMScale(r.Factor, r.MScaleAllDim)
		} else {
			attn = YarnMScale(r.Factor, 1)
		}
	}
	betaFast, betaSlow := r.BetaFast, r.BetaSlow
	if betaFast == 0 { // `or 32`: 0 and absent alike
		betaFast = 32
	}
	if betaSlow == 0 {
		betaSlow = 1
	}
	dim := float64(r.Dim)
	correction := func(rotations float64) float64 {
		return dim * math.Log(float64(orig)/(rotations*2*math.Pi)) / (2 * math.Log(r.Theta))
	}
	low, high := correction(betaFast), correction(betaSlow)
	if r.Truncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = max(low, 0), min(high, dim-1)
	if low == high {
		high += 0.001 // transformers' guard against a zero-width ramp
	}
	width := float32(high - low)
	factor := float32(r.Factor)
	inv := make([]float32, r.Dim/2)
	for i := range inv {
		e := float32(2*i) / float32(r.Dim)
		pos := float32(math.Pow(r.Theta, float64(e)))
		extrapolation := 1 / pos
		interpolation := 1 / (factor * pos)
		ramp := min(max((float32(i)-float32(low))/width, 0), 1)
		keep := 1 - ramp // inv_freq_extrapolation_factor
		// The conversions round each product, as torch does, and keep
		// the compiler from fusing them.
		inv[i] = float32(interpolation*(1-keep)) + float32(extrapolation*keep)
	}
	return inv, float32(attn), nil
}

// YarnMScale is YaRN's magnitude correction for a context scaled by
// factor, 0.1 * mscale * ln(factor) + 1, and 1 when factor <= 1
// (get_mscale in transformers, yarn_get_mscale in DeepSeek's code).
func YarnMScale(factor, mscale float64) float64 {
	if factor <= 1 {
		return 1
	}
	return 0.1*mscale*math.Log(factor) + 1
}
