package trace

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/moepolicy/moec/rt"
)

// GenConfig describes a synthetic trace. Each selection at a layer is
// drawn slot by slot, in top-k order, from three sources tried in turn:
//
//  1. affinity: at layers after the first, with a probability that depends
//     on the expert e in the same slot at the previous layer (mean
//     Affinity), the slot takes e's successor in a fixed random map from
//     that layer's experts to this one's;
//  2. reuse: with probability Reuse, the slot repeats an expert drawn
//     uniformly from this layer's selections of the last ReuseWindow
//     tokens, so recently and often used experts come back;
//  3. popularity: the slot draws from a Zipf distribution with exponent
//     Skew over the layer's experts, ranked in a random order that
//     drifts (Drift).
//
// A source whose pick is already in the row passes to the next. Scores
// are softmax router gates: the largest top-k of one normal logit per
// expert, in descending order, rounded to 4 decimals as the recorders do.
type GenConfig struct {
	Model  string   // the header's model_name
	Shape  rt.Shape // layers, experts, top-k; ExpertBytes goes to the header
	Tokens int      // rows = Tokens x Shape.Layers, token-major
	Seed   uint64

	// Skew is the Zipf exponent of each layer's expert popularity: one
	// value for every layer, or one per layer. 0 (or nil) is uniform.
	Skew []float64
	// Drift is how fast popularity moves: the mean number of times per
	// token that two experts of a layer, drawn uniformly, swap popularity
	// ranks. A skewed but drifting ranking gives what real traces show:
	// flat popularity over the whole trace, yet experts that go unused for
	// long stretches.
	Drift float64
	// Affinity is the mean probability that a slot follows the successor
	// of the previous layer's expert in the same slot. Each expert's own
	// probability is drawn uniformly from Affinity x [1-AffinitySpread,
	// 1+AffinitySpread] (clamped to [0,1]), so some experts predict the
	// next layer much better than others, as in real routing.
	Affinity, AffinitySpread float64
	// Reuse is the probability that a slot not taken by affinity repeats
	// one of the layer's selections of the last ReuseWindow tokens.
	Reuse       float64
	ReuseWindow int
	// ScoreScale is the standard deviation of the router logits, and
	// ScoreSpread that of the logarithm of a row's logit scale (how much
	// the router's confidence varies between rows).
	ScoreScale, ScoreSpread float64
	// Renormalize makes a row's scores sum to 1, as Mixtral's router
	// does; otherwise they are the selected experts' shares of a softmax
	// over all experts (Qwen1.5-MoE, DeepSeek-V2-Lite, OLMoE).
	Renormalize bool
}

// Header returns the header of the trace Generate produces.
func (c *GenConfig) Header() Header {
	return Header{
		Model:       c.Model,
		Layers:      c.Shape.Layers,
		Experts:     c.Shape.Experts,
		TopK:        c.Shape.TopK,
		Entries:     int64(c.Tokens) * int64(c.Shape.Layers),
		ExpertBytes: c.Shape.ExpertBytes,
	}
}

// Validate reports what is impossible about the configuration.
func (c *GenConfig) Validate() error {
	if err := c.Shape.Validate(); err != nil {
		return err
	}
	unit := func(name string, v float64) error {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%s %v out of range [0, 1]", name, v)
		}
		return nil
	}
	nonNeg := func(name string, v float64) error {
		if !(v >= 0) || math.IsInf(v, 1) {
			return fmt.Errorf("%s %v must be finite and at least 0", name, v)
		}
		return nil
	}
	if c.Tokens < 0 {
		return fmt.Errorf("%d tokens, need at least 0", c.Tokens)
	}
	if int64(c.Tokens)*int64(c.Shape.Layers) > math.MaxInt64/2 || c.Shape.Experts > maxExperts {
		return fmt.Errorf("%d tokens x %d layers x %d experts is too large", c.Tokens, c.Shape.Layers, c.Shape.Experts)
	}
	if n := len(c.Skew); n > 1 && n != c.Shape.Layers {
		return fmt.Errorf("%d skew values for %d layers, need 1 or one per layer", n, c.Shape.Layers)
	}
	for _, s := range c.Skew {
		if err := nonNeg("skew", s); err != nil {
			return err
		}
	}
	for _, e := range []error{
		unit("affinity", c.Affinity), unit("affinity spread", c.AffinitySpread), unit("reuse", c.Reuse),
		nonNeg("drift", c.Drift), nonNeg("score scale", c.ScoreScale), nonNeg("score spread", c.ScoreSpread),
	} {
		if e != nil {
			return e
		}
	}
	if c.Drift > float64(c.Shape.Experts) {
		return fmt.Errorf("drift %v out of range [0, %d] (the experts per layer)", c.Drift, c.Shape.Experts)
	}
	if c.ReuseWindow < 0 {
		return fmt.Errorf("reuse window %d, need at least 0", c.ReuseWindow)
	}
	if int64(c.ReuseWindow)*int64(c.Shape.TopK) > 1<<24 {
		return fmt.Errorf("reuse window %d x top-k %d is too large", c.ReuseWindow, c.Shape.TopK)
	}
	return nil
}

// Generate produces the trace cfg describes, token by token, layer by
// layer, calling emit with each row; it stops at emit's first error and
// returns it. The same configuration and seed always give the same rows.
// The Row's slices are reused: emit must copy what it keeps. A Writer's
// Write and a Collector's Add are suitable emit functions.
func Generate(cfg GenConfig, emit func(Row) error) error {
	g, err := NewGenerator(cfg)
	if err != nil {
		return err
	}
	for {
		row, err := g.Next()
		if err == io.EOF {
			return nil
		}
		if err := emit(row); err != nil {
			return err
		}
	}
}

// A Generator yields the rows of a synthetic trace one at a time, the rows
// Generate emits, in the same order. Its memory depends on the shape,
// never on the number of tokens, so a replay can stream a trace of any
// length as it streams a file.
type Generator struct {
	g      *generator
	t, l   int // the next row's token and layer
	tokens int
}

// NewGenerator returns a Generator of the trace cfg describes, or what is
// impossible about cfg.
func NewGenerator(cfg GenConfig) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("synthetic trace: %v", err)
	}
	return &Generator{g: newGenerator(&cfg), tokens: cfg.Tokens}, nil
}

// Next returns the next row, or io.EOF after the last. The Row's slices
// are reused by the next call: copy them to keep them. It allocates
// nothing.
func (g *Generator) Next() (Row, error) {
	if g.t >= g.tokens {
		return Row{}, io.EOF
	}
	row := g.g.row(g.t, g.l)
	if g.l++; g.l == g.g.cfg.Shape.Layers {
		g.t, g.l = g.t+1, 0
	}
	return row, nil
}

// generator holds a configuration's fixed random structure (rankings,
// successor maps, affinity strengths) and the state of the stream.
type generator struct {
	cfg    *GenConfig
	rng    *rand.Rand // the stream of rows
	E, K   int
	cdf    [][]float64 // per layer: cumulative Zipf weights by rank
	rankOf [][]int32   // per layer: the expert at each popularity rank
	succ   [][]int32   // per layer > 0: successor of each expert of layer-1
	stren  [][]float64 // per layer > 0: affinity strength of each expert of layer-1
	window [][]int32   // per layer: ring of the last ReuseWindow tokens' selections
	filled []int       // per layer: how much of window holds selections
	head   []int       // per layer: where the next selection goes
	prev   []int32     // the previous layer's selection of this token
	cur    []int32
	seen   []bool
	logits []float64
	scores []float32
}

func newGenerator(cfg *GenConfig) *generator {
	L, E, K := cfg.Shape.Layers, cfg.Shape.Experts, cfg.Shape.TopK
	g := &generator{
		cfg: cfg, E: E, K: K,
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x6d6f6563)),
		cdf:    make([][]float64, L),
		rankOf: make([][]int32, L),
		succ:   make([][]int32, L),
		stren:  make([][]float64, L),
		window: make([][]int32, L),
		filled: make([]int, L),
		head:   make([]int, L),
		prev:   make([]int32, 0, K),
		cur:    make([]int32, 0, K),
		seen:   make([]bool, E),
		logits: make([]float64, E),
		scores: make([]float32, K),
	}
	// The structure comes from its own stream, so that it does not depend
	// on how many random numbers the rows use.
	st := rand.New(rand.NewPCG(cfg.Seed, 0x73747275))
	perm := func() []int32 {
		p := make([]int32, E)
		for i := range p {
			p[i] = int32(i)
		}
		st.Shuffle(E, func(i, j int) { p[i], p[j] = p[j], p[i] })
		return p
	}
	for l := range L {
		s := 0.0
		switch len(cfg.Skew) {
		case 1:
			s = cfg.Skew[0]
		case L:
			s = cfg.Skew[l]
		}
		cdf := make([]float64, E)
		sum := 0.0
		for r := range E {
			sum += math.Pow(float64(r+1), -s)
			cdf[r] = sum
		}
		g.cdf[l] = cdf
		g.rankOf[l] = perm()
		if l > 0 {
			g.succ[l] = perm()
			g.stren[l] = make([]float64, E)
			for e := range E {
				a := cfg.Affinity * (1 + cfg.AffinitySpread*(2*st.Float64()-1))
				g.stren[l][e] = min(1, max(0, a))
			}
		}
		g.window[l] = make([]int32, cfg.ReuseWindow*K)
	}
	return g
}

// row draws the selection of token t at layer l.
func (g *generator) row(t, l int) Row {
	cfg, rng := g.cfg, g.rng
	if l == 0 {
		g.prev = g.prev[:0]
	} else {
		g.prev, g.cur = g.cur, g.prev
	}
	if cfg.Drift > 0 {
		n := int(cfg.Drift)
		if rng.Float64() < cfg.Drift-float64(n) {
			n++
		}
		rank := g.rankOf[l]
		for range n {
			i, j := rng.IntN(g.E), rng.IntN(g.E)
			rank[i], rank[j] = rank[j], rank[i]
		}
	}
	cur := g.cur[:0]
	for j := range g.K {
		e := int32(-1)
		if j < len(g.prev) {
			p := g.prev[j]
			if rng.Float64() < g.stren[l][p] {
				if s := g.succ[l][p]; !g.seen[s] {
					e = s
				}
			}
		}
		if e < 0 && g.filled[l] > 0 && rng.Float64() < cfg.Reuse {
			if s := g.window[l][rng.IntN(g.filled[l])]; !g.seen[s] {
				e = s
			}
		}
		if e < 0 {
			e = g.zipf(l)
		}
		g.seen[e] = true
		cur = append(cur, e)
	}
	g.cur = cur
	w := g.window[l]
	for _, e := range cur {
		g.seen[e] = false
		if len(w) > 0 {
			w[g.head[l]] = e
			g.head[l] = (g.head[l] + 1) % len(w)
			g.filled[l] = min(g.filled[l]+1, len(w))
		}
	}
	return Row{Token: t, Layer: l, Experts: cur, Scores: g.gates()}
}

// zipf draws an expert not yet in the row from layer l's popularity.
func (g *generator) zipf(l int) int32 {
	cdf, rank := g.cdf[l], g.rankOf[l]
	for range 64 {
		r, _ := slices.BinarySearch(cdf, g.rng.Float64()*cdf[len(cdf)-1])
		if e := rank[min(r, len(rank)-1)]; !g.seen[e] {
			return e
		}
	}
	for _, e := range rank { // the row holds the popular ones: take the first free
		if !g.seen[e] {
			return e
		}
	}
	return rank[0] // unreachable: a row holds at most TopK <= Experts experts
}

// gates draws router weights for the row's K experts: the K largest of a
// softmax over one normal logit per expert, in descending order.
func (g *generator) gates() []float32 {
	cfg, rng := g.cfg, g.rng
	scale := cfg.ScoreScale * math.Exp(cfg.ScoreSpread*rng.NormFloat64())
	z := g.logits
	for i := range z {
		z[i] = scale * rng.NormFloat64()
	}
	// Move the K largest logits to the front, in descending order.
	for k := range g.K {
		m := k
		for i := k + 1; i < len(z); i++ {
			if z[i] > z[m] {
				m = i
			}
		}
		z[k], z[m] = z[m], z[k]
	}
	var sum float64
	for _, v := range z {
		sum += math.Exp(v - z[0])
	}
	if cfg.Renormalize {
		sum = 0
		for _, v := range z[:g.K] {
			sum += math.Exp(v - z[0])
		}
	}
	for k := range g.K {
		p := math.Exp(z[k]-z[0]) / sum
		g.scores[k] = float32(math.Round(p*1e4) / 1e4)
	}
	return g.scores
}

// The routing parameters fitted to the real Qwen1.5-MoE trace
// (testdata/traces/qwen15moe-gsm8k-5layer.jsonl; docs/TRACES.md has the
// fit and the comparison). The other presets reuse them: the exponent,
// affinity and reuse are per token and per slot, so they carry over as
// they are; drift is scaled by the number of experts so that each expert
// changes rank as often as in the fit.
const (
	fitSkew        = 0.5
	fitDrift       = 1.0 // per token, at 60 experts
	fitAffinity    = 0.33
	fitSpread      = 0.85
	fitReuse       = 0.06
	fitWindow      = 2
	fitScoreScale  = 1.1
	fitScoreSpread = 0.35
	fitExperts     = 60
	presetTokens   = 4096
)

// presets are the synthetic models. Their shapes and expert sizes are the
// models' own (DeepSeek-V2-Lite's dense first layer is left out; its
// shared experts are not routed).
var presets = map[string]GenConfig{
	"mixtral-8x7b":      preset("mistralai/Mixtral-8x7B-v0.1 (synthetic)", 32, 8, 2, mixtralBytes, true),
	"qwen1.5-moe-a2.7b": preset("Qwen/Qwen1.5-MoE-A2.7B (synthetic)", 24, 60, 4, qwenMoEBytes, false),
	"deepseek-v2-lite":  preset("deepseek-ai/DeepSeek-V2-Lite (synthetic)", 26, 64, 6, deepseekLiteBytes, false),
	"olmoe-1b-7b":       preset("allenai/OLMoE-1B-7B-0924 (synthetic)", 16, 64, 8, olmoeBytes, false),
}

func preset(model string, layers, experts, topK int, bytes int64, renormalize bool) GenConfig {
	return GenConfig{
		Model:          model,
		Shape:          rt.Shape{Layers: layers, Experts: experts, TopK: topK, ExpertBytes: bytes},
		Tokens:         presetTokens,
		Seed:           1,
		Skew:           []float64{fitSkew},
		Drift:          fitDrift * float64(experts) / fitExperts,
		Affinity:       fitAffinity,
		AffinitySpread: fitSpread,
		Reuse:          fitReuse,
		ReuseWindow:    fitWindow,
		ScoreScale:     fitScoreScale,
		ScoreSpread:    fitScoreSpread,
		Renormalize:    renormalize,
	}
}

// PresetNames returns the names Preset accepts, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Preset returns the configuration of a synthetic trace shaped like a
// known model: "mixtral-8x7b", "qwen1.5-moe-a2.7b", "deepseek-v2-lite" or
// "olmoe-1b-7b" (case-insensitive). Its routing statistics are fitted to
// the real Qwen1.5-MoE trace (docs/TRACES.md); set Tokens and Seed to
// taste.
func Preset(name string) (GenConfig, error) {
	c, ok := presets[strings.ToLower(name)]
	if !ok {
		return GenConfig{}, fmt.Errorf("unknown synthetic preset %q (have %s)", name, strings.Join(PresetNames(), ", "))
	}
	c.Skew = slices.Clone(c.Skew)
	return c, nil
}
