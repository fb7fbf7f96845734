package model

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const mib = 1 << 20

// TestExpertBytes checks one expert's size in bf16 for the models the
// issue names, from configs with the real dimensions.
func TestExpertBytes(t *testing.T) {
	for _, tc := range []struct {
		file string
		mib  float64
	}{
		{"mixtral-8x7b.json", 336},
		{"qwen1.5-moe-a2.7b.json", 16.5},
		{"deepseek-v2-lite.json", 16.5},
		{"olmoe-1b-7b.json", 12.0},
		{"qwen3-30b-a3b.json", 9.0},
		{"gpt-oss-20b.json", 47.4609375}, // 3 x 2880 x 2880 x 2 bytes
	} {
		m := readTestConfig(t, tc.file)
		if got := float64(BF16.Bytes(m.ExpertParams())) / mib; got != tc.mib {
			t.Errorf("%s: expert = %v MiB, want %v", tc.file, got, tc.mib)
		}
	}
}

// TestShape checks what ParseConfig reads from each family's config.
func TestShape(t *testing.T) {
	type shape struct {
		MoELayers, FirstMoE, Experts, TopK, Shared, Dense int
		KVPerToken                                        int64
	}
	for _, tc := range []struct {
		file string
		want shape
	}{
		// 32 layers x 2 (k, v) x 8 heads x 128 x 2 bytes.
		{"mixtral-8x7b.json", shape{32, 0, 8, 2, 0, 0, 32 * 2 * 8 * 128 * 2}},
		{"qwen1.5-moe-a2.7b.json", shape{24, 0, 60, 4, 1, 0, 24 * 2 * 16 * 128 * 2}},
		// MLA: 27 layers x (512 + 64) x 2 bytes.
		{"deepseek-v2-lite.json", shape{26, 1, 64, 6, 2, 10944, 27 * 576 * 2}},
		{"olmoe-1b-7b.json", shape{16, 0, 64, 8, 0, 0, 16 * 2 * 16 * 128 * 2}},
		{"qwen3-30b-a3b.json", shape{48, 0, 128, 8, 0, 0, 48 * 2 * 4 * 128 * 2}},
		{"gpt-oss-20b.json", shape{24, 0, 32, 4, 0, 0, 24 * 2 * 8 * 64 * 2}},
	} {
		m := readTestConfig(t, tc.file)
		got := shape{len(m.MoELayers), m.MoELayers[0], m.Experts, m.TopK, m.SharedExperts, m.DenseIntermediate, m.KVBytesPerToken()}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.file, d)
		}
	}
}

// TestTotalParams checks the whole arithmetic against the parameter
// counts the models' authors publish: non-expert parameters plus every
// routed expert must come within 1% of them.
func TestTotalParams(t *testing.T) {
	for _, tc := range []struct {
		file      string
		published float64 // billions
	}{
		{"mixtral-8x7b.json", 46.7},
		{"qwen1.5-moe-a2.7b.json", 14.3},
		{"deepseek-v2-lite.json", 15.7},
		{"olmoe-1b-7b.json", 6.92},
		{"qwen3-30b-a3b.json", 30.5},
		{"gpt-oss-20b.json", 20.9},
	} {
		m := readTestConfig(t, tc.file)
		total := float64(m.NonExpertParams().Total()+int64(m.Slots())*m.ExpertParams()) / 1e9
		if math.Abs(total-tc.published)/tc.published > 0.01 {
			t.Errorf("%s: %.2fB parameters, published %.2fB", tc.file, total, tc.published)
		}
	}
}

// TestMixtralNonExpert spells out Mixtral's non-expert parameters.
func TestMixtralNonExpert(t *testing.T) {
	const h, v, layers = 4096, 32000, 32
	want := Params{
		Embedding: v * h,
		LMHead:    v * h,
		Attention: layers * (h*h + 2*h*1024 + h*h),
		Norms:     (2*layers + 1) * h,
		Routers:   layers * h * 8,
	}
	if d := cmp.Diff(want, readTestConfig(t, "mixtral-8x7b.json").NonExpertParams()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params int64
		bytes  int64
	}{
		{"bf16", 100, 200},
		{"fp16", 100, 200},
		{"fp8", 128 * 128, 128*128 + 4}, // a float32 scale per 128 x 128 block
		{"fp8", 1, 2},                   // rounded up
		{"int4", 128, 68},               // 64 bytes of weights, 2 of scale, 2 of zero point
		{"mxfp4", 32, 17},               // 16 bytes of weights, 1 of shared exponent
		{"mxfp4", 1, 1},                 // rounded up
	} {
		d, err := ParseFormat(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Bytes(tc.params); got != tc.bytes || d.String() != tc.name {
			t.Errorf("%s.Bytes(%d) = %d, want %d", d, tc.params, got, tc.bytes)
		}
	}
	if _, err := ParseFormat("fp4"); err == nil || err.Error() != `unknown dtype "fp4": want one of bf16, fp16, fp8, int4, mxfp4` {
		t.Errorf("ParseFormat(fp4): %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{`[1]`, `config.json: not a JSON object: cannot unmarshal array into Go value of type map[string]interface {}`},
		{`{"hidden_size": 1}`, `config.json: no "model_type": not a Hugging Face model config`},
		{`{"model_type": "llama"}`, `config.json: unknown model_type "llama"; known: deepseek_v2, deepseek_v3, gpt_oss, mixtral, olmoe, qwen2_moe, qwen3_moe`},
		{`{"model_type": "qwen3moe"}`, `config.json: unknown model_type "qwen3moe" (did you mean "qwen3_moe"?); known: deepseek_v2, deepseek_v3, gpt_oss, mixtral, olmoe, qwen2_moe, qwen3_moe`},
		{`{"model_type": "qwen2_moe", "hidden_size": 2048, "num_hidden_layers": 24, "vocab_size": 10, "num_attention_heads": 16}`,
			`config.json: qwen2_moe config lacks "moe_intermediate_size"`},
		{`{"model_type": "mixtral"}`, `config.json: mixtral config lacks "hidden_size"`},
		{`{"model_type": "mixtral", "hidden_size": "big"}`, `config.json: "hidden_size" is "big", want a positive integer`},
		{`{"model_type": "mixtral", "hidden_size": 4096.5}`, `config.json: "hidden_size" is 4096.5, want a positive integer`},
		{`{"model_type": "deepseek_v2", "hidden_size": 8, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 2,
		  "moe_intermediate_size": 4, "n_routed_experts": 4, "num_experts_per_tok": 2, "kv_lora_rank": 4, "qk_rope_head_dim": 2,
		  "qk_nope_head_dim": 2, "v_head_dim": 2, "first_k_dense_replace": 1}`,
			`config.json: deepseek_v2 config lacks "intermediate_size"`},
		{`{"model_type": "gpt_oss", "hidden_size": 8, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 2,
		  "intermediate_size": 4, "num_local_experts": 4}`,
			`config.json: gpt_oss config lacks "experts_per_token" (or "num_experts_per_tok")`},
		{`{"model_type": "olmoe", "hidden_size": 8, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 2,
		  "intermediate_size": 4, "num_experts": 4, "num_experts_per_tok": 8}`,
			`config.json: olmoe config routes each token to 8 experts of 4`},
		{`{"model_type": "qwen3_moe", "hidden_size": 8, "num_hidden_layers": 1, "vocab_size": 10, "num_attention_heads": 2,
		  "moe_intermediate_size": 4, "num_experts": 4, "num_experts_per_tok": 2, "mlp_only_layers": [0], "intermediate_size": 8}`,
			`config.json: qwen3_moe config has no MoE layer`},
	} {
		_, err := ParseConfig("config.json", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseConfig(%s):\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

func TestReadConfigMissing(t *testing.T) {
	_, err := ReadConfig(filepath.Join(t.TempDir(), "config.json"))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("ReadConfig of a missing file: %v", err)
	}
}

// readTestConfig reads a config of testdata, which have the real
// dimensions of the models they are named after.
func readTestConfig(t *testing.T, file string) *Config {
	t.Helper()
	m, err := ReadConfig(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
