package cudart

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moepolicy/moec/rt"
)

// stTensor is a tensor for a test file.
type stTensor struct {
	name  string
	dtype string
	shape []int64
	data  []byte // nil: made from the name
}

var testDTypeSizes = map[string]int{"BF16": 2, "F16": 2, "F32": 4, "I8": 1, "Q4": 1}

// bytesOf returns a tensor's data: given, or a pattern from its name.
func (t stTensor) bytesOf() []byte {
	if t.data != nil {
		return t.data
	}
	n := testDTypeSizes[t.dtype]
	for _, d := range t.shape {
		n *= int(d)
	}
	b := make([]byte, (n+7)/8*8)
	fillExpert(b, rt.Key{Layer: int32(len(t.name)), Expert: int32(crc(t.name))})
	return b[:n]
}

func crc(s string) uint32 {
	h := uint32(2166136261)
	for i := range len(s) {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// encodeST returns a safetensors file of the tensors, in order.
func encodeST(ts []stTensor) []byte {
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, t := range ts {
		b := t.bytesOf()
		header[t.name] = map[string]any{"dtype": t.dtype, "shape": t.shape, "data_offsets": []int{len(data), len(data) + len(b)}}
		data = append(data, b...)
	}
	h, _ := json.Marshal(header)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// model describes a tiny checkpoint of one family.
type stModel struct {
	name    string
	layers  int
	dense   []int // layers without experts
	experts int
	hidden  int64
	inter   int64
	dtype   string
	naming  string // "mixtral" or "mlp"
	config  map[string]any
	extra   func(l int) []string // other tensors of layer l
}

func (m stModel) tensors() []stTensor {
	var ts []stTensor
	ts = append(ts, stTensor{name: "model.embed_tokens.weight", dtype: m.dtype, shape: []int64{10, m.hidden}})
	for l := range m.layers {
		ts = append(ts, stTensor{name: fmt.Sprintf("model.layers.%d.self_attn.q_proj.weight", l), dtype: m.dtype, shape: []int64{m.hidden, m.hidden}})
		if m.extra != nil {
			for _, n := range m.extra(l) {
				ts = append(ts, stTensor{name: n, dtype: m.dtype, shape: []int64{m.inter, m.hidden}})
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
				ts = append(ts, stTensor{name: expertName(m.naming, l, e, p), dtype: m.dtype, shape: sh})
			}
		}
	}
	return ts
}

var stModels = []stModel{
	{name: "mixtral", layers: 2, experts: 4, hidden: 8, inter: 12, dtype: "BF16", naming: "mixtral",
		config: map[string]any{"num_hidden_layers": 2, "num_local_experts": 4},
		extra:  func(l int) []string { return []string{fmt.Sprintf("model.layers.%d.block_sparse_moe.gate.weight", l)} }},
	{name: "qwen2moe", layers: 3, experts: 3, hidden: 4, inter: 6, dtype: "BF16", naming: "mlp",
		config: map[string]any{"num_hidden_layers": 3, "num_experts": 3, "decoder_sparse_step": 1, "mlp_only_layers": []int{}},
		extra: func(l int) []string {
			return []string{fmt.Sprintf("model.layers.%d.mlp.shared_expert.gate_proj.weight", l), fmt.Sprintf("model.layers.%d.mlp.gate.weight", l)}
		}},
	{name: "deepseek", layers: 4, dense: []int{0}, experts: 5, hidden: 4, inter: 2, dtype: "F16", naming: "mlp",
		config: map[string]any{"num_hidden_layers": 4, "first_k_dense_replace": 1, "moe_layer_freq": 1, "n_routed_experts": 5},
		extra: func(l int) []string {
			if l == 0 {
				return []string{"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight"}
			}
			return []string{fmt.Sprintf("model.layers.%d.mlp.shared_experts.gate_proj.weight", l)}
		}},
	{name: "olmoe", layers: 2, experts: 6, hidden: 4, inter: 2, dtype: "F32", naming: "mlp"},
}

// checkPacked checks a checkpoint's layout and every packed expert
// against the tensors written.
func checkPacked(t *testing.T, m stModel, c *Checkpoint) {
	t.Helper()
	var wantLayers []int
	for l := range m.layers {
		if !slices.Contains(m.dense, l) {
			wantLayers = append(wantLayers, l)
		}
	}
	es := int64(testDTypeSizes[m.dtype])
	l := c.Layout
	if l.Naming != m.naming || !slices.Equal(l.Layers, wantLayers) || l.Experts != m.experts || l.DType != m.dtype ||
		!slices.Equal(l.Gate, []int64{m.inter, m.hidden}) || !slices.Equal(l.Down, []int64{m.hidden, m.inter}) ||
		l.ExpertBytes != 3*m.inter*m.hidden*es {
		t.Fatalf("%s: layout %+v", m.name, l)
	}
	shape := l.Shape(2)
	h, err := OpenHost(Options{Shape: shape, Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := c.Pack(h.Host); err != nil {
		t.Fatal(err)
	}
	byName := map[string][]byte{}
	for _, ts := range m.tensors() {
		byName[ts.name] = ts.bytesOf()
	}
	for li, ml := range wantLayers {
		for e := range m.experts {
			var want []byte
			for p := range 3 {
				want = append(want, byName[expertName(m.naming, ml, e, p)]...)
			}
			if got := h.Host(rt.Key{Layer: int32(li), Expert: int32(e)}); !bytes.Equal(got, want) {
				t.Fatalf("%s: expert (%d, %d) packed wrong", m.name, li, e)
			}
		}
	}
}

// TestCheckpointFamilies writes a tiny checkpoint of each family (one
// file, then shards with an index) and checks what it finds and packs.
func TestCheckpointFamilies(t *testing.T) {
	for _, m := range stModels {
		dir := t.TempDir()
		if m.config != nil {
			b, _ := json.Marshal(m.config)
			writeFile(t, filepath.Join(dir, "config.json"), b)
		}
		one := writeFile(t, filepath.Join(dir, "one", "model.safetensors"), encodeST(m.tensors()))
		if m.config != nil {
			b, _ := json.Marshal(m.config)
			writeFile(t, filepath.Join(dir, "one", "config.json"), b)
		}
		c, err := OpenCheckpoint(one)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		checkPacked(t, m, c)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		// Three shards and an index.
		ts := m.tensors()
		shards := [][]stTensor{ts[:len(ts)/3], ts[len(ts)/3 : 2*len(ts)/3], ts[2*len(ts)/3:]}
		weightMap := map[string]string{}
		var files []string
		for i, sh := range shards {
			name := fmt.Sprintf("model-%05d-of-00003.safetensors", i+1)
			files = append(files, writeFile(t, filepath.Join(dir, name), encodeST(sh)))
			for _, x := range sh {
				weightMap[x.name] = name
			}
		}
		ix, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": weightMap})
		index := writeFile(t, filepath.Join(dir, "model.safetensors.index.json"), ix)
		for _, args := range [][]string{{dir}, {index}, files} {
			c, err := OpenCheckpoint(args...)
			if err != nil {
				t.Fatalf("%s %v: %v", m.name, args, err)
			}
			checkPacked(t, m, c)
			c.Close()
		}
	}
}

// TestCheckpointErrors checks that malformed files, missing experts and
// experts that disagree get clear errors naming the file and tensor.
func TestCheckpointErrors(t *testing.T) {
	qwen := stModels[1]
	good := qwen.tensors()
	withTensor := func(f func(ts []stTensor) []stTensor) []byte { return encodeST(f(slices.Clone(good))) }
	find := func(ts []stTensor, name string) int {
		for i, x := range ts {
			if x.name == name {
				return i
			}
		}
		panic(name)
	}
	up12 := "model.layers.1.mlp.experts.2.up_proj.weight"
	header := func(h string, data int) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		return append(append(b, h...), make([]byte, data)...)
	}
	cases := []struct {
		name   string
		file   []byte
		config map[string]any
		err    string
	}{
		{"short", []byte{1, 2, 3}, nil, `model.safetensors: 3 bytes, too short for a safetensors file`},
		{"header length", binary.LittleEndian.AppendUint64(nil, 1<<40), nil, `model.safetensors: header length 1099511627776 runs past the end of the file \(8 bytes\)`},
		{"bad json", header(`{"a": [1, 2`, 0), nil, `model.safetensors: bad JSON header: unexpected end of JSON input`},
		{"not an object", header(`[1]`, 0), nil, `model.safetensors: bad JSON header`},
		{"bad entry", header(`{"x": {"dtype": 3}}`, 0), nil, `tensor "x": bad header entry`},
		{"offsets count", header(`{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}`, 4), nil, `tensor "x": data_offsets has 1 numbers, want 2`},
		{"offsets past end", header(`{"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, 8), nil, `model.safetensors: tensor "x": data offsets \[0, 16\) run past the end of the data \(8 bytes\)`},
		{"offsets reversed", header(`{"x": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}`, 8), nil, `data offsets \[4, 0\)`},
		{"size", header(`{"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}`, 8), nil, `tensor "x": F32 of shape \[3\] is 12 bytes, but its data offsets hold 8`},
		{"shape", header(`{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 8]}}`, 8), nil, `tensor "x": bad shape \[-1\]`},
		{"no experts", encodeST([]stTensor{{name: "model.embed_tokens.weight", dtype: "F32", shape: []int64{2}}}), nil, `no expert tensors`},
		{"missing tensor", withTensor(func(ts []stTensor) []stTensor { return slices.Delete(ts, find(ts, up12), find(ts, up12)+1) }), nil,
			`missing expert \(layer 1, expert 2\): no tensor "model.layers.1.mlp.experts.2.up_proj.weight" in .*model.safetensors`},
		{"missing expert", encodeST(good), map[string]any{"num_hidden_layers": 3, "num_experts": 4}, `missing expert \(layer 0, expert 3\): no tensor "model.layers.0.mlp.experts.3.gate_proj.weight"`},
		{"missing layer", encodeST(good), map[string]any{"num_hidden_layers": 4, "num_experts": 3}, `missing expert \(layer 3, expert 0\)`},
		{"too many experts", encodeST(good), map[string]any{"num_hidden_layers": 3, "num_experts": 2}, `tensor "model.layers.0.mlp.experts.2.gate_proj.weight": expert 2, but .*config.json says 2 experts`},
		{"dense layer", encodeST(good), map[string]any{"num_hidden_layers": 3, "first_k_dense_replace": 1, "n_routed_experts": 3}, `tensor "model.layers.0.mlp.experts.0.gate_proj.weight": layer 0 has experts, but .*config.json makes it dense`},
		{"bad config", encodeST(good), map[string]any{"num_hidden_layers": "three"}, `config.json: bad JSON`},
		{"dtype", withTensor(func(ts []stTensor) []stTensor { ts[find(ts, up12)].dtype = "F16"; return ts }), nil,
			`model.safetensors: tensor "model.layers.1.mlp.experts.2.up_proj.weight" is F16, but "model.layers.0.mlp.experts.0.gate_proj.weight" is BF16`},
		{"unknown dtype", withTensor(func(ts []stTensor) []stTensor { ts[find(ts, up12)].dtype = "Q4"; return ts }), nil,
			`tensor "model.layers.1.mlp.experts.2.up_proj.weight" has unknown dtype "Q4"`},
		{"shape between experts", withTensor(func(ts []stTensor) []stTensor {
			i := find(ts, "model.layers.1.mlp.experts.2.down_proj.weight")
			ts[i].shape = []int64{2, 12}
			return ts
		}), nil, `tensor "model.layers.1.mlp.experts.2.down_proj.weight" has shape \[2 12\], but "model.layers.0.mlp.experts.0.down_proj.weight" has \[4 6\] \(every expert's down projection must match\)`},
		{"gate and up", withTensor(func(ts []stTensor) []stTensor { ts[find(ts, up12)].shape = []int64{4, 6}; return ts }), nil,
			`tensor "model.layers.1.mlp.experts.2.up_proj.weight" has shape \[4 6\], but "model.layers.1.mlp.experts.2.gate_proj.weight" has \[6 4\]`},
		{"two namings", withTensor(func(ts []stTensor) []stTensor {
			return append(ts, stTensor{name: "model.layers.0.block_sparse_moe.experts.0.w1.weight", dtype: "BF16", shape: []int64{1}})
		}), nil, `name experts in two ways`},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		path := writeFile(t, filepath.Join(dir, "model.safetensors"), tc.file)
		if tc.config != nil {
			b, _ := json.Marshal(tc.config)
			writeFile(t, filepath.Join(dir, "config.json"), b)
		}
		c, err := OpenCheckpoint(path)
		if err == nil {
			c.Close()
			t.Errorf("%s: opened", tc.name)
			continue
		}
		if !regexp.MustCompile(tc.err).MatchString(err.Error()) {
			t.Errorf("%s: error %q, want %q", tc.name, err, tc.err)
		}
		if !strings.HasPrefix(err.Error(), "safetensors: ") {
			t.Errorf("%s: error %q", tc.name, err)
		}
	}
}

// TestCheckpointShardErrors checks the errors of several files.
func TestCheckpointShardErrors(t *testing.T) {
	ts := stModels[3].tensors()
	dir := t.TempDir()
	a := writeFile(t, filepath.Join(dir, "a.safetensors"), encodeST(ts[:5]))
	b := writeFile(t, filepath.Join(dir, "b.safetensors"), encodeST(ts[4:]))
	_, err := OpenCheckpoint(a, b)
	if err == nil || !regexp.MustCompile(`tensor ".*" is in both .*a.safetensors and .*b.safetensors`).MatchString(err.Error()) {
		t.Errorf("duplicate tensor: %v", err)
	}
	writeFile(t, filepath.Join(dir, "b.safetensors"), encodeST(ts[5:]))
	ix, _ := json.Marshal(map[string]any{"weight_map": map[string]string{ts[0].name: "b.safetensors", ts[7].name: "b.safetensors"}})
	index := writeFile(t, filepath.Join(dir, "model.safetensors.index.json"), ix)
	_, err = OpenCheckpoint(index)
	if err == nil || !regexp.MustCompile(`the index says tensor "model.embed_tokens.weight" is in .*b.safetensors, which has no such tensor`).MatchString(err.Error()) {
		t.Errorf("index: %v", err)
	}
	ix, _ = json.Marshal(map[string]any{"weight_map": map[string]string{ts[0].name: "../x.safetensors"}})
	writeFile(t, index, ix)
	if _, err = OpenCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "not a file beside the index") {
		t.Errorf("index outside: %v", err)
	}
	writeFile(t, index, []byte("{"))
	if _, err = OpenCheckpoint(index); err == nil || !strings.Contains(err.Error(), "model.safetensors.index.json: bad JSON") {
		t.Errorf("bad index: %v", err)
	}
	if _, err = OpenCheckpoint(); err == nil {
		t.Error("no files: no error")
	}
	if _, err = OpenCheckpoint(t.TempDir()); err == nil || !strings.Contains(err.Error(), "has no *.safetensors files") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err = OpenCheckpoint(filepath.Join(dir, "nope.safetensors")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	// PackExpert's own errors.
	c, err := OpenCheckpoint(a, writeFile(t, filepath.Join(t.TempDir(), "c.safetensors"), encodeST(ts[5:])))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PackExpert(rt.Key{Layer: 2, Expert: 0}, nil); err == nil || !strings.Contains(err.Error(), "outside the checkpoint (2 MoE layers, 6 experts)") {
		t.Errorf("PackExpert outside: %v", err)
	}
	if err := c.PackExpert(rt.Key{Layer: 1, Expert: 0}, make([]byte, 3)); err == nil || !strings.Contains(err.Error(), "needs 96 bytes, the destination has 3") {
		t.Errorf("PackExpert size: %v", err)
	}
	if err := c.Pack(func(rt.Key) []byte { return nil }); err == nil {
		t.Error("Pack into nothing: no error")
	}
	c.Close()
	if err := c.PackExpert(rt.Key{}, make([]byte, 96)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("PackExpert after Close: %v", err)
	}
}

// TestParseExpertName checks the names of each family and near misses.
func TestParseExpertName(t *testing.T) {
	for name, want := range map[string]string{
		"model.layers.3.block_sparse_moe.experts.7.w2.weight": "mixtral 3 7 2",
		"model.layers.0.mlp.experts.59.gate_proj.weight":      "mlp 0 59 0",
		"model.layers.12.mlp.experts.0.up_proj.weight":        "mlp 12 0 1",
		"model.layers.1.mlp.shared_experts.gate_proj.weight":  "",
		"model.layers.1.mlp.shared_expert.up_proj.weight":     "",
		"model.layers.1.mlp.experts.2.gate_proj.bias":         "",
		"model.layers.1.mlp.experts.2.gate_proj.weight_scale": "",
		"model.layers.x.mlp.experts.2.gate_proj.weight":       "",
		"model.layers.1.mlp.experts.-2.gate_proj.weight":      "",
		"model.layers.1.mlp.experts.2.w1.weight":              "",
		"model.layers.1.block_sparse_moe.gate.weight":         "",
		"lm_head.weight": "",
	} {
		nm, l, e, p, ok := parseExpertName(name)
		got := ""
		if ok {
			got = fmt.Sprintf("%s %d %d %d", nm, l, e, p)
		}
		if got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
