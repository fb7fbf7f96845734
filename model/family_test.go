package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// describe lists every tensor of a layer as "name [shape]", sorted, with
// routed expert 0 standing for the others.
func describe(l Layer) []string {
	ws := append([]Weight{l.InputNorm, l.PostAttentionNorm, l.MLP.Gate, l.MLP.Up, l.MLP.Down}, l.Attention.weights()...)
	if m := l.MoE; m != nil {
		e := m.Expert(0)
		ws = append(ws, m.Router, m.RouterBias, m.Shared.Gate, m.Shared.Up, m.Shared.Down, m.SharedGate,
			m.Fused.GateUp, m.Fused.GateUpBias, m.Fused.Down, m.Fused.DownBias, e.Gate, e.Up, e.Down)
	}
	var out []string
	for _, w := range ws {
		if w.Present() {
			out = append(out, fmt.Sprintf("%s %v", w.Name, w.Shape))
		}
	}
	slices.Sort(out)
	return out
}

// TestLayers checks the tensors of a layer of each family, with the
// dimensions of the published models.
func TestLayers(t *testing.T) {
	for _, tc := range []struct {
		file   string
		layer  int
		window int
		want   string
	}{
		{"mixtral-8x7b.json", 0, 0, `
model.layers.0.block_sparse_moe.experts.0.w1.weight [14336 4096]
model.layers.0.block_sparse_moe.experts.0.w2.weight [4096 14336]
model.layers.0.block_sparse_moe.experts.0.w3.weight [14336 4096]
model.layers.0.block_sparse_moe.gate.weight [8 4096]
model.layers.0.input_layernorm.weight [4096]
model.layers.0.post_attention_layernorm.weight [4096]
model.layers.0.self_attn.k_proj.weight [1024 4096]
model.layers.0.self_attn.o_proj.weight [4096 4096]
model.layers.0.self_attn.q_proj.weight [4096 4096]
model.layers.0.self_attn.v_proj.weight [1024 4096]`},
		{"qwen1.5-moe-a2.7b.json", 23, 0, `
model.layers.23.input_layernorm.weight [2048]
model.layers.23.mlp.experts.0.down_proj.weight [2048 1408]
model.layers.23.mlp.experts.0.gate_proj.weight [1408 2048]
model.layers.23.mlp.experts.0.up_proj.weight [1408 2048]
model.layers.23.mlp.gate.weight [60 2048]
model.layers.23.mlp.shared_expert.down_proj.weight [2048 5632]
model.layers.23.mlp.shared_expert.gate_proj.weight [5632 2048]
model.layers.23.mlp.shared_expert.up_proj.weight [5632 2048]
model.layers.23.mlp.shared_expert_gate.weight [1 2048]
model.layers.23.post_attention_layernorm.weight [2048]
model.layers.23.self_attn.k_proj.bias [2048]
model.layers.23.self_attn.k_proj.weight [2048 2048]
model.layers.23.self_attn.o_proj.weight [2048 2048]
model.layers.23.self_attn.q_proj.bias [2048]
model.layers.23.self_attn.q_proj.weight [2048 2048]
model.layers.23.self_attn.v_proj.bias [2048]
model.layers.23.self_attn.v_proj.weight [2048 2048]`},
		{"qwen3-30b-a3b.json", 1, 0, `
model.layers.1.input_layernorm.weight [2048]
model.layers.1.mlp.experts.0.down_proj.weight [2048 768]
model.layers.1.mlp.experts.0.gate_proj.weight [768 2048]
model.layers.1.mlp.experts.0.up_proj.weight [768 2048]
model.layers.1.mlp.gate.weight [128 2048]
model.layers.1.post_attention_layernorm.weight [2048]
model.layers.1.self_attn.k_norm.weight [128]
model.layers.1.self_attn.k_proj.weight [512 2048]
model.layers.1.self_attn.o_proj.weight [2048 4096]
model.layers.1.self_attn.q_norm.weight [128]
model.layers.1.self_attn.q_proj.weight [4096 2048]
model.layers.1.self_attn.v_proj.weight [512 2048]`},
		{"olmoe-1b-7b.json", 0, 0, `
model.layers.0.input_layernorm.weight [2048]
model.layers.0.mlp.experts.0.down_proj.weight [2048 1024]
model.layers.0.mlp.experts.0.gate_proj.weight [1024 2048]
model.layers.0.mlp.experts.0.up_proj.weight [1024 2048]
model.layers.0.mlp.gate.weight [64 2048]
model.layers.0.post_attention_layernorm.weight [2048]
model.layers.0.self_attn.k_norm.weight [2048]
model.layers.0.self_attn.k_proj.weight [2048 2048]
model.layers.0.self_attn.o_proj.weight [2048 2048]
model.layers.0.self_attn.q_norm.weight [2048]
model.layers.0.self_attn.q_proj.weight [2048 2048]
model.layers.0.self_attn.v_proj.weight [2048 2048]`},
		{"deepseek-v2-lite.json", 0, 0, `
model.layers.0.input_layernorm.weight [2048]
model.layers.0.mlp.down_proj.weight [2048 10944]
model.layers.0.mlp.gate_proj.weight [10944 2048]
model.layers.0.mlp.up_proj.weight [10944 2048]
model.layers.0.post_attention_layernorm.weight [2048]
model.layers.0.self_attn.kv_a_layernorm.weight [512]
model.layers.0.self_attn.kv_a_proj_with_mqa.weight [576 2048]
model.layers.0.self_attn.kv_b_proj.weight [4096 512]
model.layers.0.self_attn.o_proj.weight [2048 2048]
model.layers.0.self_attn.q_proj.weight [3072 2048]`},
		{"deepseek-v2-lite.json", 1, 0, `
model.layers.1.input_layernorm.weight [2048]
model.layers.1.mlp.experts.0.down_proj.weight [2048 1408]
model.layers.1.mlp.experts.0.gate_proj.weight [1408 2048]
model.layers.1.mlp.experts.0.up_proj.weight [1408 2048]
model.layers.1.mlp.gate.weight [64 2048]
model.layers.1.mlp.shared_experts.down_proj.weight [2048 2816]
model.layers.1.mlp.shared_experts.gate_proj.weight [2816 2048]
model.layers.1.mlp.shared_experts.up_proj.weight [2816 2048]
model.layers.1.post_attention_layernorm.weight [2048]
model.layers.1.self_attn.kv_a_layernorm.weight [512]
model.layers.1.self_attn.kv_a_proj_with_mqa.weight [576 2048]
model.layers.1.self_attn.kv_b_proj.weight [4096 512]
model.layers.1.self_attn.o_proj.weight [2048 2048]
model.layers.1.self_attn.q_proj.weight [3072 2048]`},
		{"deepseek-v3.json", 3, 0, `
model.layers.3.input_layernorm.weight [7168]
model.layers.3.mlp.experts.0.down_proj.weight [7168 2048]
model.layers.3.mlp.experts.0.gate_proj.weight [2048 7168]
model.layers.3.mlp.experts.0.up_proj.weight [2048 7168]
model.layers.3.mlp.gate.e_score_correction_bias [256]
model.layers.3.mlp.gate.weight [256 7168]
model.layers.3.mlp.shared_experts.down_proj.weight [7168 2048]
model.layers.3.mlp.shared_experts.gate_proj.weight [2048 7168]
model.layers.3.mlp.shared_experts.up_proj.weight [2048 7168]
model.layers.3.post_attention_layernorm.weight [7168]
model.layers.3.self_attn.kv_a_layernorm.weight [512]
model.layers.3.self_attn.kv_a_proj_with_mqa.weight [576 7168]
model.layers.3.self_attn.kv_b_proj.weight [32768 512]
model.layers.3.self_attn.o_proj.weight [7168 16384]
model.layers.3.self_attn.q_a_layernorm.weight [1536]
model.layers.3.self_attn.q_a_proj.weight [1536 7168]
model.layers.3.self_attn.q_b_proj.weight [24576 1536]`},
		{"gpt-oss-20b.json", 0, 128, `
model.layers.0.input_layernorm.weight [2880]
model.layers.0.mlp.experts.down_proj [32 2880 2880]
model.layers.0.mlp.experts.down_proj_bias [32 2880]
model.layers.0.mlp.experts.gate_up_proj [32 2880 5760]
model.layers.0.mlp.experts.gate_up_proj_bias [32 5760]
model.layers.0.mlp.router.bias [32]
model.layers.0.mlp.router.weight [32 2880]
model.layers.0.post_attention_layernorm.weight [2880]
model.layers.0.self_attn.k_proj.bias [512]
model.layers.0.self_attn.k_proj.weight [512 2880]
model.layers.0.self_attn.o_proj.bias [2880]
model.layers.0.self_attn.o_proj.weight [2880 4096]
model.layers.0.self_attn.q_proj.bias [4096]
model.layers.0.self_attn.q_proj.weight [4096 2880]
model.layers.0.self_attn.sinks [64]
model.layers.0.self_attn.v_proj.bias [512]
model.layers.0.self_attn.v_proj.weight [512 2880]`},
	} {
		c := readTestConfig(t, tc.file)
		l := c.Layer(tc.layer)
		if d := cmp.Diff(strings.Split(strings.TrimSpace(tc.want), "\n"), describe(l)); d != "" {
			t.Errorf("%s layer %d (-want +got):\n%s", tc.file, tc.layer, d)
		}
		if l.Index != tc.layer || l.Attention.Window != tc.window || (l.MoE != nil) != c.Sparse(tc.layer) {
			t.Errorf("%s layer %d: index %d, window %d, MoE %v", tc.file, tc.layer, l.Index, l.Attention.Window, l.MoE != nil)
		}
	}
}

// TestTopLevel checks the tensors outside the layers.
func TestTopLevel(t *testing.T) {
	c := readTestConfig(t, "qwen1.5-moe-a2.7b.json")
	got := []Weight{c.Embedding(), c.FinalNorm(), c.LMHead()}
	want := []Weight{{"model.embed_tokens.weight", []int64{151936, 2048}}, {"model.norm.weight", []int64{2048}}, {"lm_head.weight", []int64{151936, 2048}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	c.TiedEmbeddings = true
	if c.LMHead().Name != "model.embed_tokens.weight" {
		t.Errorf("tied lm_head reads %q", c.LMHead().Name)
	}
	if c.Family() != "Qwen2-MoE" || c.RMSNormEps != 1e-6 || c.MaxPositions != 8192 || c.Activation() != (SwiGLU{}) || c.ClipQKV() != 0 {
		t.Errorf("%s eps %v, %d positions, %v, clip %v", c.Family(), c.RMSNormEps, c.MaxPositions, c.Activation(), c.ClipQKV())
	}
	if g := readTestConfig(t, "gpt-oss-20b.json"); g.Activation() != (SwiGLU{1.702, 7}) || g.Layer(1).MoE.Expert(0).Gate.Present() {
		t.Errorf("gpt-oss: %v, expert 0 %v", g.Activation(), g.Layer(1).MoE.Expert(0))
	}
	if g := readTestConfig(t, "gpt-oss-20b.json"); g.Layer(1).Attention.Window != 0 || g.Layer(22).Attention.Window != 128 {
		t.Errorf("gpt-oss windows: %d, %d", g.Layer(1).Attention.Window, g.Layer(22).Attention.Window)
	}
}

// TestRouterAndRope checks the router's rule and the rope of each family.
func TestRouterAndRope(t *testing.T) {
	plain := Rope{Theta: 10000, Dim: 128, Type: "default", Factor: 1, Truncate: true}
	for _, tc := range []struct {
		file   string
		router Router
		rope   Rope
	}{
		{"mixtral-8x7b.json", Router{Softmax, true, 1, 1, 1, GroupMax}, Rope{Theta: 1e6, Dim: 128, Type: "default", Factor: 1, Truncate: true}},
		{"qwen1.5-moe-a2.7b.json", Router{Softmax, false, 1, 1, 1, GroupMax}, Rope{Theta: 1e6, Dim: 128, Type: "default", Factor: 1, Truncate: true}},
		{"qwen3-30b-a3b.json", Router{Softmax, true, 1, 1, 1, GroupMax}, Rope{Theta: 1e6, Dim: 128, Type: "default", Factor: 1, Truncate: true}},
		{"olmoe-1b-7b.json", Router{Softmax, false, 1, 1, 1, GroupMax}, plain},
		{"deepseek-v2-lite.json", Router{Softmax, false, 1, 1, 1, GroupMax}, Rope{Theta: 10000, Dim: 64, Interleaved: true, Type: "yarn", Factor: 40,
			OriginalMaxPositions: 4096, BetaFast: 32, BetaSlow: 1, MScale: 0.707, MScaleAllDim: 0.707, Truncate: true}},
		{"deepseek-v3.json", Router{Sigmoid, true, 2.5, 8, 4, GroupTop2Sum}, Rope{Theta: 10000, Dim: 64, Interleaved: true, Type: "yarn", Factor: 40,
			OriginalMaxPositions: 4096, BetaFast: 32, BetaSlow: 1, MScale: 1, MScaleAllDim: 1, Truncate: true}},
		{"gpt-oss-20b.json", Router{TopKSoftmax, false, 1, 1, 1, GroupMax}, Rope{Theta: 150000, Dim: 64, Type: "yarn", Factor: 32,
			OriginalMaxPositions: 4096, BetaFast: 32, BetaSlow: 1}},
	} {
		c := readTestConfig(t, tc.file)
		if d := cmp.Diff(tc.router, c.Router); d != "" {
			t.Errorf("%s router (-want +got):\n%s", tc.file, d)
		}
		if d := cmp.Diff(tc.rope, c.Rope); d != "" {
			t.Errorf("%s rope (-want +got):\n%s", tc.file, d)
		}
	}
}

// edit returns the test config file with keys set (nil deletes a key).
func edit(t *testing.T, file string, set map[string]any) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		if v == nil {
			delete(keys, k)
		} else {
			keys[k] = v
		}
	}
	out, _ := json.Marshal(keys)
	return out
}

// TestTransformers5 checks that a config as transformers 5.x writes it
// (rope_parameters holding rope_theta, layer_types, qkv_bias, dtype)
// reads as the 4.x one does, and that 5.x's own keys are obeyed.
func TestTransformers5(t *testing.T) {
	same := cmpopts.IgnoreUnexported(Config{})
	for _, tc := range []struct {
		file string
		set  map[string]any
	}{
		{"qwen1.5-moe-a2.7b.json", map[string]any{"rope_theta": nil, "rope_scaling": nil, "torch_dtype": nil, "dtype": "bfloat16", "qkv_bias": true,
			"rope_parameters": map[string]any{"rope_theta": 1e6, "rope_type": "default"},
			"layer_types":     slices.Repeat([]string{"full_attention"}, 24)}},
		{"deepseek-v2-lite.json", map[string]any{"rope_theta": nil, "rope_scaling": nil, "mlp_bias": false, "transformers_version": "5.7.0",
			"rope_parameters": map[string]any{"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
				"original_max_position_embeddings": 4096, "rope_theta": 10000, "rope_type": "yarn", "type": "yarn"}}},
		{"gpt-oss-20b.json", map[string]any{"rope_theta": nil, "rope_scaling": nil, "layer_types": nil}},
	} {
		old := readTestConfig(t, tc.file)
		c, err := ParseConfig(tc.file, edit(t, tc.file, tc.set))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(old, c, same); d != "" {
			t.Errorf("%s (-4.x +5.x):\n%s", tc.file, d)
		}
		for i := range c.Layers {
			if d := cmp.Diff(old.Layer(i), c.Layer(i), cmpopts.IgnoreUnexported(MoE{})); d != "" {
				t.Errorf("%s layer %d (-4.x +5.x):\n%s", tc.file, i, d)
			}
		}
	}
	// qkv_bias false drops the biases; use_sliding_window slides the
	// even layers below max_window_layers.
	c, err := ParseConfig("config.json", edit(t, "qwen1.5-moe-a2.7b.json", map[string]any{"qkv_bias": false, "use_sliding_window": true, "max_window_layers": 4}))
	if err != nil {
		t.Fatal(err)
	}
	var windows []int
	for i := range 6 {
		windows = append(windows, c.Layer(i).Attention.Window)
	}
	if c.Layer(0).Attention.QBias.Present() || !slices.Equal(windows, []int{32768, 0, 32768, 0, 0, 0}) {
		t.Errorf("qkv_bias false: %v; windows %v", c.Layer(0).Attention.QBias, windows)
	}
}

// TestSparseLayers checks the rules that make a layer sparse.
func TestSparseLayers(t *testing.T) {
	for _, tc := range []struct {
		file string
		set  map[string]any
		want []int
	}{
		{"qwen1.5-moe-a2.7b.json", map[string]any{"num_hidden_layers": 6, "decoder_sparse_step": 2}, []int{1, 3, 5}},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"num_hidden_layers": 6, "mlp_only_layers": []int{0, 4, 99}}, []int{1, 2, 3, 5}},
		{"qwen3-30b-a3b.json", map[string]any{"num_hidden_layers": 6, "decoder_sparse_step": 3, "mlp_only_layers": []int{5}}, []int{2}},
		{"deepseek-v2-lite.json", map[string]any{"num_hidden_layers": 7, "first_k_dense_replace": 2, "moe_layer_freq": 2}, []int{2, 4, 6}},
	} {
		c, err := ParseConfig(tc.file, edit(t, tc.file, tc.set))
		if err != nil {
			t.Fatalf("%s %v: %v", tc.file, tc.set, err)
		}
		if !slices.Equal(c.MoELayers, tc.want) {
			t.Errorf("%s %v: MoE layers %v, want %v", tc.file, tc.set, c.MoELayers, tc.want)
		}
		for i := -1; i <= c.Layers; i++ {
			if c.Sparse(i) != slices.Contains(tc.want, i) {
				t.Errorf("%s %v: Sparse(%d) = %v", tc.file, tc.set, i, c.Sparse(i))
			}
		}
	}
}

// TestConfigKeyErrors checks the errors of keys each family reads.
func TestConfigKeyErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		set  map[string]any
		want string
	}{
		{"qwen1.5-moe-a2.7b.json", map[string]any{"layer_types": []string{"full_attention"}}, `config.json: "layer_types" has 1 entries for 24 layers`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"layer_types": slices.Repeat([]string{"local"}, 24)}, `config.json: "layer_types" has "local" for layer 0, want "full_attention" or "sliding_attention"`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"layer_types": slices.Repeat([]string{"sliding_attention"}, 24)}, `config.json: layer 0 slides, but there is no "sliding_window"`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"layer_types": "full"}, `config.json: "layer_types" is "full", want a list of strings`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"mlp_only_layers": []any{"x"}}, `config.json: "mlp_only_layers" is "x", want an integer >= 0`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"rope_scaling": 4}, `config.json: "rope_scaling" is 4, want an object`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"rope_scaling": map[string]any{"factor": -2}}, `config.json: "rope_scaling.factor" is -2, want a positive number`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"rope_parameters": map[string]any{"full_attention": map[string]any{}}}, `config.json: "rope_parameters" differs by layer type, which no family moec knows does`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"rms_norm_eps": "small"}, `config.json: "rms_norm_eps" is "small", want a positive number`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"norm_topk_prob": 1}, `config.json: "norm_topk_prob" is 1, want true or false`},
		{"qwen1.5-moe-a2.7b.json", map[string]any{"num_key_value_heads": 3}, `config.json: 16 attention heads cannot share 3 key/value heads: want a divisor of num_attention_heads`},
		{"deepseek-v3.json", map[string]any{"topk_method": "greedy"}, `config.json: deepseek_v3 config has "topk_method" "greedy", which moec does not know`},
		{"deepseek-v3.json", map[string]any{"scoring_func": "softmax"}, `config.json: deepseek_v3 config has "scoring_func" "softmax", want "sigmoid"`},
		{"deepseek-v3.json", map[string]any{"topk_method": 7}, `config.json: "topk_method" is 7, want a string`},
		{"deepseek-v3.json", map[string]any{"n_group": 7}, `config.json: 256 experts in 7 groups (n_group), 4 kept (topk_group), cannot give top-8`},
		{"deepseek-v2-lite.json", map[string]any{"attention_bias": true}, `config.json: deepseek_v2 config has "attention_bias": true, which no published DeepSeek model has and moec does not read`},
		{"deepseek-v2-lite.json", map[string]any{"moe_layer_freq": 0}, `config.json: "moe_layer_freq" is 0, want a positive integer`},
		{"olmoe-1b-7b.json", map[string]any{"clip_qkv": 0}, `config.json: "clip_qkv" is 0, want a positive number`},
	} {
		_, err := ParseConfig("config.json", edit(t, tc.file, tc.set))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s %v:\n got %v\nwant %s", tc.file, tc.set, err, tc.want)
		}
	}
}
