package model

import (
	"math"
	"strings"
	"testing"
)

// The expected numbers below are derived by hand from transformers 5.x's
// _compute_yarn_parameters (modeling_rope_utils.py):
//
//	find_correction_dim(r) = dim * ln(orig / (r * 2π)) / (2 ln base)
//	low, high = floor(dim(beta_fast)), ceil(dim(beta_slow))   (truncate)
//	ramp(j) = clamp((j - low) / (high - low), 0, 1)
//	inv(j) = base^(-2j/dim) / factor * ramp(j) + base^(-2j/dim) * (1 - ramp(j))
//	attention_factor = get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
//	get_mscale(s, m) = 0.1 m ln s + 1
//
// and DeepseekV2Attention's softmax scale, qk_head_dim^-0.5 *
// get_mscale(factor, mscale_all_dim)^2 (DeepSeek's code; transformers PR
// #47435).

// yarnWant returns inv(j) by the formula above in float64, for ramp
// bounds low and high.
func yarnWant(j, dim int, base, factor, low, high float64) float64 {
	extra := math.Pow(base, -float64(2*j)/float64(dim))
	ramp := min(max((float64(j)-low)/(high-low), 0), 1)
	return extra/factor*ramp + extra*(1-ramp)
}

func checkYarn(t *testing.T, name string, r Rope, maxPos int, base, factor, low, high float64, attn float64) {
	t.Helper()
	inv, a, err := r.Frequencies(maxPos)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(inv) != r.Dim/2 {
		t.Fatalf("%s: %d frequencies for %d dimensions", name, len(inv), r.Dim)
	}
	for j, got := range inv {
		want := yarnWant(j, r.Dim, base, factor, low, high)
		if math.Abs(float64(got)-want) > 2e-7*want {
			t.Errorf("%s: inv_freq[%d] = %.9g, want %.9g", name, j, got, want)
		}
	}
	if math.Abs(float64(a)-attn) > 1e-7 {
		t.Errorf("%s: attention factor %.9g, want %.9g", name, a, attn)
	}
}

// TestYarn checks YaRN's frequencies and attention factor against the
// formulas, for DeepSeek-V2-Lite's rope (and its softmax scale), a rope
// with mscale apart from mscale_all_dim, one without either, gpt-oss's
// untruncated ramp and a config's own attention_factor.
func TestYarn(t *testing.T) {
	lite := readTestConfig(t, "deepseek-v2-lite.json")
	// dim 64, base 1e4, original 4096 positions: 64 ln(4096 / 64π) /
	// 2 ln 1e4 = 10.47 and 64 ln(4096 / 2π) / 2 ln 1e4 = 22.51, so the
	// ramp runs from 10 to 23. mscale = mscale_all_dim: factor 1.
	checkYarn(t, "deepseek-v2-lite", lite.Rope, lite.MaxPositions, 1e4, 40, 10, 23, 1)
	// Below the ramp YaRN keeps the plain frequencies, bit for bit.
	inv, _, _ := lite.Rope.Frequencies(lite.MaxPositions)
	for j, f := range lite.Rope.InvFreq()[:11] {
		if inv[j] != f {
			t.Errorf("deepseek-v2-lite: inv_freq[%d] = %g, not the plain %g", j, inv[j], f)
		}
	}
	// 192^-0.5 * (0.1 * 0.707 * ln 40 + 1)^2 = 0.07216878 * 1.26080378^2.
	if got, want := lite.MLA.SoftmaxScale, 0.1147213867929261; math.Abs(got-want) > 1e-15 {
		t.Errorf("deepseek-v2-lite: softmax scale %.16g, want %.16g", got, want)
	}
	if lite.MLA.NormEps != 1e-6 {
		t.Errorf("deepseek-v2-lite: q/kv_a_layernorm epsilon %g, want 1e-6", lite.MLA.NormEps)
	}

	// dim 8, original 128: 8 ln(128 / 64π) / 2 ln 1e4 = -0.196 -> 0, and
	// 8 ln(128 / 2π) / 2 ln 1e4 = 1.31 -> 2. (1 + 0.1 ln 4) / (1 + 0.08
	// ln 4) = 1.02495796.
	tiny := Rope{Theta: 1e4, Dim: 8, Interleaved: true, Type: "yarn", Factor: 4, OriginalMaxPositions: 128, MScale: 1, MScaleAllDim: 0.8, Truncate: true}
	checkYarn(t, "mscale 1, mscale_all_dim 0.8", tiny, 512, 1e4, 4, 0, 2, 1.0249579607969668)
	plain := tiny
	plain.MScale, plain.MScaleAllDim, plain.Factor = 0, 0, 40
	checkYarn(t, "no mscale", plain, 512, 1e4, 40, 0, 2, 1.3688879454113936) // 1 + 0.1 ln 40
	own := tiny
	own.AttentionFactor = 0.5
	checkYarn(t, "attention_factor", own, 512, 1e4, 4, 0, 2, 0.5)
	noOrig := tiny
	noOrig.OriginalMaxPositions = 0 // max_position_embeddings stands in
	checkYarn(t, "no original_max_position_embeddings", noOrig, 128, 1e4, 4, 0, 2, 1.0249579607969668)

	// gpt-oss: base 150000, factor 32, no truncation: the ramp runs from
	// 64 ln(4096 / 64π) / 2 ln 150000 = 8.0928 to 17.3980.
	oss := readTestConfig(t, "gpt-oss-20b.json")
	checkYarn(t, "gpt-oss", oss.Rope, oss.MaxPositions, 150000, 32, 8.092779115512402, 17.39802450158856, 1+0.1*math.Log(32))

	if _, _, err := (Rope{Theta: 1e4, Dim: 8, Type: "linear", Factor: 2}).Frequencies(512); err == nil || !strings.Contains(err.Error(), `"linear"`) {
		t.Errorf("linear scaling: error %v", err)
	}
	if _, _, err := (Rope{Theta: 1e4, Dim: 8, Type: "yarn", Factor: 2}).Frequencies(0); err == nil {
		t.Error("yarn without any context length succeeded")
	}
}
