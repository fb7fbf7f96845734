package model

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestHalfToFloat32(t *testing.T) {
	for h, want := range map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 5.960464477539063e-08,
		0x0400: 6.103515625e-05, 0x3555: 0.333251953125,
	} {
		if got := HalfToFloat32(h); got != want {
			t.Errorf("HalfToFloat32(%#04x) = %g, want %g", h, got, want)
		}
	}
	if !math.IsInf(float64(HalfToFloat32(0xfc00)), -1) || !math.IsNaN(float64(HalfToFloat32(0x7e00))) {
		t.Error("infinities and NaNs are not kept")
	}
}

func TestFloat32ToBF16(t *testing.T) {
	for f, want := range map[float32]uint16{
		1: 0x3f80, -2: 0xc000, 1.00390625: 0x3f80, // halfway to 0x3f81: to even
		1.01171875: 0x3f82, // halfway between 0x3f81 and 0x3f82: to even
		3.0e38:     0x7f62,
	} {
		if got := Float32ToBF16(f); got != want {
			t.Errorf("Float32ToBF16(%g) = %#04x, want %#04x", f, got, want)
		}
	}
	if got := Float32ToBF16(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("NaN rounds to %#04x", got)
	}
}

// TestTransformers5Checkpoints reads the tiny checkpoints that
// transformers 5.17 saved (testdata/models, made by tools/tiny): their
// configs in 5.x's form (rope_parameters, layer_types, qkv_bias, Qwen3's
// num_local_experts) and every weight each layer names, in F32, F16 and
// BF16.
func TestTransformers5Checkpoints(t *testing.T) {
	want := map[string]struct {
		typ                   string
		layers, experts, topk int
		moe                   []int
		tied                  bool
	}{
		"mixtral":        {"mixtral", 2, 8, 2, []int{0, 1}, true},
		"olmoe":          {"olmoe", 2, 12, 4, []int{0, 1}, false},
		"qwen2_moe":      {"qwen2_moe", 3, 12, 4, []int{0, 2}, false},
		"qwen2_moe_bf16": {"qwen2_moe", 4, 10, 3, []int{1, 3}, false},
		"qwen3_moe":      {"qwen3_moe", 3, 12, 4, []int{1, 2}, false},
	}
	for name, w := range want {
		dir := filepath.Join("..", "testdata", "models", name)
		cfg, err := ReadConfig(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Type != w.typ || cfg.Layers != w.layers || cfg.Experts != w.experts || cfg.TopK != w.topk ||
			!slices.Equal(cfg.MoELayers, w.moe) || cfg.TiedEmbeddings != w.tied || cfg.Rope.Theta == 0 {
			t.Errorf("%s: read as %s, %d layers, %d experts top-%d, MoE layers %v, tied %v, rope theta %g",
				name, cfg.Type, cfg.Layers, cfg.Experts, cfg.TopK, cfg.MoELayers, cfg.TiedEmbeddings, cfg.Rope.Theta)
		}
		ck, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		ws := []Weight{cfg.Embedding(), cfg.FinalNorm(), cfg.LMHead()}
		for i := range cfg.Layers {
			l := cfg.Layer(i)
			a := l.Attention
			ws = append(ws, l.InputNorm, l.PostAttentionNorm, a.Q, a.K, a.V, a.O, a.QBias, a.KBias, a.VBias, a.QNorm, a.KNorm)
			if l.MoE == nil {
				ws = append(ws, l.MLP.Gate, l.MLP.Up, l.MLP.Down)
				continue
			}
			ws = append(ws, l.MoE.Router, l.MoE.SharedGate, l.MoE.Shared.Gate, l.MoE.Shared.Up, l.MoE.Shared.Down)
			for e := range cfg.Experts {
				x := l.MoE.Expert(e)
				ws = append(ws, x.Gate, x.Up, x.Down)
			}
		}
		for _, wt := range ws {
			if !wt.Present() {
				continue
			}
			f, err := ck.Float32(wt)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if int64(len(f)) != wt.Elems() {
				t.Errorf("%s: %s: %d values, want %d", name, wt.Name, len(f), wt.Elems())
			}
		}
		// A weight with the wrong shape is an error that names it.
		bad := cfg.Embedding()
		bad.Shape = []int64{bad.Shape[0], bad.Shape[1] + 1}
		if _, err := ck.Float32(bad); err == nil || !strings.Contains(err.Error(), bad.Name) {
			t.Errorf("%s: a wrong shape gives %v", name, err)
		}
		ck.Close()
	}
}

// TestConfigWeights checks that Config.Weights lists the tensors the
// parameter count counts, for every family whose count is exact.
func TestConfigWeights(t *testing.T) {
	for _, file := range []string{"deepseek-v2-lite.json", "deepseek-v3.json", "mixtral-8x7b.json", "olmoe-1b-7b.json", "qwen1.5-moe-a2.7b.json", "qwen3-30b-a3b.json"} {
		c := readTestConfig(t, file)
		var n int64
		names := map[string]bool{}
		for _, w := range c.Weights() {
			n += w.Elems()
			if names[w.Name] {
				t.Errorf("%s: %s listed twice", file, w.Name)
			}
			names[w.Name] = true
		}
		if n != c.TotalParams() {
			t.Errorf("%s: the weights hold %d parameters, TotalParams says %d", file, n, c.TotalParams())
		}
	}
}
