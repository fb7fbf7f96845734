// Package engine runs a Hugging Face Mixture-of-Experts checkpoint for
// text generation at batch 1: it opens the checkpoint (package model),
// loads it onto a backend (the pure-Go reference of engine/cpu, or the
// CUDA path of engine/cuda in binaries built with -tags cuda), prefills a
// prompt and generates tokens, greedily or sampled, and reports how fast.
package engine

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/engine/cpu"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt"
)

// Options configure Open.
type Options struct {
	// Device is "cpu" (the default) or "cuda".
	Device string
	// GPU is the CUDA device ordinal.
	GPU int
	// MaxContext is the most tokens (prompt and generated) a sequence may
	// hold; the CUDA path allocates its key/value cache for it.
	MaxContext int
	// KVFloat32 keeps the CUDA path's key/value cache in float32 instead
	// of bf16 (the CPU reference's is always float32).
	KVFloat32 bool

	// Policy, when set, places every routed expert: each sparse layer's
	// top-k experts and router weights (rounded as a trace records them,
	// trace.RoundScore) go to Policy.Dispatch, the plan is executed by a
	// store that holds every expert in its arena, filled by cudart.Pack
	// (on the GPU, cudart.Store: pinned host memory and slots on the
	// device; on the CPU, cudart.HostStore), and each expert runs from
	// the bytes the plan says: its slot when it runs on the GPU, the
	// store's arena when on the CPU (through engine/cpu). Build the policy
	// for ExpertShape(dir): rt.New(spec, shape) or a type moec build
	// generated. On the GPU the experts must be bf16 in the checkpoint
	// (the store copies them as they are), and the rest of the model is
	// resident.
	Policy rt.Policy
	// Store says what the policy's store holds: Capacity and Pinned, which
	// cudart.OptionsFor(spec, shape) gives for the policy's spec. Open
	// sets its Shape to the checkpoint's (a Shape given must equal it).
	Store cudart.Options
	// Hardware gives the figures a policy's hybrid schedule decides with
	// (rt.Calibrated), on either device: the pinned copy bandwidth and the
	// CPU time of one expert. On the GPU, Open measures each figure left
	// at 0 with the checkpoint's own experts, after packing the store: a
	// few copies of one expert into a slot and a few runs of experts on
	// the host's cores (as CPU-scheduled experts run). The policy's own pcie_gbps and
	// cpu_expert_ms, where it states them, win over both
	// (rt.ScheduleSpec.Calibrated). PolicyResult.Hardware reports the
	// figures used, which a replay needs to decide as the run did.
	Hardware rt.Hardware
	// RecordRouting keeps the routing of every dispatch, for WriteTrace.
	RecordRouting bool
	// GPUMem, when above 0, caps the GPU memory of a run under Policy:
	// the skeleton (in bf16), the key/value cache of MaxContext tokens
	// and Workspace(GPUMem) come first, and the store's slots (Store's
	// Slots: the policy's largest capacity plus top-k) must fit in the
	// rest, or Open fails naming the bytes. On the CPU the host store is
	// sized the same way. PolicyResult.Memory reports the numbers.
	GPUMem int64
	// RouteTrace, a trace file (rt/trace), forces every MoE layer's
	// top-k experts and weights from its rows after the router ran, so
	// the router's time is spent all the same: realistic routing for
	// benchmarks on random weights. docs/ENGINE.md says how the model's
	// MoE layers map to the traced ones (mapTraceLayers), and that the
	// rows start over when they run out. The trace's experts must be
	// the model's and its top_k the model's.
	RouteTrace string
}

// A Model is a checkpoint loaded on a device, ready to generate.
type Model struct {
	Config *model.Config
	ck     *model.Checkpoint
	b      backend
	o      Options
	dir    string
	pl     *placer     // nil without a policy
	route  *routeTrace // nil without Options.RouteTrace
}

// backend is one device's forward pass.
type backend interface {
	// start begins a sequence of at most n tokens.
	start(n int) error
	// step runs token id at the next position and returns the next
	// token's logits, in a slice the backend reuses.
	step(id int) ([]float32, error)
	// memory returns the device bytes the model holds, 0 for the host.
	memory() int64
	close()
}

// greedyBackend is a backend that runs a whole greedy generation on its
// device, with no round trip per token.
type greedyBackend interface {
	greedy(prompt []int, n int) (tokens []int, prefill, decode time.Duration, err error)
}

// Open reads the checkpoint in dir (config.json and its safetensors
// files) and loads it onto o.Device.
func Open(dir string, o Options) (*Model, error) {
	path := filepath.Join(dir, "config.json")
	cfg, err := model.ReadConfig(path)
	if err != nil {
		return nil, err
	}
	// The MLPs both devices run: SwiGLU, without biases.
	if cfg.HiddenAct != "silu" {
		return nil, fmt.Errorf("%s: hidden_act %q: the engine runs silu MLPs (every family it knows ships them)", path, cfg.HiddenAct)
	}
	if cfg.MLPBias {
		return nil, fmt.Errorf("%s: mlp_bias true: the engine runs MLPs without biases (every family it knows ships them)", path)
	}
	// A model too large for the CPU reference is refused from its
	// config, before its files are mapped (under a policy, which keeps
	// the experts as stored, once their size is known: newHostPlacer).
	if (o.Device == "" || o.Device == "cpu") && o.Policy == nil {
		if err := cpu.Fits(cfg); err != nil {
			return nil, err
		}
	}
	ck, err := model.Open(dir)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, ck: ck, o: o, dir: dir}
	if m.o.MaxContext <= 0 {
		m.o.MaxContext = 4096
		if cfg.MaxPositions > 0 {
			m.o.MaxContext = min(m.o.MaxContext, cfg.MaxPositions)
		}
	}
	if o.GPUMem > 0 && o.Policy == nil {
		ck.Close()
		return nil, errors.New("engine: GPUMem sizes the store of a policy; without Options.Policy every weight is resident")
	}
	if o.RouteTrace != "" {
		if m.route, err = openRouteTrace(o.RouteTrace, cfg); err != nil {
			ck.Close()
			return nil, err
		}
	}
	switch o.Device {
	case "", "cpu":
		m.o.Device = "cpu"
		var hp *hostPlacer
		if o.Policy != nil {
			if hp, err = newHostPlacer(cfg, ck, m.o); err == nil {
				m.pl = hp.placer
			}
		}
		if err == nil {
			m.b, err = openCPU(cfg, ck, hp, m.route)
		}
	case "cuda":
		m.b, m.pl, err = openCUDA(cfg, ck, m.o, m.route)
	default:
		err = fmt.Errorf("engine: unknown device %q (want cpu or cuda)", o.Device)
	}
	if err != nil {
		if m.pl != nil && m.pl.store != nil {
			m.pl.store.Close()
		}
		ck.Close()
		return nil, err
	}
	return m, nil
}

// Close releases the device and the checkpoint.
func (m *Model) Close() error {
	if m.pl != nil {
		m.pl.store.Close()
	}
	m.b.close()
	return m.ck.Close()
}

// Policy returns what Options.Policy did since Open; nil without one.
func (m *Model) Policy() *PolicyResult {
	if m.pl == nil {
		return nil
	}
	r := m.pl.result()
	if s, ok := m.b.(stallReporter); ok {
		stall, host := s.stalls()
		r.Host = host
		for i, l := range m.pl.moe {
			if l >= 0 && i < len(stall) {
				r.Layers[l].Stall = stall[i]
				r.Stall += stall[i]
			}
		}
	}
	return r
}

// stallReporter is a backend that measures how long its compute stood
// still at each layer (by decoder layer) and the host's share, summed
// since Open, as of its last step or generation.
type stallReporter interface {
	stalls() (byLayer []time.Duration, host time.Duration)
}

// WriteTrace writes the routing of every dispatch since Open, in moec's
// trace format (rt/trace), for moec replay and tune: the experts and
// weights the policy was given, at its MoE layers. It needs
// Options.Policy and Options.RecordRouting.
func (m *Model) WriteTrace(w io.Writer) error {
	if m.pl == nil {
		return errors.New("engine: no policy ran, so no routing was recorded")
	}
	return m.pl.writeTrace(w, filepath.Base(filepath.Clean(m.dir)))
}

// Sampling says how Generate chooses a token from the logits: greedily
// (the largest logit, the lowest id among equals) when Temperature is 0,
// otherwise at random from softmax(logits / Temperature) restricted to
// the smallest set of most probable tokens whose probability reaches TopP
// (all tokens when TopP is 0 or 1), deterministically for a Seed.
type Sampling struct {
	Temperature float64
	TopP        float64
	Seed        uint64
}

func (s Sampling) check() error {
	if !(s.Temperature >= 0) || math.IsInf(s.Temperature, 0) {
		return fmt.Errorf("engine: temperature %g is not a finite number >= 0", s.Temperature)
	}
	if !(s.TopP >= 0 && s.TopP <= 1) {
		return fmt.Errorf("engine: top-p %g is outside [0, 1]", s.TopP)
	}
	return nil
}

// Result is a generation and its speed.
type Result struct {
	Prompt, Generated []int
	Prefill, Decode   time.Duration // the prompt's steps (up to the first generated token), the rest
	Device            string
	DeviceMemory      int64         // bytes the model holds on the GPU; 0 on the CPU
	Policy            *PolicyResult // what Options.Policy did since Open; nil without one
}

// PrefillTokensPerSecond returns the prompt's tokens over the prefill time.
func (r *Result) PrefillTokensPerSecond() float64 { return rate(len(r.Prompt), r.Prefill) }

// DecodeTokensPerSecond returns the tokens generated after the first over
// their time.
func (r *Result) DecodeTokensPerSecond() float64 { return rate(len(r.Generated)-1, r.Decode) }

func rate(n int, d time.Duration) float64 {
	if n <= 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Generate runs prompt and then n new tokens chosen by s.
func (m *Model) Generate(prompt []int, n int, s Sampling) (*Result, error) {
	return m.GenerateFunc(prompt, n, s, nil)
}

// ErrStop, returned by GenerateFunc's callback, ends the generation
// without an error: the token it was given is the last one generated.
var ErrStop = errors.New("engine: stop")

// GenerateFunc is Generate calling fn, when not nil, with each generated
// token in order as soon as it is chosen, so that a caller can print the
// text as it is written. fn returning ErrStop ends the generation there
// (at an end-of-turn token); any other error from fn stops it and is
// returned. The CUDA path's greedy generation runs all its tokens in one
// loop on the GPU, with no round trip per token: there fn is called
// after the loop, for each token in order.
func (m *Model) GenerateFunc(prompt []int, n int, s Sampling, fn func(id int) error) (*Result, error) {
	emit := func(id int) error {
		if fn == nil {
			return nil
		}
		return fn(id)
	}
	if len(prompt) == 0 {
		return nil, errors.New("engine: the prompt is empty")
	}
	if n < 1 {
		return nil, fmt.Errorf("engine: %d tokens to generate", n)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	for i, id := range prompt {
		if id < 0 || id >= m.Config.Vocab {
			return nil, fmt.Errorf("engine: prompt id %d at position %d is outside the vocabulary [0, %d)", id, i, m.Config.Vocab)
		}
	}
	if len(prompt)+n > m.o.MaxContext {
		return nil, fmt.Errorf("engine: %d prompt and %d new tokens exceed the context of %d", len(prompt), n, m.o.MaxContext)
	}
	r := &Result{Prompt: slices.Clone(prompt), Device: m.o.Device, DeviceMemory: m.b.memory()}
	if g, ok := m.b.(greedyBackend); ok && s.Temperature == 0 {
		toks, pre, dec, err := g.greedy(prompt, n)
		if err != nil {
			return nil, err
		}
		r.Generated, r.Prefill, r.Decode = toks, pre, dec
		r.Policy = m.Policy()
		for i, id := range toks {
			if err := emit(id); err == ErrStop {
				r.Generated = toks[:i+1]
				break
			} else if err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	if err := m.b.start(len(prompt) + n); err != nil {
		return nil, err
	}
	smp := newSampler(s)
	t0 := time.Now()
	var logits []float32
	var err error
	for _, id := range prompt {
		if logits, err = m.b.step(id); err != nil {
			return nil, err
		}
	}
	next := smp.choose(logits)
	r.Generated = append(r.Generated, next)
	r.Prefill = time.Since(t0)
	err = emit(next)
	t1 := time.Now()
	for err == nil && len(r.Generated) < n {
		if logits, err = m.b.step(next); err != nil {
			return nil, err
		}
		next = smp.choose(logits)
		r.Generated = append(r.Generated, next)
		err = emit(next)
	}
	if err != nil && err != ErrStop {
		return nil, err
	}
	r.Decode = time.Since(t1)
	r.Policy = m.Policy()
	return r, nil
}

// TeacherForced runs tokens and calls fn with the logits after each, in a
// slice reused between calls.
func (m *Model) TeacherForced(tokens []int, fn func(pos int, logits []float32)) error {
	if err := m.b.start(len(tokens)); err != nil {
		return err
	}
	for i, id := range tokens {
		logits, err := m.b.step(id)
		if err != nil {
			return err
		}
		fn(i, logits)
	}
	return nil
}

// A sampler chooses tokens as its Sampling says, with buffers reused from
// token to token: at a vocabulary of 150,000 a token's choice sorts
// nothing, and its exponentials run on every core (weigh).
type sampler struct {
	Sampling
	rng *rand.Rand
	p   []float64 // by token id: exp((logit - max) / Temperature)
	top []int32   // a max-heap of token ids by p, for top-p

	// weigh's: the sums of p by chunk, the next chunk to claim, and its
	// goroutines.
	sums []float64
	next atomic.Int64
	wg   sync.WaitGroup
}

// newSampler returns the sampler of s, its draws seeded by s.Seed.
func newSampler(s Sampling) *sampler {
	return &sampler{Sampling: s, rng: rand.New(rand.NewPCG(s.Seed, 0x6d6f6563))}
}

// choose picks the next token from logits.
//
// A NaN logit is never chosen. Where the largest logit is infinite the
// choice is greedy: +Inf takes all the probability (the lowest id among
// the +Inf ones), and when every logit is -Inf (or NaN) none has any.
func (s *sampler) choose(logits []float32) int {
	best := -1 // the largest logit, the lowest id among equals
	for i, v := range logits {
		if v == v && (best < 0 || v > logits[best]) {
			best = i
		}
	}
	if best < 0 {
		return 0 // every logit is NaN
	}
	m := float64(logits[best])
	if s.Temperature == 0 || math.IsInf(m, 0) {
		return best
	}
	if cap(s.p) < len(logits) {
		s.p = make([]float64, len(logits))
	}
	p := s.p[:len(logits)]
	sum := s.weigh(p, logits, m)
	if s.TopP == 0 || s.TopP == 1 {
		// Every token: a draw over the ids in order. Where rounding
		// leaves the draw unspent, the last token of any probability.
		u := s.rng.Float64() * sum
		last := best
		for i, pi := range p {
			if pi > 0 {
				last = i
			}
			if u -= pi; u < 0 {
				return i
			}
		}
		return last
	}
	// The smallest set of most probable tokens (the lowest id first
	// among equals) whose probability reaches TopP, taken from a heap
	// one at a time: the set is usually a small part of the vocabulary.
	// Only tokens of probability (1 - TopP) / len(p) or more can be in
	// it: those below hold less than 1 - TopP together, so the tokens
	// above reach TopP first. The heap holds only those.
	if cap(s.top) < len(p) {
		s.top = make([]int32, len(p))
	}
	h := s.top[:0]
	floor := (1 - s.TopP) * sum / float64(len(p))
	for i, pi := range p {
		if pi >= floor && pi > 0 {
			h = append(h, int32(i))
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, p, i)
	}
	var acc float64
	kept := h[len(h):] // the popped ids, most probable first, stored behind the heap
	for n := len(h); n > 0; {
		id := h[0]
		n--
		h[0], h[n] = h[n], id
		siftDown(h[:n], p, 0)
		kept = h[n:]
		if acc += p[id] / sum; acc >= s.TopP {
			break
		}
	}
	// kept holds the set in reverse order of popping: the most probable
	// last.
	var total float64
	for _, id := range kept {
		total += p[id]
	}
	u := s.rng.Float64() * total
	last := best
	for i := len(kept) - 1; i >= 0; i-- {
		id := kept[i]
		if p[id] > 0 {
			last = int(id)
		}
		if u -= p[id]; u < 0 {
			return int(id)
		}
	}
	return last
}

// weighChunk is the logits a goroutine of weigh takes: the exponentials
// of a vocabulary of 150,000 take a few milliseconds on one core, about a
// decode step of the GPU.
const weighChunk = 16384

// weigh sets p to exp((logit - m) / Temperature), 0 for a NaN logit, and
// returns their sum: in chunks of weighChunk on up to GOMAXPROCS cores,
// the chunks' sums added in order, so that the sum is the same on every
// machine.
func (s *sampler) weigh(p []float64, logits []float32, m float64) float64 {
	n := (len(p) + weighChunk - 1) / weighChunk
	if cap(s.sums) < n {
		s.sums = make([]float64, n)
	}
	sums := s.sums[:n]
	workers := min(n, runtime.GOMAXPROCS(0))
	s.next.Store(0)
	s.wg.Add(workers - 1)
	for range workers - 1 {
		go s.weighChunks(p, logits, m, true)
	}
	s.weighChunks(p, logits, m, false)
	s.wg.Wait()
	var sum float64
	for _, c := range sums {
		sum += c
	}
	return sum
}

// weighChunks claims chunks of weigh's work until none is left.
func (s *sampler) weighChunks(p []float64, logits []float32, m float64, worker bool) {
	if worker {
		defer s.wg.Done()
	}
	for {
		c := int(s.next.Add(1) - 1)
		lo := c * weighChunk
		if lo >= len(p) {
			return
		}
		hi := min(lo+weighChunk, len(p))
		var sum float64
		for i, v := range logits[lo:hi] {
			var e float64
			if v == v {
				e = math.Exp((float64(v) - m) / s.Temperature)
			}
			p[lo+i] = e
			sum += e
		}
		s.sums[c] = sum
	}
}

// siftDown restores the max-heap order of h (by p, the lower id first
// among equals) below i.
func siftDown(h []int32, p []float64, i int) {
	above := func(a, b int32) bool { return p[a] > p[b] || p[a] == p[b] && a < b }
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && above(h[c+1], h[c]) {
			c++
		}
		if !above(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// cpuBackend is engine/cpu's reference forward, its experts placed by
// pl when there is a policy.
type cpuBackend struct {
	w     *cpu.Weights
	s     *cpu.Session
	pl    *hostPlacer
	route *routeTrace
}

func openCPU(cfg *model.Config, ck *model.Checkpoint, pl *hostPlacer, route *routeTrace) (backend, error) {
	load := cpu.Load
	if pl != nil {
		load = cpu.LoadSkeleton // the experts run from the store
	}
	w, err := load(cfg, ck)
	if err != nil {
		return nil, err
	}
	return &cpuBackend{w: w, pl: pl, route: route}, nil
}

func (b *cpuBackend) start(n int) (err error) {
	b.s, err = cpu.NewSession(b.w, n)
	if err == nil && b.pl != nil {
		b.s.UseExperts(b.pl)
	}
	if err == nil && b.route != nil {
		b.s.ForceRouting(b.route)
	}
	return err
}

func (b *cpuBackend) step(id int) ([]float32, error) { return b.s.Step(id) }
func (b *cpuBackend) memory() int64                  { return 0 }
func (b *cpuBackend) close()                         {}
