package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
)

func generate(t testing.TB, cfg GenConfig) []Row {
	t.Helper()
	var rows []Row
	err := Generate(cfg, func(r Row) error {
		rows = append(rows, cloneRow(r))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func mustPreset(t testing.TB, name string) GenConfig {
	t.Helper()
	cfg, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestGenerateDeterministic(t *testing.T) {
	cfg := mustPreset(t, "qwen1.5-moe-a2.7b")
	cfg.Tokens = 200
	a, b := generate(t, cfg), generate(t, cfg)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different rows (-first +second):\n%s", diff)
	}
	cfg.Seed = 2
	c := generate(t, cfg)
	if cmp.Equal(a, c) {
		t.Errorf("seeds 1 and 2 give the same rows")
	}
}

// TestPresets checks every preset's shape, and that its rows are valid,
// token-major, with descending scores, and survive a write and a read
// unchanged.
func TestPresets(t *testing.T) {
	want := map[string]rt.Shape{
		"mixtral-8x7b":      {Layers: 32, Experts: 8, TopK: 2, ExpertBytes: 336 << 20},
		"qwen1.5-moe-a2.7b": {Layers: 24, Experts: 60, TopK: 4, ExpertBytes: 33 << 19},
		"deepseek-v2-lite":  {Layers: 26, Experts: 64, TopK: 6, ExpertBytes: 33 << 19},
		"olmoe-1b-7b":       {Layers: 16, Experts: 64, TopK: 8, ExpertBytes: 12 << 20},
	}
	if diff := cmp.Diff([]string{"deepseek-v2-lite", "mixtral-8x7b", "olmoe-1b-7b", "qwen1.5-moe-a2.7b"}, PresetNames()); diff != "" {
		t.Errorf("PresetNames (-want +got):\n%s", diff)
	}
	for name, shape := range want {
		t.Run(name, func(t *testing.T) {
			cfg := mustPreset(t, name)
			if cfg.Shape != shape {
				t.Errorf("shape %+v, want %+v", cfg.Shape, shape)
			}
			if got := ExpertBytesOf(cfg.Model); got != shape.ExpertBytes {
				t.Errorf("ExpertBytesOf(%q) = %d, want %d", cfg.Model, got, shape.ExpertBytes)
			}
			cfg.Tokens = 300
			rows := generate(t, cfg)
			if len(rows) != cfg.Tokens*shape.Layers {
				t.Fatalf("%d rows, want %d", len(rows), cfg.Tokens*shape.Layers)
			}
			for i, r := range rows {
				if r.Token != i/shape.Layers || r.Layer != i%shape.Layers || len(r.Experts) != shape.TopK {
					t.Fatalf("row %d: token %d layer %d with %d experts", i, r.Token, r.Layer, len(r.Experts))
				}
				var sum float64
				for j, s := range r.Scores {
					if s < 0 || s > 1 || (j > 0 && s > r.Scores[j-1]) {
						t.Fatalf("row %d: scores %v not descending in [0,1]", i, r.Scores)
					}
					sum += float64(s)
				}
				if sum > 1+1e-3*float64(shape.TopK) || (cfg.Renormalize && math.Abs(sum-1) > 1e-3*float64(shape.TopK)) {
					t.Fatalf("row %d: scores %v sum to %v", i, r.Scores, sum)
				}
			}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, cfg.Header())
			if err != nil {
				t.Fatal(err)
			}
			if err := Generate(cfg, w.Write); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			h, back, err := readAll(name+".jsonl", buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if h != cfg.Header() {
				t.Errorf("header read back %+v, want %+v", h, cfg.Header())
			}
			if diff := cmp.Diff(rows, back); diff != "" {
				t.Errorf("rows read back (-generated +read):\n%s", diff)
			}
		})
	}
	if _, err := Preset("switch"); err == nil || err.Error() != `unknown synthetic preset "switch" (have deepseek-v2-lite, mixtral-8x7b, olmoe-1b-7b, qwen1.5-moe-a2.7b)` {
		t.Errorf("Preset(switch): %v", err)
	}
	if _, err := Preset("Mixtral-8x7B"); err != nil {
		t.Errorf("Preset is not case-insensitive: %v", err)
	}
}

func TestGenConfigValidate(t *testing.T) {
	base := mustPreset(t, "mixtral-8x7b")
	tests := []struct {
		name string
		edit func(*GenConfig)
		want string
	}{
		{"shape", func(c *GenConfig) { c.Shape.TopK = 9 }, "synthetic trace: shape has top-k 9, need 1 to 8 (the experts per layer)"},
		{"tokens", func(c *GenConfig) { c.Tokens = -1 }, "synthetic trace: -1 tokens, need at least 0"},
		{"skew count", func(c *GenConfig) { c.Skew = []float64{1, 2} }, "synthetic trace: 2 skew values for 32 layers, need 1 or one per layer"},
		{"negative skew", func(c *GenConfig) { c.Skew = []float64{-1} }, "synthetic trace: skew -1 must be finite and at least 0"},
		{"affinity", func(c *GenConfig) { c.Affinity = 1.5 }, "synthetic trace: affinity 1.5 out of range [0, 1]"},
		{"spread", func(c *GenConfig) { c.AffinitySpread = math.NaN() }, "synthetic trace: affinity spread NaN out of range [0, 1]"},
		{"reuse", func(c *GenConfig) { c.Reuse = -0.1 }, "synthetic trace: reuse -0.1 out of range [0, 1]"},
		{"drift", func(c *GenConfig) { c.Drift = 9 }, "synthetic trace: drift 9 out of range [0, 8] (the experts per layer)"},
		{"score scale", func(c *GenConfig) { c.ScoreScale = math.Inf(1) }, "synthetic trace: score scale +Inf must be finite and at least 0"},
		{"window", func(c *GenConfig) { c.ReuseWindow = -1 }, "synthetic trace: reuse window -1, need at least 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			err := Generate(cfg, func(Row) error { return nil })
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v\nwant %s", err, tt.want)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	err := Generate(base, func(Row) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Errorf("Generate returned %v after %d rows, want emit's error after 3", err, n)
	}
}

// TestGenerateExtremes checks corner configurations: every expert
// selected (top-k = experts), full affinity and reuse, uniform scores.
func TestGenerateExtremes(t *testing.T) {
	cfg := GenConfig{Shape: rt.Shape{Layers: 3, Experts: 4, TopK: 4}, Tokens: 50, Skew: []float64{0, 3, 1},
		Affinity: 1, AffinitySpread: 1, Reuse: 1, ReuseWindow: 3, Drift: 4}
	for _, r := range generate(t, cfg) {
		seen := make([]uint32, 4)
		h := cfg.Header()
		if msg := checkRow(&h, &r, seen, 1); msg != "" {
			t.Fatalf("row %+v: %s", r, msg)
		}
	}
}

// calibration is how close the qwen1.5-moe-a2.7b preset must come to
// the real trace's statistics (docs/TRACES.md states the same figures).
// rel is a relative tolerance, abs an absolute one.
var calibration = []struct {
	name     string
	get      func(*Stats) float64
	rel, abs float64
}{
	{"entropy (bits)", func(s *Stats) float64 { return s.Overall.Entropy }, 0.01, 0},
	{"top-10% share", func(s *Stats) float64 { return s.Overall.Top10 }, 0.10, 0},
	{"gini", func(s *Stats) float64 { return s.Overall.Gini }, 0.15, 0},
	{"reuse p50", func(s *Stats) float64 { return float64(s.Overall.Reuse.P50) }, 0.10, 0},
	{"reuse p90", func(s *Stats) float64 { return float64(s.Overall.Reuse.P90) }, 0.10, 0},
	{"reuse p99", func(s *Stats) float64 { return float64(s.Overall.Reuse.P99) }, 0.15, 0},
	{"stack p50", func(s *Stats) float64 { return float64(s.Overall.Stack.P50) }, 0.10, 0},
	{"stack p90", func(s *Stats) float64 { return float64(s.Overall.Stack.P90) }, 0.10, 0},
	{"LRU hit rate, 7 experts", func(s *Stats) float64 { return s.LRUHitRate(7) }, 0, 0.02},
	{"LRU hit rate, 15 experts", func(s *Stats) float64 { return s.LRUHitRate(15) }, 0, 0.02},
	{"LRU hit rate, 30 experts", func(s *Stats) float64 { return s.LRUHitRate(30) }, 0, 0.02},
	{"affinity", func(s *Stats) float64 { return s.Overall.Affinity }, 0.10, 0},
	{"affinity top", func(s *Stats) float64 { return s.Overall.AffinityTop }, 0.15, 0},
	{"affinity if independent", func(s *Stats) float64 { return s.Overall.Independent }, 0.10, 0},
	{"mean top-1 score", func(s *Stats) float64 { return s.MeanScore[0] }, 0.10, 0},
	{"mean top-4 score", func(s *Stats) float64 { return s.MeanScore[3] }, 0.25, 0},
	{"mean score sum", func(s *Stats) float64 { return s.MeanScoreSum }, 0.05, 0},
}

// TestCalibration checks that the qwen1.5-moe-a2.7b preset, generated
// for as many tokens as the real trace has, matches the real trace's
// statistics within the documented tolerances. Set MOEC_CALIBRATION=1 to
// print the table of docs/TRACES.md.
func TestCalibration(t *testing.T) {
	real := realStats(t)
	cfg := mustPreset(t, "qwen1.5-moe-a2.7b")
	cfg.Tokens = 4357
	c, err := NewCollector(cfg.Header())
	if err != nil {
		t.Fatal(err)
	}
	if err := Generate(cfg, c.Add); err != nil {
		t.Fatal(err)
	}
	syn := c.Stats()
	show := os.Getenv("MOEC_CALIBRATION") != ""
	if show {
		t.Log("| statistic | real | synthetic | difference | tolerance |")
	}
	for _, k := range calibration {
		r, s := k.get(real), k.get(syn)
		tol, diff := k.abs, math.Abs(s-r)
		if k.rel > 0 {
			tol = k.rel * r
		}
		if show {
			tolText, diffText := fmt.Sprintf("±%g", k.abs), fmt.Sprintf("%+.3f", s-r)
			if k.rel > 0 {
				tolText, diffText = fmt.Sprintf("±%g%%", 100*k.rel), fmt.Sprintf("%+.1f%%", 100*(s-r)/r)
			}
			t.Logf("| %s | %s | %s | %s | %s |", k.name, formatFloat(r), formatFloat(s), diffText, tolText)
		}
		if diff > tol {
			t.Errorf("%s: synthetic %.4g, real %.4g: off by %.4g, tolerance %.4g", k.name, s, r, diff, tol)
		}
	}
}

func formatFloat(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func realStats(t testing.TB) *Stats {
	t.Helper()
	r, err := NewReader(bytes.NewReader(readRealTrace(t)), realTrace)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadStats(r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func BenchmarkGenerate(b *testing.B) {
	cfg := mustPreset(b, "qwen1.5-moe-a2.7b")
	cfg.Tokens = 1000
	b.ReportAllocs()
	var rows int64
	for b.Loop() {
		if err := Generate(cfg, func(Row) error { rows++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// TestGeneratorStreams: a Generator yields Generate's rows, allocating
// nothing per row, so a trace of any length costs the memory of its
// shape alone.
func TestGeneratorStreams(t *testing.T) {
	cfg := mustPreset(t, "olmoe-1b-7b")
	cfg.Tokens = 30
	want := generate(t, cfg)
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []Row
	for {
		row, err := g.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cloneRow(row))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Generator's rows differ from Generate's (-want +got):\n%s", diff)
	}
	if _, err := g.Next(); err != io.EOF {
		t.Errorf("Next after the last row: %v, want io.EOF", err)
	}

	cfg.Tokens = math.MaxInt32
	g, err = NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { g.Next() }); n != 0 {
		t.Errorf("Next allocates %v times per row, want 0", n)
	}
}
