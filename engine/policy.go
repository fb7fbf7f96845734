package engine

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/engine/cpu"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/trace"
)

// ExpertShape returns the rt.Shape of the routed experts of the
// checkpoint in dir, the shape to build a policy for (rt.New, or the
// constructor moec build generates): its MoE layers, experts per layer,
// top-k and the bytes of one expert as the checkpoint stores it.
func ExpertShape(dir string) (rt.Shape, error) {
	cfg, err := model.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return rt.Shape{}, err
	}
	ck, err := model.Open(dir)
	if err != nil {
		return rt.Shape{}, err
	}
	defer ck.Close()
	x, err := ck.Experts(cfg)
	if err != nil {
		return rt.Shape{}, err
	}
	return cudart.ExpertShape(x, cfg.TopK), nil
}

// PolicyResult is what a policy did since Open.
type PolicyResult struct {
	Name  string
	Stats rt.Stats // the policy's own
	// Plans are counted from the plans the store executed, as moec replay
	// counts them (rt/replay's Result): a run and a replay of its
	// recorded routing count the same.
	Plans PlanCounts
	// Layers are the hits and misses by MoE layer (rt.Key.Layer).
	Layers []LayerCounts
	// Shape is the routed experts' (ExpertShape), the shape the policy
	// was built for.
	Shape rt.Shape
	// Tokens counts the tokens whose routing reached the policy, as moec
	// replay counts the tokens of the trace they make.
	Tokens int64
	// Store counts the copies the store made, by stream, and their bytes.
	Store cudart.Counters
	// Memory is how Options.GPUMem was spent; nil without it.
	Memory *MemoryPlan
	// Hardware is what the policy was calibrated with (Options.Hardware,
	// filled in by the GPU's measurements); zero when the policy takes no
	// calibration (rt.Calibrated), or ran on the CPU without
	// Options.Hardware.
	Hardware rt.Hardware
	// Stall is, on the GPU, how long the compute stood still between the
	// MoE layers' routers and their experts, summed: the host's decision
	// (Host) and the copies the compute did not hide (Stall - Host).
	// Both are 0 on the CPU.
	Stall, Host time.Duration
}

// Exposed returns the transfer time the compute did not hide: Stall less
// the host's share, at least 0.
func (r *PolicyResult) Exposed() time.Duration { return max(r.Stall-r.Host, 0) }

// Calibration returns what r measured that moec replay's cost model needs
// to predict such runs (replay.Calibration, whose fields say how each
// figure is derived): the step's GPU time outside the stalls per token,
// the host's time per dispatch, and the rate of the demand copies the
// compute waited for. It is nil where the stalls were not measured: with
// no policy, on the CPU (whose stall is 0: its experts are never waited
// for), before any token ran, and where the stalls exceed r's time (the
// two come from clocks that then disagree). The policy's counts and
// stalls run since Open while r's times are its own, so the figures hold
// for the first generation after Open, as moec run makes it.
func (r *Result) Calibration() *replay.Calibration {
	p := r.Policy
	if p == nil || p.Stall <= 0 || p.Tokens < 1 || p.Plans.Dispatches < 1 {
		return nil
	}
	msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	c := &replay.Calibration{
		GPUTokenMS:  msOf(r.Prefill+r.Decode-p.Stall) / float64(p.Tokens),
		HostLayerMS: msOf(p.Host) / float64(p.Plans.Dispatches),
		ExpertBytes: p.Shape.ExpertBytes,
		MoELayers:   p.Shape.Layers,
		Tokens:      p.Tokens,
		PCIeGBps:    p.Hardware.PCIeGBps,
		CPUExpertMS: p.Hardware.CPUExpertMS,
	}
	if ex := p.Exposed(); ex > 0 && p.Store.Demand.Bytes > 0 {
		c.CopyGBps = float64(p.Store.Demand.Bytes) / float64(ex) // bytes per ns = GB/s
	}
	if c.GPUTokenMS <= 0 {
		return nil
	}
	return c
}

// PlanCounts count what plans said.
type PlanCounts struct {
	Dispatches   int64
	Hits, Misses int64 // selected experts, by Plan.Hit
	GPU, CPU     int64 // selected experts, by Plan.Device
	Loads        int64 // entries of Plan.Load
	Prefetches   int64 // entries of Plan.Prefetch
	Evictions    int64 // entries of Plan.Evict
}

// HitRate returns hits over selected experts, 0 when none were.
func (c PlanCounts) HitRate() float64 { return hitRate(c.Hits, c.Misses) }

// LayerCounts are one MoE layer's hits and misses, and on the GPU how
// long its compute stood still (PolicyResult.Stall).
type LayerCounts struct {
	Hits, Misses int64
	Stall        time.Duration
}

// HitRate returns hits over selected experts, 0 when none were.
func (c LayerCounts) HitRate() float64 { return hitRate(c.Hits, c.Misses) }

func hitRate(hits, misses int64) float64 {
	if n := hits + misses; n > 0 {
		return float64(hits) / float64(n)
	}
	return 0
}

// A placer runs a policy over each sparse layer's routing for either
// backend: it passes the top-k to Dispatch, has the store execute the
// plan, counts what the plans said and records the routing. The CPU's
// hostPlacer and the GPU's gpuPlacer (build tag cuda) then run each
// expert from where the plan says.
type placer struct {
	p      rt.Policy
	store  cudart.Mechanism
	x      *model.Experts
	shape  rt.Shape
	so     cudart.Options // the store's, Shape set
	moe    []int          // by decoder layer: its MoE layer (rt.Key.Layer), -1 when dense
	plan   rt.Plan
	scores []float32
	counts PlanCounts
	layers []LayerCounts
	mem    *MemoryPlan
	hw     rt.Hardware // what the policy was calibrated with

	record bool
	token  int // the token being run, counted from Open
	rows   []trace.Row
}

// newPlacer finds the checkpoint's experts and sizes the store for
// o.Policy (and o.GPUMem); the caller opens the store and packs it.
func newPlacer(cfg *model.Config, ck *model.Checkpoint, o Options) (*placer, error) {
	x, err := ck.Experts(cfg)
	if err != nil {
		return nil, err
	}
	so := o.Store
	shape := cudart.ExpertShape(x, cfg.TopK)
	if so.Shape != (rt.Shape{}) && so.Shape != shape {
		return nil, fmt.Errorf("engine: the store's shape %+v is not the checkpoint's %+v (engine.ExpertShape)", so.Shape, shape)
	}
	so.Shape, so.Device = shape, o.GPU
	pl := &placer{p: o.Policy, x: x, shape: shape, so: so, record: o.RecordRouting, token: -1,
		moe: make([]int, cfg.Layers), scores: make([]float32, cfg.TopK), layers: make([]LayerCounts, shape.Layers)}
	if o.GPUMem > 0 {
		if pl.mem, err = planMemory(cfg, o, so); err != nil {
			return nil, err
		}
	}
	for i := range pl.moe {
		pl.moe[i] = -1
	}
	for l, i := range x.Layers {
		pl.moe[i] = l
	}
	if c, ok := o.Policy.(rt.Calibrated); ok && o.Hardware != (rt.Hardware{}) {
		pl.hw = o.Hardware // the GPU measures the figures left at 0 and calibrates again
		c.Calibrate(pl.hw)
	}
	return pl, nil
}

// dispatch runs the policy over decoder layer's routing, has the store
// execute the plan and counts it; it returns the plan and the MoE layer.
func (pl *placer) dispatch(layer int, ids []int32, weights []float32) (*rt.Plan, int32, error) {
	l := pl.moe[layer]
	if l < 0 {
		return nil, 0, fmt.Errorf("engine: layer %d is routed, but the checkpoint has no experts there", layer)
	}
	if l == 0 { // every token passes the MoE layers in order
		pl.token++
	}
	scores := pl.scores[:len(ids)]
	for i, w := range weights[:len(ids)] {
		// The policy sees the scores a recorded trace keeps, so a replay
		// of the trace decides as the run did.
		scores[i] = trace.RoundScore(w)
	}
	if pl.record {
		pl.rows = append(pl.rows, trace.Row{Token: pl.token, Layer: l, Experts: slices.Clone(ids), Scores: slices.Clone(scores)})
	}
	p := &pl.plan
	pl.p.Dispatch(l, ids, scores, p)
	if err := pl.store.Apply(p); err != nil {
		return nil, 0, fmt.Errorf("engine: policy %s at layer %d: %w", pl.p.Name(), layer, err)
	}
	c, lc := &pl.counts, &pl.layers[l]
	c.Dispatches++
	c.Loads += int64(len(p.Load))
	c.Prefetches += int64(len(p.Prefetch))
	c.Evictions += int64(len(p.Evict))
	for i := range ids {
		if p.Hit[i] {
			c.Hits++
			lc.Hits++
		} else {
			c.Misses++
			lc.Misses++
		}
		if p.Device[i] == rt.GPU {
			c.GPU++
		} else {
			c.CPU++
		}
	}
	return p, int32(l), nil
}

func (pl *placer) result() *PolicyResult {
	return &PolicyResult{Name: pl.p.Name(), Stats: pl.p.Stats(), Plans: pl.counts, Layers: slices.Clone(pl.layers),
		Shape: pl.shape, Tokens: int64(pl.token + 1), Store: pl.store.Counters(), Memory: pl.mem, Hardware: pl.hw}
}

// hostPlacer is the CPU session's ExpertSource: the plans run on a
// HostStore, and each selected expert is widened from the bytes the plan
// says it runs from: its slot for the GPU, the arena for the CPU. Both
// are widened and run by engine/cpu, never by package expert's fast
// path, whose float32 sums would make the logits differ from the run
// without a policy (TestPolicySameTokens wants them bit-identical).
type hostPlacer struct {
	*placer
	host *cudart.HostStore
	mlps []cpu.MLP // TopK experts' float32 weights, reused
	out  []*cpu.MLP
	ids  []int32
}

// newHostPlacer packs the checkpoint's experts into a HostStore for
// o.Policy.
func newHostPlacer(cfg *model.Config, ck *model.Checkpoint, o Options) (*hostPlacer, error) {
	pl, err := newPlacer(cfg, ck, o)
	if err != nil {
		return nil, err
	}
	s := pl.so.Shape
	if err := cpu.FitsSkeleton(cfg, (int64(s.Layers)*int64(s.Experts)+int64(pl.so.Slots()))*s.ExpertBytes); err != nil {
		return nil, err
	}
	store, err := cudart.OpenHost(pl.so)
	if err != nil {
		return nil, err
	}
	if err := cudart.Pack(pl.x, store.Host); err != nil {
		store.Close()
		return nil, err
	}
	pl.store = store
	hp := &hostPlacer{placer: pl, host: store, ids: make([]int32, cfg.TopK),
		mlps: make([]cpu.MLP, cfg.TopK), out: make([]*cpu.MLP, cfg.TopK)}
	inter := int(pl.x.Gate[0])
	for i := range hp.mlps {
		m := &hp.mlps[i]
		m.Inter = inter
		m.Gate = make([]float32, inter*cfg.Hidden)
		m.Up = make([]float32, inter*cfg.Hidden)
		m.Down = make([]float32, cfg.Hidden*inter)
		hp.out[i] = m
	}
	return hp, nil
}

// Experts dispatches layer's routing, applies the plan and unpacks each
// selected expert from where the plan runs it.
func (hp *hostPlacer) Experts(layer int, r cpu.Routing) ([]*cpu.MLP, error) {
	n := len(r.Experts)
	ids := hp.ids[:n]
	for i, e := range r.Experts {
		ids[i] = int32(e)
	}
	p, l, err := hp.dispatch(layer, ids, r.Weights)
	if err != nil {
		return nil, err
	}
	for i, e := range ids {
		k := rt.Key{Layer: l, Expert: e}
		var b []byte
		if p.Device[i] == rt.GPU {
			var ok bool
			if b, ok = hp.host.Ptr(k); !ok {
				return nil, fmt.Errorf("engine: policy %s runs expert %v on the GPU, but no slot holds it", hp.p.Name(), k)
			}
		} else {
			b = hp.host.Host(k)
		}
		m := &hp.mlps[i]
		if err := hp.x.Unpack(b, m.Gate, m.Up, m.Down); err != nil {
			return nil, err
		}
	}
	return hp.out[:n], nil
}

// Done releases the slots the layer's plan keeps until its experts ran.
func (hp *hostPlacer) Done(int) error { return hp.host.Used() }

// writeTrace writes the recorded routing as a trace of model name.
func (pl *placer) writeTrace(w io.Writer, name string) error {
	if !pl.record {
		return fmt.Errorf("engine: the routing was not recorded (Options.RecordRouting)")
	}
	s := pl.shape
	tw, err := trace.NewWriter(w, trace.Header{Model: name, Layers: s.Layers, Experts: s.Experts, TopK: s.TopK,
		Entries: int64(len(pl.rows)), ExpertBytes: s.ExpertBytes})
	if err != nil {
		return err
	}
	for _, r := range pl.rows {
		if err := tw.Write(r); err != nil {
			return err
		}
	}
	return tw.Close()
}
