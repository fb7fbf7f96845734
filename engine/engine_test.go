package engine

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The policy tests run on the CPU in go test, and on the GPU with
// -engine.device cuda (a test binary built with -tags cuda; docs/GPU.md).
var testDevice = flag.String("engine.device", "cpu", "the `device` the policy tests run on: cpu or cuda")

func openTiny(t *testing.T, name string) *Model {
	t.Helper()
	return openModel(t, filepath.Join("..", "testdata", "models", name))
}

func openModel(t *testing.T, dir string) *Model {
	t.Helper()
	m, err := Open(dir, Options{MaxContext: 64, Device: *testDevice})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestGenerateGreedy checks that Generate on the CPU continues the tiny
// Qwen2-MoE checkpoint's prompt as transformers did (its golden.json),
// and that TeacherForced gives the logits that choose each next token.
func TestGenerateGreedy(t *testing.T) {
	m := openTiny(t, "qwen2_moe")
	prompt := []int{1, 17, 42, 99, 7, 200, 33, 5, 128, 64}
	want := []int{127, 72, 72, 127, 72, 127, 72, 127, 72, 127, 72, 127, 72, 127}
	r, err := m.Generate(prompt, len(want), Sampling{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Generated, want) {
		t.Errorf("generated %v, transformers %v", r.Generated, want)
	}
	if r.Device != "cpu" || r.DeviceMemory != 0 || r.PrefillTokensPerSecond() <= 0 || r.DecodeTokensPerSecond() <= 0 {
		t.Errorf("result %+v", r)
	}
	seq := slices.Concat(prompt, want)
	err = m.TeacherForced(seq, func(pos int, logits []float32) {
		if pos >= len(prompt)-1 && pos+1 < len(seq) {
			if got := newSampler(Sampling{}).choose(logits); got != seq[pos+1] {
				t.Errorf("position %d: teacher-forced choice %d, want %d", pos, got, seq[pos+1])
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGenerateErrors checks the arguments Generate refuses.
func TestGenerateErrors(t *testing.T) {
	m := openTiny(t, "olmoe")
	for _, c := range []struct {
		prompt []int
		n      int
		s      Sampling
		want   string
	}{
		{nil, 1, Sampling{}, "prompt is empty"},
		{[]int{1}, 0, Sampling{}, "0 tokens"},
		{[]int{1, 256}, 1, Sampling{}, "prompt id 256 at position 1 is outside the vocabulary [0, 256)"},
		{[]int{-1}, 1, Sampling{}, "prompt id -1"},
		{[]int{1}, 64, Sampling{}, "exceed the context of 64"},
		{[]int{1}, 1, Sampling{Temperature: -1}, "temperature -1"},
		{[]int{1}, 1, Sampling{Temperature: math.NaN()}, "temperature NaN"},
		{[]int{1}, 1, Sampling{Temperature: 1, TopP: 1.5}, "top-p 1.5"},
	} {
		_, err := m.Generate(c.prompt, c.n, c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Generate(%v, %d, %+v) = %v, want an error with %q", c.prompt, c.n, c.s, err, c.want)
		}
	}
	if _, err := Open(filepath.Join("..", "testdata", "models", "olmoe"), Options{Device: "tpu"}); err == nil || !strings.Contains(err.Error(), `unknown device "tpu"`) {
		t.Errorf("Open on a tpu: %v", err)
	}
}

// TestOpenRefusesMLPs checks that Open refuses, naming config.json, an
// activation other than silu and MLP biases, which it would otherwise
// run as silu without biases.
func TestOpenRefusesMLPs(t *testing.T) {
	src := filepath.Join("..", "testdata", "models", "olmoe")
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, value, want string }{
		{"hidden_act", `"gelu"`, `config.json: hidden_act "gelu": the engine runs silu MLPs`},
		{"mlp_bias", `true`, `config.json: mlp_bias true: the engine runs MLPs without biases`},
	} {
		dir := t.TempDir()
		var cfg map[string]json.RawMessage
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		cfg[c.key] = json.RawMessage(c.value)
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: Open = %v, want an error with %q", c.key, c.value, err, c.want)
		}
	}
}

// TestChoose checks the sampler: greedy takes the lowest id among equal
// largest logits; a temperature near 0 behaves greedily; top-p keeps only
// the most probable tokens, the lower id first among equals, and draws
// among them in proportion; the same seed draws the same tokens.
func TestChoose(t *testing.T) {
	logits := []float32{1, 3, 3, 0, 2}
	if got := newSampler(Sampling{}).choose(logits); got != 1 {
		t.Errorf("greedy = %d, want 1", got)
	}
	cold := newSampler(Sampling{Temperature: 1e-4, Seed: 1})
	for range 100 {
		if got := cold.choose([]float32{0, 5, 1}); got != 1 {
			t.Fatalf("a cold temperature chose %d", got)
		}
	}
	draw := func(seed uint64) []int {
		s := newSampler(Sampling{Temperature: 2, Seed: seed})
		var out []int
		for range 50 {
			out = append(out, s.choose(logits))
		}
		return out
	}
	if !slices.Equal(draw(7), draw(7)) || slices.Equal(draw(7), draw(8)) {
		t.Error("draws are not determined by the seed")
	}
	// At temperature 1, p = e^logit / 51.28: p(1) = p(2) = 0.3917,
	// p(4) = 0.1441, p(0) = 0.0530, p(3) = 0.0195. Top-p 0.3 keeps 1
	// alone (the lower id of the two most probable), 0.7 keeps 1 and 2
	// (0.7834), 0.85 keeps 1, 2 and 4 (0.9275); 0 and 1 keep all five.
	for _, tc := range []struct {
		topP float64
		want map[int]float64
	}{
		{0.3, map[int]float64{1: 1}},
		{0.7, map[int]float64{1: 0.5, 2: 0.5}},
		{0.85, map[int]float64{1: 0.4223, 2: 0.4223, 4: 0.1554}},
		{0, map[int]float64{0: 0.0530, 1: 0.3917, 2: 0.3917, 3: 0.0195, 4: 0.1441}},
		{1, map[int]float64{0: 0.0530, 1: 0.3917, 2: 0.3917, 3: 0.0195, 4: 0.1441}},
	} {
		s := newSampler(Sampling{Temperature: 1, TopP: tc.topP, Seed: 3})
		const n = 40000
		counts := map[int]int{}
		for range n {
			counts[s.choose(logits)]++
		}
		for id := range counts {
			if _, ok := tc.want[id]; !ok {
				t.Errorf("top-p %g chose %d, outside the set %v", tc.topP, id, tc.want)
			}
		}
		for id, want := range tc.want {
			if f := float64(counts[id]) / n; math.Abs(f-want) > 0.01 {
				t.Errorf("top-p %g: p(%d) = %.4f, want %.4f", tc.topP, id, f, want)
			}
		}
	}
}

// TestChooseNonFinite checks the sampler on logits that are not all
// finite: a NaN is never chosen, a +Inf takes all the probability (the
// lowest id among several), and when every logit is -Inf the choice is
// greedy.
func TestChooseNonFinite(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, c := range []struct {
		logits []float32
		want   int
	}{
		{[]float32{0, inf, 1, inf}, 1},
		{[]float32{-inf, -inf, -inf}, 0},
		{[]float32{nan, 2, nan, 1e30}, 3},
		{[]float32{nan, nan}, 0},
	} {
		for _, s := range []Sampling{{}, {Temperature: 1}, {Temperature: 1, TopP: 0.5}, {Temperature: 0.7, TopP: 0.999}} {
			smp := newSampler(s)
			for range 200 {
				if got := smp.choose(c.logits); got != c.want {
					t.Fatalf("%+v over %v chose %d, want %d", s, c.logits, got, c.want)
				}
			}
		}
	}
	// A NaN among finite logits is never drawn.
	smp := newSampler(Sampling{Temperature: 1, Seed: 4})
	for range 2000 {
		if got := smp.choose([]float32{nan, 0, 0.5, nan, 0}); got == 0 || got == 3 {
			t.Fatalf("chose the NaN logit %d", got)
		}
	}
}

// BenchmarkChoose chooses a token from Qwen's 151,936 logits, all of the
// vocabulary and top-p 0.9. After the first it allocates only weigh's
// goroutines (a few dozen bytes each).
func BenchmarkChoose(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 151936)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	for _, topP := range []float64{1, 0.9} {
		b.Run(fmt.Sprintf("top-p=%g", topP), func(b *testing.B) {
			s := newSampler(Sampling{Temperature: 0.8, TopP: topP, Seed: 1})
			s.choose(logits)
			b.ReportAllocs()
			for b.Loop() {
				s.choose(logits)
			}
		})
	}
}

// TestGenerateFunc checks that GenerateFunc hands over each generated
// token, in order, and stops at the callback's first error.
func TestGenerateFunc(t *testing.T) {
	m := openTiny(t, "olmoe")
	for _, s := range []Sampling{{}, {Temperature: 0.8, TopP: 0.9, Seed: 7}} {
		var got []int
		r, err := m.GenerateFunc([]int{1, 2, 3}, 8, s, func(id int) error {
			got = append(got, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, r.Generated) {
			t.Errorf("%+v: the callback had %v, the result %v", s, got, r.Generated)
		}
	}
	stop := errors.New("stop")
	calls := 0
	_, err := m.GenerateFunc([]int{1, 2, 3}, 8, Sampling{}, func(int) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Errorf("after the callback's error at the 3rd token: %d calls, error %v", calls, err)
	}
}

// TestGenerateStop checks that ErrStop from the callback ends the
// generation with the tokens up to the one it was given.
func TestGenerateStop(t *testing.T) {
	m := openTiny(t, "olmoe")
	all, err := m.Generate([]int{1, 2, 3}, 8, Sampling{})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	r, err := m.GenerateFunc([]int{1, 2, 3}, 8, Sampling{}, func(int) error {
		if calls++; calls == 3 {
			return ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Generated, all.Generated[:3]) {
		t.Errorf("stopped at the 3rd token: generated %v, want %v", r.Generated, all.Generated[:3])
	}
}
