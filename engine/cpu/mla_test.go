package cpu

import (
	"cmp"
	"math"
	"math/cmplx"
	"slices"
	"strings"
	"testing"

	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/model/modeltest"
)

// writeDeepSeek writes a random DeepSeek-V2 checkpoint of
// modeltest.DeepSeekV2(set) and loads it.
func writeDeepSeek(t *testing.T, set map[string]any) (*model.Config, *Weights) {
	t.Helper()
	dir := t.TempDir()
	if _, err := modeltest.WriteModel(dir, modeltest.DeepSeekV2(set), 7); err != nil {
		t.Fatal(err)
	}
	return load(t, dir)
}

// Naive float64 arithmetic for the checks below, written apart from the
// package's kernels.

func naiveMatVec(w []float32, x []float64) []float64 {
	out := make([]float64, len(w)/len(x))
	for r := range out {
		for c, v := range x {
			out[r] += float64(w[r*len(x)+c]) * v
		}
	}
	return out
}

func naiveRMS(x []float64, w []float32, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * r * float64(w[i])
	}
	return out
}

// naiveRope rotates the pairs (x[2i], x[2i+1]) of x as complex numbers by
// pos * inv[i], scaled by scale.
func naiveRope(x []float64, pos int, inv []float32, scale float64) {
	for i, f := range inv {
		z := complex(x[2*i], x[2*i+1]) * cmplx.Rect(scale, float64(pos)*float64(f))
		x[2*i], x[2*i+1] = real(z), imag(z)
	}
}

func widen64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// TestLatentAttention checks one sparse DeepSeek-V2 layer (q_lora_rank
// set, YaRN with mscale apart from mscale_all_dim, group_limited_greedy,
// routed_scaling_factor 2.5) against a direct float64 computation of
// DeepseekV2Attention and DeepseekV2Moe's routing for the last of four
// tokens: its attention output over all four positions, and the experts
// and weights its router chose.
func TestLatentAttention(t *testing.T) {
	cfg, w := writeDeepSeek(t, map[string]any{
		"num_hidden_layers": 1, "first_k_dense_replace": 0, "q_lora_rank": 24,
		"n_routed_experts": 16, "num_experts_per_tok": 3, "topk_method": "group_limited_greedy",
		"n_group": 4, "topk_group": 2, "routed_scaling_factor": 2.5,
		"rope_parameters": map[string]any{"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
			"original_max_position_embeddings": 128, "mscale": 1.0, "mscale_all_dim": 0.8},
	})
	tokens := []int{5, 17, 3, 42}
	s, err := NewSession(w, len(tokens))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range tokens {
		logits, err := s.Step(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range logits {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("logit %g", v)
			}
		}
	}

	// The naive computation.
	m, l := cfg.MLA, &w.Layers[0]
	heads, qk, kv := cfg.Heads, m.QKNope+m.QKRope, m.QKNope+m.VHead
	inv, _, err := cfg.Rope.Frequencies(cfg.MaxPositions)
	if err != nil {
		t.Fatal(err)
	}
	// get_mscale(4, 1) / get_mscale(4, 0.8) on cos and sin; the softmax
	// scale 24^-0.5 * get_mscale(4, 0.8)^2.
	ropeScale := (1 + 0.1*math.Log(4)) / (1 + 0.08*math.Log(4))
	scale := math.Pow(24, -0.5) * math.Pow(1+0.08*math.Log(4), 2)
	var keys, values [][]float64 // per position: heads x qk, heads x v
	var q, x0 []float64
	for pos, id := range tokens {
		x0 = widen64(w.Embed[id*cfg.Hidden : (id+1)*cfg.Hidden])
		h := naiveRMS(x0, l.AttnNorm, cfg.RMSNormEps)
		q = naiveMatVec(l.QB, naiveRMS(naiveMatVec(l.QA, h), l.QANorm, 1e-6))
		ckv := naiveMatVec(l.KVA, h)
		kRope := ckv[m.KVLoraRank:]
		naiveRope(kRope, pos, inv, ropeScale)
		kvb := naiveMatVec(l.KVB, naiveRMS(ckv[:m.KVLoraRank], l.KVANorm, 1e-6))
		k, v := make([]float64, heads*qk), make([]float64, heads*m.VHead)
		for hd := range heads {
			naiveRope(q[hd*qk+m.QKNope:(hd+1)*qk], pos, inv, ropeScale)
			copy(k[hd*qk:], kvb[hd*kv:hd*kv+m.QKNope])
			copy(k[hd*qk+m.QKNope:], kRope)
			copy(v[hd*m.VHead:], kvb[hd*kv+m.QKNope:(hd+1)*kv])
		}
		keys, values = append(keys, k), append(values, v)
	}
	att := make([]float64, heads*m.VHead)
	for hd := range heads {
		p := make([]float64, len(tokens))
		var sum float64
		for t := range p {
			var d float64
			for j := range qk {
				d += q[hd*qk+j] * keys[t][hd*qk+j]
			}
			p[t] = math.Exp(d * scale)
			sum += p[t]
		}
		for t := range p {
			for j := range m.VHead {
				att[hd*m.VHead+j] += p[t] / sum * values[t][hd*m.VHead+j]
			}
		}
	}
	if e := relErr(s.att, att); e > 1e-5 {
		t.Errorf("attention output differs from the direct computation by %.2e (relative)", e)
	}

	// The router: softmax, the 2 best of 4 groups by their best
	// probability, the top 3 among them, times 2.5.
	x1 := naiveMatVec(l.O, att)
	for i := range x1 {
		x1[i] += x0[i]
	}
	logits := naiveMatVec(l.Router, naiveRMS(x1, l.MLPNorm, cfg.RMSNormEps))
	probs := make([]float64, len(logits))
	var sum float64
	for i, v := range logits {
		probs[i] = math.Exp(v)
		sum += probs[i]
	}
	for i := range probs {
		probs[i] /= sum
	}
	groups := []int{0, 1, 2, 3}
	best := func(g int) float64 { return slices.Max(probs[4*g : 4*g+4]) }
	slices.SortFunc(groups, func(a, b int) int { return cmp.Compare(best(b), best(a)) })
	var candidates []int
	for _, g := range groups[:2] {
		candidates = append(candidates, 4*g, 4*g+1, 4*g+2, 4*g+3)
	}
	slices.SortStableFunc(candidates, func(a, b int) int { return cmp.Compare(probs[b], probs[a]) })
	r := s.Routing(0)
	if !slices.Equal(r.Experts, candidates[:3]) {
		t.Fatalf("experts %v, the direct computation %v (groups kept %v)", r.Experts, candidates[:3], groups[:2])
	}
	for j, e := range r.Experts {
		if want := 2.5 * probs[e]; math.Abs(float64(r.Weights[j])-want) > 1e-5*want {
			t.Errorf("expert %d: weight %g, want 2.5 x %g", e, r.Weights[j], probs[e])
		}
	}
	t.Logf("groups kept %v, experts %v, weights %v", groups[:2], r.Experts, r.Weights)
}

// TestDeepSeekV2Runs checks that a DeepSeek-V2 checkpoint shaped like
// V2-Lite (q_lora_rank null, the first layer dense, 2 shared experts,
// greedy top-k, YaRN) loads, fits, and runs eight tokens to finite
// logits, each sparse layer choosing top-k distinct experts.
func TestDeepSeekV2Runs(t *testing.T) {
	cfg, w := writeDeepSeek(t, nil)
	if err := Fits(cfg); err != nil {
		t.Fatal(err)
	}
	if w.Layers[0].Dense == nil || w.Layers[1].Shared == nil || w.Layers[1].Shared.Inter != 32 || w.Layers[1].Q == nil || w.Layers[1].QA != nil {
		t.Fatalf("layers not as the config says: dense first %v, shared %+v", w.Layers[0].Dense != nil, w.Layers[1].Shared)
	}
	s, err := NewSession(w, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		logits, err := s.Step((i * 7) % cfg.Vocab)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range logits {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("token %d: logit %g", i, v)
			}
		}
		for _, l := range cfg.MoELayers {
			e := slices.Clone(s.Routing(l).Experts)
			slices.Sort(e)
			if len(slices.Compact(e)) != cfg.TopK || e[0] < 0 || e[len(e)-1] >= cfg.Experts {
				t.Errorf("token %d, layer %d: experts %v", i, l, s.Routing(l).Experts)
			}
		}
	}
}

// TestSupportedMLA checks what the reference refuses of a DeepSeek
// config, and that each refusal says why.
func TestSupportedMLA(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]any
		want string
	}{
		{map[string]any{"norm_topk_prob": true}, "norm_topk_prob"},
		{map[string]any{"num_key_value_heads": 2}, "2 key/value heads for 4 attention heads"},
		{map[string]any{"rope_parameters": map[string]any{"rope_type": "linear", "factor": 2.0}}, `rope "linear"`},
		{map[string]any{"model_type": "deepseek_v3", "topk_method": "noaux_tc", "n_group": 1, "topk_group": 1}, "deepseek_v3's multi-head latent attention with a sigmoid router"},
	} {
		cfg, err := model.ParseConfig("config.json", modeltest.DeepSeekV2(tc.set))
		if err != nil {
			t.Fatal(err)
		}
		if err := Supported(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.set, err, tc.want)
		}
	}
	cfg, err := model.ParseConfig("config.json", modeltest.DeepSeekV2(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := Supported(cfg); err != nil {
		t.Errorf("a V2-Lite-shaped config: %v", err)
	}
}
