package cpu

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moepolicy/moec/model"
)

// A golden is what transformers computed for one tiny checkpoint
// (tools/tiny/make_tiny.py): its greedy continuation of the prompt, the
// teacher-forced logits of prompt + continuation in float32, and the
// experts each sparse layer chose at each position.
type golden struct {
	Family       string      `json:"family"`
	DType        string      `json:"dtype"`
	Prompt       []int       `json:"prompt"`
	Generated    []int       `json:"generated"`
	RouterLayers []string    `json:"router_layers"`
	Experts      [][][]int   `json:"experts"`
	MinRouterGap float64     `json:"min_router_gap"`
	MinLogitGap  float64     `json:"min_logit_gap"`
	Logits       [][]float64 `json:"logits"`
	// SoftmaxScale is the attention's softmax scale transformers ran a
	// multi-head latent attention model with (0 for the others).
	SoftmaxScale float64 `json:"softmax_scale"`
}

// goldenDirs returns the tiny checkpoints of testdata/models: its folders
// with a config.json (the folder also holds their README and tokenizer).
func goldenDirs(t *testing.T) []string {
	configs, err := filepath.Glob("../../testdata/models/*/config.json")
	if err != nil || len(configs) == 0 {
		t.Fatalf("no tiny checkpoints in testdata/models (%v)", err)
	}
	dirs := make([]string, len(configs))
	for i, c := range configs {
		dirs[i] = filepath.Dir(c)
	}
	return dirs
}

func readGolden(t *testing.T, dir string) *golden {
	b, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return &g
}

func load(t *testing.T, dir string) (*model.Config, *Weights) {
	cfg, ck, err := model.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w, err := Load(cfg, ck)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, w
}

// TestGoldens runs each tiny checkpoint teacher-forced over transformers'
// own sequence and requires its logits within 1e-4 of transformers' (the
// norm of the difference over the norm of HF's, per position), the same
// experts at every sparse layer and position, and the same greedy
// continuation. The checkpoints' margins (golden.json's min_router_gap and
// min_logit_gap, at least 2e-4 and 2e-3) are far above float32's
// disagreements, so equal choices are what correctness means here.
func TestGoldens(t *testing.T) {
	for _, dir := range goldenDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			g := readGolden(t, dir)
			cfg, w := load(t, dir)
			if cfg.Type != g.Family {
				t.Fatalf("config.json says %q, golden.json %q", cfg.Type, g.Family)
			}
			if m := cfg.MLA; m != nil && math.Abs(m.SoftmaxScale-g.SoftmaxScale) > 1e-12*g.SoftmaxScale {
				t.Errorf("softmax scale %v, transformers ran %v", m.SoftmaxScale, g.SoftmaxScale)
			}
			seq := slices.Concat(g.Prompt, g.Generated)
			s, err := NewSession(w, len(seq))
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for p, id := range seq {
				logits, err := s.Step(id)
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(logits, g.Logits[p]); e > worst {
					worst = e
				}
				for j, l := range cfg.MoELayers {
					if got, want := s.Routing(l).Experts, g.Experts[j][p]; !slices.Equal(got, want) {
						t.Errorf("position %d, layer %d: experts %v, transformers %v", p, l, got, want)
					}
				}
				if p >= len(g.Prompt)-1 && p+1 < len(seq) {
					if got, want := argmax(logits), seq[p+1]; got != want {
						t.Errorf("position %d: greedy token %d, transformers %d", p, got, want)
					}
				}
			}
			if worst > 1e-4 {
				t.Errorf("logits differ from transformers' by %.2e (relative), more than 1e-4", worst)
			}
			t.Logf("%s (%s weights): %d positions, worst relative logit error %.2e", g.Family, g.DType, len(seq), worst)
		})
	}
}

// TestStepErrors checks that a token outside the vocabulary and a full
// context are errors, not panics.
func TestStepErrors(t *testing.T) {
	_, w := load(t, goldenDirs(t)[0])
	s, err := NewSession(w, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(w.Dims.Vocab); err == nil {
		t.Error("Step(vocab) succeeded")
	}
	if _, err := s.Step(-1); err == nil {
		t.Error("Step(-1) succeeded")
	}
	if _, err := s.Step(1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Step(1); err == nil {
		t.Error("a step past the context succeeded")
	}
}

func relErr(got []float32, want []float64) float64 {
	var num, den float64
	for i, w := range want {
		d := float64(got[i]) - w
		num += d * d
		den += w * w
	}
	return math.Sqrt(num / den)
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
