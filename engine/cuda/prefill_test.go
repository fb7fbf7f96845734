//go:build cuda

package cuda

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/moepolicy/moec/model"
)

// A prefillRun is what a prompt's run leaves: the logits that chose the
// first generated token, the key/value cache of the prompt's positions
// ([layer] of [pos][kvDim], widened to float32; multi-head latent
// attention has one cache, in k), the routing trace and the greedy
// tokens.
type prefillRun struct {
	logits []float32
	k, v   [][]float32
	routes [][][]int
	tokens []int
	took   time.Duration
}

// runPrompt runs prompt on e, chunked or step by step, and collects a
// prefillRun: first with one generated token, so that the logits and
// the cache are the prompt's alone, then with gen tokens.
func runPrompt(t *testing.T, e *Engine, prompt []int, gen int, step bool) *prefillRun {
	t.Helper()
	e.o.StepPrefill = step
	defer func() { e.o.StepPrefill = false }()
	r, err := e.Generate(prompt, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := &prefillRun{took: r.Prefill}
	lb := make([]byte, 4*e.cfg.Vocab)
	if err := e.d.download(lb, e.logits); err != nil {
		t.Fatal(err)
	}
	out.logits = make([]float32, e.cfg.Vocab)
	floats(out.logits, lb)
	n := len(prompt)
	elem := int(e.kvElem())
	cb := make([]byte, n*e.kvDim*elem)
	for _, l := range e.layers {
		for j, dst := range []*[][]float32{&out.k, &out.v} {
			p := l.kc
			if j == 1 {
				p = l.vc
			}
			if p == 0 {
				continue
			}
			if err := e.d.download(cb, p); err != nil {
				t.Fatal(err)
			}
			f := make([]float32, n*e.kvDim)
			for i := range f {
				if elem == 4 {
					f[i] = math.Float32frombits(binary.LittleEndian.Uint32(cb[4*i:]))
				} else {
					f[i] = model.BF16ToFloat32(binary.LittleEndian.Uint16(cb[2*i:]))
				}
			}
			*dst = append(*dst, f)
		}
	}
	if out.routes, err = e.Routing(n); err != nil {
		t.Fatal(err)
	}
	if r, err = e.Generate(prompt, gen); err != nil {
		t.Fatal(err)
	}
	out.tokens = r.Tokens
	return out
}

// ints widens little-endian int32s.
func ints(b []byte) []int32 {
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// prefillTolerance is how far the chunked prefill may be from the
// decode steps, as relative L2 errors of the logits and of each layer's
// keys and values. Both compute in fp32 over the same bf16 weights; the
// prefill carries activations into its tensor-core products as bf16 hi +
// lo (16 significant bits, relative error 2^-17 = 7.6e-6) and sums in
// another order, so the two differ by fp32 rounding, about 1e-6
// relative, amplified by the layers. With an f32 cache nothing else
// differs: 1e-4 leaves two orders of magnitude. A bf16 cache rounds each
// key and value to 8 bits, and a value within 1e-6 of a rounding boundary
// rounds the other way on the other path (about 2^-17 / 2^-9 = 1 in 256
// elements, each then off by one bf16 step, 2^-8 = 3.9e-3): a relative
// L2 error about 3.9e-3 / 16 = 2.4e-4, so 2e-3. The tiny checkpoints'
// seeds keep every router's choice clear of ties, so these hold there;
// random full-width checkpoints route almost uniformly (TestValidate sees
// 2 % of (token, layer) choices differ between moec and transformers in
// fp32), and a near tie that the two paths break differently changes a
// token's expert outright, which reaches the last token's logits only
// through attention: 2e-2 there, with the routing's agreement logged.
// DeepSeek-V2's tiny checkpoints cache a latent of 40 floats a position
// for every head, and amplify its rounding about tenfold into the logits
// (TestLatentAttention: the whole bf16 rounding, a relative L2 error near
// 1.1e-3, moved their logits by up to 1.2e-2); the flips above are a
// fifth of that rounding, so up to 2.4e-3 in the logits: 5e-3 with a
// bf16 cache.
func prefillTolerance(full, kvF32, mla bool) float64 {
	switch {
	case full:
		return 2e-2
	case kvF32:
		return 1e-4
	case mla:
		return 5e-3
	}
	return 2e-3
}

// TestPrefill runs prompts through the chunked prefill and through the
// decode step one token at a time on the same engine, on every tiny
// checkpoint (their golden prompt, and a random one of three chunks, the
// last partial) and on -model when given (a random prompt of three
// chunks), with a bf16 and an f32 cache, and compares: the greedy tokens
// (equal on the golden prompts; on random ones equal unless the step
// path's two best logits are closer than the paths' logits differ), the
// logits of the first generated token, each layer's keys and values at
// the prompt's positions, and the routing (equal on the golden prompts, on
// 99% of (layer, position) pairs on random ones, 98% on -model, whose
// random routers are near ties everywhere);
// and that group_experts grouped the last chunk's slots as promised.
// DeepSeek-V2's checkpoints run multi-head latent attention over the
// chunk's rows (mla.go), their one cache of latents compared as keys;
// TestLatentAttention compares their decode steps with the CPU.
func TestPrefill(t *testing.T) {
	configs, _ := filepath.Glob("../../testdata/models/*/config.json")
	if len(configs) == 0 {
		t.Fatal("no tiny checkpoints")
	}
	var dirs []string
	for _, c := range configs {
		dirs = append(dirs, filepath.Dir(c))
	}
	if *validateModel != "" {
		dirs = append(dirs, *validateModel)
	}
	const gen = 8
	long := 2*chunkTokens + 37
	for _, dir := range dirs {
		full := dir == *validateModel
		var prompts [][]int
		golden := 0 // prompts[:golden] have clear margins
		if b, err := os.ReadFile(filepath.Join(dir, "golden.json")); err == nil {
			var g tinyGolden
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			prompts = append(prompts, g.Prompt)
			golden = 1
		}
		for _, kvF32 := range []bool{false, true} {
			name := filepath.Base(dir) + "/kv-bf16"
			if kvF32 {
				name = filepath.Base(dir) + "/kv-f32"
			}
			t.Run(name, func(t *testing.T) {
				cfg, ck, e := open(t, dir, Options{MaxContext: long + gen, KVFloat32: kvF32})
				defer ck.Close()
				defer e.Close()
				if e.pre == nil {
					t.Fatalf("%s: no chunk workspace, so its prompts would run step by step", cfg.Type)
				}
				rng := rand.New(rand.NewPCG(1, 2))
				random := make([]int, long)
				for i := range random {
					random[i] = rng.IntN(cfg.Vocab)
				}
				tol := prefillTolerance(full, kvF32, cfg.MLA != nil)
				for pi, prompt := range append(slices.Clip(prompts), random) {
					chunked := runPrompt(t, e, prompt, gen, false)
					if pi == len(prompts) {
						checkLastGrouping(t, e, len(prompt))
					}
					stepped := runPrompt(t, e, prompt, gen, true)
					// Equal routing on the golden prompts, whose routers'
					// margins are clear; on random prompts the paths'
					// different summation orders break near ties apart.
					agree := 1.0
					if pi >= golden {
						agree = map[bool]float64{false: 0.99, true: 0.98}[full]
					}
					comparePrefill(t, cfg, fmt.Sprintf("prompt of %d", len(prompt)), chunked, stepped, tol, pi < golden, agree)
				}
			})
		}
	}
}

// checkLastGrouping checks group_experts' output after a chunked prefill
// of n tokens: the last chunk's slots of the last sparse layer.
func checkLastGrouping(t *testing.T, e *Engine, n int) {
	t.Helper()
	if !slices.ContainsFunc(e.layers, func(l layerBufs) bool { return l.sparse }) {
		return // no router, no grouping
	}
	rows := n - (n-1)/chunkTokens*chunkTokens
	sel, off, list := make([]byte, 4*rows*e.topk), make([]byte, 4*(e.cfg.Experts+1)), make([]byte, 4*rows*e.topk)
	for _, err := range []error{e.d.download(sel, e.pre.sel), e.d.download(off, e.pre.offsets), e.d.download(list, e.pre.list)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := checkGrouping(ints(sel), ints(off), ints(list), rows, e.topk, e.cfg.Experts); err != nil {
		t.Errorf("group_experts, %d rows: %v", rows, err)
	}
}

func comparePrefill(t *testing.T, cfg *model.Config, what string, got, want *prefillRun, tol float64, clear bool, minAgree float64) {
	t.Helper()
	le := rel(got.logits, want.logits)
	worstK, worstV := 0.0, 0.0
	for l := range got.k {
		worstK = max(worstK, rel(got.k[l], want.k[l]))
	}
	for l := range got.v {
		worstV = max(worstV, rel(got.v[l], want.v[l]))
	}
	agree, total := 0, 0
	for l := range want.routes {
		for p := range want.routes[l] {
			total++
			if slices.Equal(got.routes[l][p], want.routes[l][p]) {
				agree++
			}
		}
	}
	same := 0
	for i := range want.tokens {
		if got.tokens[i] == want.tokens[i] {
			same++
		}
	}
	t.Logf("%s: logits %.2e, keys %.2e, values %.2e (relative, worst layer), routing equal in %d of %d (layer, position), tokens %d of %d equal, prefill %v against %v step by step",
		what, le, worstK, worstV, agree, total, same, len(want.tokens), got.took, want.took)
	if le > tol || worstK > tol || worstV > tol {
		t.Errorf("%s: the prefill differs from the decode steps by more than %.0e", what, tol)
	}
	if float64(agree) < minAgree*float64(total) {
		t.Errorf("%s: the prefill routed %d of %d (layer, position) pairs differently, more than %.0f%%", what, total-agree, total, 100*(1-minAgree))
	}
	if clear {
		if same != len(want.tokens) {
			t.Errorf("%s: greedy tokens %v, step by step %v", what, got.tokens, want.tokens)
		}
		return
	}
	if got.tokens[0] != want.tokens[0] {
		// Allowed only where the two best logits are closer than the
		// paths' logits differ anywhere.
		best, second := math.Inf(-1), math.Inf(-1)
		diff := 0.0
		for i, w := range want.logits {
			f := float64(w)
			if f > best {
				best, second = f, best
			} else if f > second {
				second = f
			}
			diff = max(diff, math.Abs(float64(got.logits[i])-f))
		}
		if best-second > diff {
			t.Errorf("%s: first token %d, step by step %d, with a margin of %.2e over a largest logit difference of %.2e", what, got.tokens[0], want.tokens[0], best-second, diff)
		}
	}
}

// BenchmarkPrefill measures the prefill on -model for prompts of 128 and
// 512 tokens, chunked and step by step on the same engine (the table of
// docs/PERFORMANCE.md), reporting the prompt's tokens per second of GPU
// time, one metric each (tok/s-chunked-128 and so on):
//
//	cuda.test -test.run '^$' -test.bench Prefill -model DIR
//
// The four share one benchmark, not four b.Run: a sub-benchmark runs on a
// goroutine of its own, and the engine must stay on the one that opened it.
func BenchmarkPrefill(b *testing.B) {
	if *validateModel == "" {
		b.Skip("needs -model")
	}
	const most = 512
	cfg, ck, e := open(b, *validateModel, Options{MaxContext: most + 1})
	defer ck.Close()
	defer e.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	type run struct {
		prompt []int
		step   bool
		gpu    time.Duration
	}
	var runs []*run
	for _, n := range []int{128, most} {
		prompt := make([]int, n)
		for i := range prompt {
			prompt[i] = rng.IntN(cfg.Vocab)
		}
		runs = append(runs, &run{prompt: prompt}, &run{prompt: prompt, step: true})
	}
	defer func() { e.o.StepPrefill = false }()
	loops := 0
	for b.Loop() {
		loops++
		for _, r := range runs {
			e.o.StepPrefill = r.step
			g, err := e.Generate(r.prompt, 1)
			if err != nil {
				b.Fatal(err)
			}
			r.gpu += g.Prefill
		}
	}
	for _, r := range runs {
		how := "chunked"
		if r.step {
			how = "steps"
		}
		b.ReportMetric(float64(len(r.prompt)*loops)/r.gpu.Seconds(), fmt.Sprintf("tok/s-%s-%d", how, len(r.prompt)))
	}
}
