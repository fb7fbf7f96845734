package model_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/model/modeltest"
)

// tiny describes a small checkpoint of one family.
type tiny struct {
	name    string
	layers  int
	dense   []int // layers without experts
	experts int
	hidden  int64
	inter   int64
	dtype   string
	naming  string         // "mixtral" or "mlp"
	config  map[string]any // its config.json
	extra   func(l int) []string
}

// expertName names a projection (0 gate, 1 up, 2 down) of an expert.
func expertName(naming string, l, e, p int) string {
	if naming == "mixtral" {
		return fmt.Sprintf("model.layers.%d.block_sparse_moe.experts.%d.%s.weight", l, e, []string{"w1", "w3", "w2"}[p])
	}
	return fmt.Sprintf("model.layers.%d.mlp.experts.%d.%s.weight", l, e, []string{"gate_proj", "up_proj", "down_proj"}[p])
}

func (m tiny) tensors() []modeltest.Tensor {
	ts := []modeltest.Tensor{{Name: "model.embed_tokens.weight", DType: m.dtype, Shape: []int64{10, m.hidden}}}
	for l := range m.layers {
		ts = append(ts, modeltest.Tensor{Name: fmt.Sprintf("model.layers.%d.self_attn.q_proj.weight", l), DType: m.dtype, Shape: []int64{m.hidden, m.hidden}})
		if m.extra != nil {
			for _, n := range m.extra(l) {
				ts = append(ts, modeltest.Tensor{Name: n, DType: m.dtype, Shape: []int64{m.inter, m.hidden}})
			}
		}
		if slices.Contains(m.dense, l) {
			continue
		}
		for e := range m.experts {
			for p := range 3 {
				sh := []int64{m.inter, m.hidden}
				if p == 2 {
					sh = []int64{m.hidden, m.inter}
				}
				ts = append(ts, modeltest.Tensor{Name: expertName(m.naming, l, e, p), DType: m.dtype, Shape: sh})
			}
		}
	}
	return ts
}

// cfg returns the tiny model's config, parsed.
func (m tiny) cfg(t *testing.T) *model.Config {
	t.Helper()
	b, _ := json.Marshal(m.config)
	c, err := model.ParseConfig(m.name+"/config.json", b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// common are the keys every tiny config shares.
func common(layers int, hidden int64, more map[string]any) map[string]any {
	m := map[string]any{"hidden_size": hidden, "num_hidden_layers": layers, "vocab_size": 10, "num_attention_heads": 2, "num_experts_per_tok": 2}
	for k, v := range more {
		m[k] = v
	}
	return m
}

var tinies = []tiny{
	{name: "mixtral", layers: 2, experts: 4, hidden: 8, inter: 12, dtype: "BF16", naming: "mixtral",
		config: common(2, 8, map[string]any{"model_type": "mixtral", "intermediate_size": 12, "num_local_experts": 4}),
		extra:  func(l int) []string { return []string{fmt.Sprintf("model.layers.%d.block_sparse_moe.gate.weight", l)} }},
	{name: "qwen2moe", layers: 3, experts: 3, hidden: 4, inter: 6, dtype: "BF16", naming: "mlp",
		config: common(3, 4, map[string]any{"model_type": "qwen2_moe", "moe_intermediate_size": 6, "num_experts": 3,
			"shared_expert_intermediate_size": 6, "decoder_sparse_step": 1, "mlp_only_layers": []int{}}),
		extra: func(l int) []string {
			return []string{fmt.Sprintf("model.layers.%d.mlp.shared_expert.gate_proj.weight", l), fmt.Sprintf("model.layers.%d.mlp.gate.weight", l)}
		}},
	{name: "deepseek", layers: 4, dense: []int{0}, experts: 5, hidden: 4, inter: 2, dtype: "F16", naming: "mlp",
		config: common(4, 4, map[string]any{"model_type": "deepseek_v2", "moe_intermediate_size": 2, "n_routed_experts": 5, "intermediate_size": 8,
			"first_k_dense_replace": 1, "moe_layer_freq": 1, "kv_lora_rank": 4, "qk_rope_head_dim": 2, "qk_nope_head_dim": 2, "v_head_dim": 2}),
		extra: func(l int) []string {
			if l == 0 {
				return []string{"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight"}
			}
			return []string{fmt.Sprintf("model.layers.%d.mlp.shared_experts.gate_proj.weight", l)}
		}},
	{name: "olmoe", layers: 2, experts: 6, hidden: 4, inter: 2, dtype: "F32", naming: "mlp",
		config: common(2, 4, map[string]any{"model_type": "olmoe", "intermediate_size": 2, "num_experts": 6})},
}

// checkExperts checks what Experts found and every packed expert against
// the tensors written.
func checkExperts(t *testing.T, m tiny, x *model.Experts) {
	t.Helper()
	var wantLayers []int
	for l := range m.layers {
		if !slices.Contains(m.dense, l) {
			wantLayers = append(wantLayers, l)
		}
	}
	bits, _ := model.DType(m.dtype).Bits()
	if x.Naming != m.naming || !slices.Equal(x.Layers, wantLayers) || x.PerLayer != m.experts || x.DType != model.DType(m.dtype) ||
		!slices.Equal(x.Gate, []int64{m.inter, m.hidden}) || !slices.Equal(x.Down, []int64{m.hidden, m.inter}) ||
		x.ExpertBytes != 3*m.inter*m.hidden*int64(bits/8) {
		t.Fatalf("%s: experts %+v", m.name, x)
	}
	byName := map[string][]byte{}
	for _, ts := range m.tensors() {
		byName[ts.Name] = ts.Bytes()
	}
	dst := make([]byte, x.ExpertBytes)
	for li, ml := range wantLayers {
		for e := range m.experts {
			var want []byte
			for p := range 3 {
				want = append(want, byName[expertName(m.naming, ml, e, p)]...)
			}
			if err := x.Pack(li, e, dst); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dst, want) {
				t.Fatalf("%s: expert (%d, %d) packed wrong", m.name, li, e)
			}
		}
	}
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := modeltest.WriteFile(path, b); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExpertsFamilies writes a tiny checkpoint of each family (one file,
// then shards with an index) and checks what Experts finds and packs,
// with the model's config and without one.
func TestExpertsFamilies(t *testing.T) {
	for _, m := range tinies {
		dir := t.TempDir()
		one := writeFile(t, filepath.Join(dir, "one", "model.safetensors"), modeltest.Encode(m.tensors()))
		files, index, err := modeltest.Shard(dir, m.tensors(), 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{one}, {dir}, {index}, files} {
			c, err := model.Open(args...)
			if err != nil {
				t.Fatalf("%s %v: %v", m.name, args, err)
			}
			for _, cfg := range []*model.Config{nil, m.cfg(t)} {
				x, err := c.Experts(cfg)
				if err != nil {
					t.Fatalf("%s %v: %v", m.name, args, err)
				}
				checkExperts(t, m, x)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestExpertsErrors checks that missing experts and experts that
// disagree, with each other or with the config, get clear errors naming
// the file and tensor.
func TestExpertsErrors(t *testing.T) {
	qwen := tinies[1]
	good := qwen.tensors()
	with := func(f func(ts []modeltest.Tensor) []modeltest.Tensor) []byte {
		return modeltest.Encode(f(slices.Clone(good)))
	}
	find := func(ts []modeltest.Tensor, name string) int {
		return slices.IndexFunc(ts, func(x modeltest.Tensor) bool { return x.Name == name })
	}
	up12 := "model.layers.1.mlp.experts.2.up_proj.weight"
	config := func(set map[string]any) map[string]any {
		m := common(3, 4, qwen.config)
		for k, v := range set {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		file   []byte
		config map[string]any
		err    string
	}{
		{"no experts", modeltest.Encode([]modeltest.Tensor{{Name: "model.embed_tokens.weight", DType: "F32", Shape: []int64{2}}}), nil, `no expert tensors`},
		{"fused", modeltest.Encode([]modeltest.Tensor{{Name: "model.layers.0.mlp.experts.gate_up_proj", DType: "BF16", Shape: []int64{2, 4, 2}}}), nil,
			`the experts are fused per layer \(tensor "model.layers.0.mlp.experts.gate_up_proj"\), which moec does not pack`},
		{"missing tensor", with(func(ts []modeltest.Tensor) []modeltest.Tensor {
			return slices.Delete(ts, find(ts, up12), find(ts, up12)+1)
		}), nil,
			`missing expert \(layer 1, expert 2\): no tensor "model.layers.1.mlp.experts.2.up_proj.weight" in .*model.safetensors`},
		{"missing expert", modeltest.Encode(good), config(map[string]any{"num_experts": 4}), `missing expert \(layer 0, expert 3\): no tensor "model.layers.0.mlp.experts.3.gate_proj.weight"`},
		{"missing layer", modeltest.Encode(good), config(map[string]any{"num_hidden_layers": 4}), `missing expert \(layer 3, expert 0\)`},
		{"too many experts", modeltest.Encode(good), config(map[string]any{"num_experts": 2}), `tensor "model.layers.0.mlp.experts.2.gate_proj.weight": expert 2, but the config says 2 experts`},
		{"dense layer", modeltest.Encode(good), config(map[string]any{"mlp_only_layers": []int{0}, "intermediate_size": 8}),
			`tensor "model.layers.0.mlp.experts.0.gate_proj.weight": layer 0 has experts, but the config makes it dense`},
		{"naming", modeltest.Encode(good), tinies[0].config, `the experts are named mlp, but a mixtral config names them under block_sparse_moe`},
		{"config shape", modeltest.Encode(good), config(map[string]any{"moe_intermediate_size": 5}),
			`tensor "model.layers.0.mlp.experts.0.gate_proj.weight" has shape \[6 4\], but the config makes every expert's gate projection \[5 4\]`},
		{"dtype", with(func(ts []modeltest.Tensor) []modeltest.Tensor { ts[find(ts, up12)].DType = "F16"; return ts }), nil,
			`model.safetensors: tensor "model.layers.1.mlp.experts.2.up_proj.weight" is F16, but "model.layers.0.mlp.experts.0.gate_proj.weight" is BF16`},
		{"first dtype", with(func(ts []modeltest.Tensor) []modeltest.Tensor {
			ts[find(ts, "model.layers.0.mlp.experts.0.up_proj.weight")].DType = "F16"
			return ts
		}), nil, `tensor "model.layers.0.mlp.experts.0.up_proj.weight" is F16, but "model.layers.0.mlp.experts.0.gate_proj.weight" is BF16`},
		{"shape between experts", with(func(ts []modeltest.Tensor) []modeltest.Tensor {
			ts[find(ts, "model.layers.1.mlp.experts.2.down_proj.weight")].Shape = []int64{2, 12}
			return ts
		}), nil, `tensor "model.layers.1.mlp.experts.2.down_proj.weight" has shape \[2 12\], but "model.layers.0.mlp.experts.0.down_proj.weight" has \[4 6\] \(every expert's down projection must match\)`},
		{"gate and up", with(func(ts []modeltest.Tensor) []modeltest.Tensor { ts[find(ts, up12)].Shape = []int64{4, 6}; return ts }), nil,
			`tensor "model.layers.1.mlp.experts.2.up_proj.weight" has shape \[4 6\], but "model.layers.1.mlp.experts.2.gate_proj.weight" has \[6 4\]`},
		{"two namings", with(func(ts []modeltest.Tensor) []modeltest.Tensor {
			return append(ts, modeltest.Tensor{Name: "model.layers.0.block_sparse_moe.experts.0.w1.weight", DType: "BF16", Shape: []int64{1}})
		}), nil, `name experts in two ways`},
	}
	for _, tc := range cases {
		path := writeFile(t, filepath.Join(t.TempDir(), "model.safetensors"), tc.file)
		c, err := model.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var cfg *model.Config
		if tc.config != nil {
			b, _ := json.Marshal(tc.config)
			if cfg, err = model.ParseConfig("config.json", b); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		_, err = c.Experts(cfg)
		c.Close()
		if err == nil {
			t.Errorf("%s: found", tc.name)
			continue
		}
		if !regexp.MustCompile(tc.err).MatchString(err.Error()) || !strings.HasPrefix(err.Error(), "safetensors: ") {
			t.Errorf("%s: error %q, want %q", tc.name, err, tc.err)
		}
	}
}

// TestPackErrors checks Pack's own errors.
func TestPackErrors(t *testing.T) {
	c := modeltest.Open(t, tinies[3].tensors())
	x, err := c.Experts(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Pack(2, 0, nil); err == nil || !strings.Contains(err.Error(), "outside the checkpoint (2 MoE layers, 6 experts)") {
		t.Errorf("Pack outside: %v", err)
	}
	if err := x.Pack(1, 0, make([]byte, 3)); err == nil || !strings.Contains(err.Error(), "needs 96 bytes, the destination has 3") {
		t.Errorf("Pack size: %v", err)
	}
	c.Close()
	if err := x.Pack(0, 0, make([]byte, 96)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Pack after Close: %v", err)
	}
}

// TestExpertNames checks the names of each family and near misses: only
// the three projections' weights of numbered experts are experts.
func TestExpertNames(t *testing.T) {
	names := map[string]bool{
		"model.layers.3.block_sparse_moe.experts.7.w2.weight": true,
		"model.layers.0.mlp.experts.59.gate_proj.weight":      true,
		"model.layers.12.mlp.experts.0.up_proj.weight":        true,
		"model.layers.1.mlp.shared_experts.gate_proj.weight":  false,
		"model.layers.1.mlp.shared_expert.up_proj.weight":     false,
		"model.layers.1.mlp.experts.2.gate_proj.bias":         false,
		"model.layers.1.mlp.experts.2.gate_proj.weight_scale": false,
		"model.layers.x.mlp.experts.2.gate_proj.weight":       false,
		"model.layers.1.mlp.experts.-2.gate_proj.weight":      false,
		"model.layers.1.mlp.experts.+2.gate_proj.weight":      false,
		"model.layers.1.mlp.experts.02.gate_proj.weight":      false,
		"model.layers.01.mlp.experts.2.gate_proj.weight":      false,
		"model.layers.1.mlp.experts..gate_proj.weight":        false,
		"model.layers.1.mlp.experts.2.w1.weight":              false,
		"model.layers.1.block_sparse_moe.gate.weight":         false,
		"lm_head.weight": false,
	}
	experts := func() error {
		var ts []modeltest.Tensor
		for name := range names {
			ts = append(ts, modeltest.Tensor{Name: name, DType: "U8", Shape: []int64{1}})
		}
		_, err := modeltest.Open(t, ts).Experts(nil)
		return err
	}
	// Two namings: the error names the first expert name and the first
	// of the other naming, sorted.
	want := `tensors "model.layers.0.mlp.experts.59.gate_proj.weight" and "model.layers.3.block_sparse_moe.experts.7.w2.weight" name experts in two ways`
	if err := experts(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %s", err, want)
	}
	// The experts found are layer 0's 59 and layer 12's 0: the first
	// missing one is expert 0 of layer 0.
	delete(names, "model.layers.3.block_sparse_moe.experts.7.w2.weight")
	want = `missing expert (layer 0, expert 0): no tensor "model.layers.0.mlp.experts.0.gate_proj.weight"`
	if err := experts(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("near misses: %v", err)
	}
}

// TestUnpack checks that Unpack undoes Pack, widening each projection
// exactly as Checkpoint.Float32 widens the tensor (fp32, bf16 and fp16
// checkpoints), and refuses sizes that do not fit.
func TestUnpack(t *testing.T) {
	for _, name := range []string{"qwen2_moe", "qwen2_moe_bf16", "qwen3_moe"} {
		dir := filepath.Join("..", "testdata", "models", name)
		cfg, err := model.ReadConfig(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := model.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		x, err := c.Experts(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l, e := len(x.Layers)-1, x.PerLayer-1
		packed := make([]byte, x.ExpertBytes)
		if err := x.Pack(l, e, packed); err != nil {
			t.Fatal(err)
		}
		mlp := cfg.Layer(x.Layers[l]).MoE.Expert(e)
		var got, want [3][]float32
		for i, w := range []model.Weight{mlp.Gate, mlp.Up, mlp.Down} {
			if want[i], err = c.Float32(w); err != nil {
				t.Fatal(err)
			}
			got[i] = make([]float32, len(want[i]))
		}
		if err := x.Unpack(packed, got[0], got[1], got[2]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Unpack(Pack(expert %d, %d)) is not the checkpoint's weights", name, l, e)
		}
		if err := x.Unpack(packed[1:], got[0], got[1], got[2]); err == nil {
			t.Errorf("%s: Unpack of a short expert: no error", name)
		}
		if err := x.Unpack(packed, got[0][1:], got[1], got[2]); err == nil {
			t.Errorf("%s: Unpack into a short gate: no error", name)
		}
	}
}
