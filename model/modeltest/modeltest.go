// Package modeltest writes small safetensors checkpoints, for the tests
// of the packages that read them.
package modeltest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moepolicy/moec/model"
)

// A Tensor is a tensor to write.
type Tensor struct {
	Name  string
	DType string
	Shape []int64
	Data  []byte // nil: a pattern made from the name, as long as the shape needs
}

// Bytes returns t's data: Data, or a pattern that differs from tensor to
// tensor (a dtype safetensors does not know counts a byte an element).
func (t Tensor) Bytes() []byte {
	if t.Data != nil {
		return t.Data
	}
	bits, ok := model.DType(t.DType).Bits()
	if !ok {
		bits = 8
	}
	n := int64(bits)
	for _, d := range t.Shape {
		n *= d
	}
	b := make([]byte, (n+7)/8)
	h := uint32(2166136261) // FNV-1a of the name, then a xorshift stream
	for i := range len(t.Name) {
		h = (h ^ uint32(t.Name[i])) * 16777619
	}
	for i := range b {
		h ^= h << 13
		h ^= h >> 17
		h ^= h << 5
		b[i] = byte(h)
	}
	return b
}

// Encode returns a safetensors file holding ts, their data in order.
func Encode(ts []Tensor) []byte {
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data []byte
	for _, t := range ts {
		b := t.Bytes()
		header[t.Name] = map[string]any{"dtype": t.DType, "shape": t.Shape, "data_offsets": []int{len(data), len(data) + len(b)}}
		data = append(data, b...)
	}
	h, _ := json.Marshal(header) // cannot fail: strings, numbers and slices of them
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

// Header returns a safetensors file whose header is the text h, followed
// by n bytes of data: for files that Encode would not write.
func Header(h string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(b, h...), make([]byte, n)...)
}

// WriteFile writes b to path, making its folder.
func WriteFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Shard writes ts to dir as n files, model-0000i-of-0000n.safetensors,
// and their model.safetensors.index.json; it returns the files' paths and
// the index's.
func Shard(dir string, ts []Tensor, n int) (files []string, index string, err error) {
	weightMap := map[string]string{}
	for i := range n {
		part := ts[i*len(ts)/n : (i+1)*len(ts)/n]
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
		path := filepath.Join(dir, name)
		if err := WriteFile(path, Encode(part)); err != nil {
			return nil, "", err
		}
		files = append(files, path)
		for _, t := range part {
			weightMap[t.Name] = name
		}
	}
	ix, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": weightMap})
	if err != nil {
		return nil, "", err
	}
	index = filepath.Join(dir, "model.safetensors.index.json")
	return files, index, WriteFile(index, ix)
}

// Open writes ts as one safetensors file in a temporary folder of t and
// opens it; the checkpoint is closed when the test ends.
func Open(t testing.TB, ts []Tensor) *model.Checkpoint {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := WriteFile(path, Encode(ts)); err != nil {
		t.Fatal(err)
	}
	c, err := model.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Random returns every weight cfg describes (Config.Weights) as a float32
// tensor of random values drawn from seed, scaled so that a forward pass
// stays in range: a vector (a norm's weight, a bias) 1 + N(0, 0.1^2) when
// its name says norm and N(0, 0.1^2) otherwise, a matrix N(0, 1/in).
func Random(cfg *model.Config, seed uint64) []Tensor {
	rng := rand.New(rand.NewPCG(seed, 0x6d6f6563))
	var ts []Tensor
	for _, w := range cfg.Weights() {
		n := w.Elems()
		mean, std := 0.0, 0.1
		switch {
		case len(w.Shape) >= 2:
			std = 1 / math.Sqrt(float64(w.Shape[len(w.Shape)-1]))
		case strings.Contains(w.Name, "norm"):
			mean = 1
		}
		b := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(mean+std*rng.NormFloat64())))
		}
		ts = append(ts, Tensor{Name: w.Name, DType: "F32", Shape: w.Shape, Data: b})
	}
	return ts
}

// WriteModel writes a checkpoint folder: config, a config.json, and
// model.safetensors holding Random(cfg, seed), where cfg is what config
// parses to. It returns the parsed config.
func WriteModel(dir string, config []byte, seed uint64) (*model.Config, error) {
	path := filepath.Join(dir, "config.json")
	cfg, err := model.ParseConfig(path, config)
	if err != nil {
		return nil, err
	}
	if err := WriteFile(path, config); err != nil {
		return nil, err
	}
	return cfg, WriteFile(filepath.Join(dir, "model.safetensors"), Encode(Random(cfg, seed)))
}

// DeepSeekV2 returns the config.json of a tiny DeepSeek-V2 shaped like
// V2-Lite (q_lora_rank null, the first layer dense, 2 shared experts,
// greedy top-k without renormalisation, YaRN with mscale =
// mscale_all_dim), as transformers 5.x saves one, with the keys of set
// replaced (a nil value deletes the key).
func DeepSeekV2(set map[string]any) []byte {
	keys := map[string]any{
		"model_type": "deepseek_v2", "vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 3,
		"num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 48,
		"max_position_embeddings": 512, "rms_norm_eps": 1e-6, "tie_word_embeddings": false,
		"kv_lora_rank": 16, "q_lora_rank": nil, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 12,
		"n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 2, "moe_intermediate_size": 16,
		"first_k_dense_replace": 1, "topk_method": "greedy", "norm_topk_prob": false, "routed_scaling_factor": 1.0,
		"rope_parameters": map[string]any{"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
			"original_max_position_embeddings": 128, "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707},
	}
	for k, v := range set {
		if v == nil {
			delete(keys, k)
		} else {
			keys[k] = v
		}
	}
	b, _ := json.Marshal(keys) // cannot fail: strings, numbers, booleans and maps of them
	return b
}
