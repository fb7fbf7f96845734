package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestQuant checks that quantization_config is read: gpt-oss ships its
// experts in MXFP4, DeepSeek-V3 every linear layer in fp8, and moec auto
// sized both as bf16.
func TestQuant(t *testing.T) {
	for _, tc := range []struct {
		file string
		want *Quant
	}{
		{"gpt-oss-20b.json", &Quant{Method: "mxfp4", Known: true, Experts: MXFP4, Linear: BF16}},
		{"deepseek-v3.json", &Quant{Method: "fp8", Known: true, Experts: FP8, Linear: FP8}},
		{"mixtral-8x7b.json", nil},
	} {
		c, err := ReadConfig(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, c.Quant); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.file, d)
		}
	}

	base := `{"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100,
		"num_attention_heads": 4, "intermediate_size": 128, "num_local_experts": 4, "num_experts_per_tok": 2`
	c, err := ParseConfig("config.json", []byte(base+`, "quantization_config": {"quant_method": "gptq", "bits": 4}}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&Quant{Method: "gptq"}, c.Quant); d != "" {
		t.Errorf("an unknown method (-want +got):\n%s", d)
	}
	for _, tc := range []struct{ quant, want string }{
		{`"fp8"`, `config.json: "quantization_config" is "fp8", want an object`},
		{`{"bits": 4}`, `config.json: mixtral config lacks "quantization_config.quant_method"`},
	} {
		_, err := ParseConfig("config.json", []byte(base+`, "quantization_config": `+tc.quant+`}`))
		if err == nil || err.Error() != tc.want {
			t.Errorf("quantization_config %s: got %v, want %s", tc.quant, err, tc.want)
		}
	}
}

// TestReadConfigDir checks that a checkpoint's directory stands for its
// config.json, and that errors name the file.
func TestReadConfigDir(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "mixtral-8x7b.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(dir); err == nil || err.Error() != "open "+filepath.Join(dir, "config.json")+": no such file or directory" {
		t.Errorf("a directory without config.json: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != "mixtral" {
		t.Errorf("model_type %q", c.Type)
	}
}
