package engine

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/engine/cpu"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt"
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
	// Store counts the copies the store made, by stream, and their bytes.
	Store cudart.Counters
	// Memory is how Options.GPUMem was spent; nil without it.
	Memory *MemoryPlan
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
func (c PlanCounts) HitRate() float64 {
	if n := c.Hits + c.Misses; n > 0 {
		return float64(c.Hits) / float64(n)
	}
	return 0
}

// placer runs each sparse layer's experts where a policy places them: it
// is the CPU session's ExpertSource. Per layer it passes the router's
// top-k to Dispatch, executes the plan on a HostStore and hands the
// session each expert widened from the bytes the plan says it runs from:
// its slot for the GPU, the arena for the CPU.
type placer struct {
	p      rt.Policy
	store  *cudart.HostStore
	x      *model.Experts
	shape  rt.Shape
	moe    []int // by decoder layer: its MoE layer (rt.Key.Layer), -1 when dense
	plan   rt.Plan
	ids    []int32
	scores []float32
	mlps   []cpu.MLP // TopK experts' float32 weights, reused
	out    []*cpu.MLP
	counts PlanCounts
	mem    *MemoryPlan

	record bool
	token  int // the token being run, counted from Open
	rows   []trace.Row
}

// newPlacer packs the checkpoint's experts into a HostStore for p.
func newPlacer(cfg *model.Config, ck *model.Checkpoint, o Options) (*placer, error) {
	p, so, record := o.Policy, o.Store, o.RecordRouting
	x, err := ck.Experts(cfg)
	if err != nil {
		return nil, err
	}
	shape := cudart.ExpertShape(x, cfg.TopK)
	if so.Shape != (rt.Shape{}) && so.Shape != shape {
		return nil, fmt.Errorf("engine: the store's shape %+v is not the checkpoint's %+v (engine.ExpertShape)", so.Shape, shape)
	}
	so.Shape = shape
	var mem *MemoryPlan
	if o.GPUMem > 0 {
		if mem, err = planMemory(cfg, o, so); err != nil {
			return nil, err
		}
	}
	store, err := cudart.OpenHost(so)
	if err != nil {
		return nil, err
	}
	if err := cudart.Pack(x, store.Host); err != nil {
		store.Close()
		return nil, err
	}
	pl := &placer{p: p, store: store, x: x, shape: shape, mem: mem, record: record, token: -1,
		moe: make([]int, cfg.Layers), ids: make([]int32, cfg.TopK), scores: make([]float32, cfg.TopK),
		mlps: make([]cpu.MLP, cfg.TopK), out: make([]*cpu.MLP, cfg.TopK)}
	for i := range pl.moe {
		pl.moe[i] = -1
	}
	for l, i := range x.Layers {
		pl.moe[i] = l
	}
	inter := int(x.Gate[0])
	for i := range pl.mlps {
		m := &pl.mlps[i]
		m.Inter = inter
		m.Gate = make([]float32, inter*cfg.Hidden)
		m.Up = make([]float32, inter*cfg.Hidden)
		m.Down = make([]float32, cfg.Hidden*inter)
		pl.out[i] = m
	}
	return pl, nil
}

// Experts dispatches layer's routing, applies the plan and unpacks each
// selected expert from where the plan runs it.
func (pl *placer) Experts(layer int, r cpu.Routing) ([]*cpu.MLP, error) {
	l := pl.moe[layer]
	if l < 0 {
		return nil, fmt.Errorf("engine: layer %d is routed, but the checkpoint has no experts there", layer)
	}
	n := len(r.Experts)
	ids, scores := pl.ids[:n], pl.scores[:n]
	for i, e := range r.Experts {
		ids[i] = int32(e)
		// The policy sees the scores a recorded trace keeps, so a replay
		// of the trace decides as the run did.
		scores[i] = trace.RoundScore(r.Weights[i])
	}
	if pl.record {
		pl.rows = append(pl.rows, trace.Row{Token: pl.token, Layer: l, Experts: slices.Clone(ids), Scores: slices.Clone(scores)})
	}
	p := &pl.plan
	pl.p.Dispatch(l, ids, scores, p)
	if err := pl.store.Apply(p); err != nil {
		return nil, fmt.Errorf("engine: policy %s at layer %d: %w", pl.p.Name(), layer, err)
	}
	c := &pl.counts
	c.Dispatches++
	c.Loads += int64(len(p.Load))
	c.Prefetches += int64(len(p.Prefetch))
	c.Evictions += int64(len(p.Evict))
	for i, e := range ids {
		k := rt.Key{Layer: int32(l), Expert: e}
		if p.Hit[i] {
			c.Hits++
		} else {
			c.Misses++
		}
		var b []byte
		if p.Device[i] == rt.GPU {
			c.GPU++
			var ok bool
			if b, ok = pl.store.Ptr(k); !ok {
				return nil, fmt.Errorf("engine: policy %s runs expert %v on the GPU, but no slot holds it", pl.p.Name(), k)
			}
		} else {
			c.CPU++
			b = pl.store.Host(k)
		}
		m := &pl.mlps[i]
		if err := pl.x.Unpack(b, m.Gate, m.Up, m.Down); err != nil {
			return nil, err
		}
	}
	return pl.out[:n], nil
}

// Done releases the slots the layer's plan keeps until its experts ran.
func (pl *placer) Done(int) error { return pl.store.Used() }

func (pl *placer) result() *PolicyResult {
	return &PolicyResult{Name: pl.p.Name(), Stats: pl.p.Stats(), Plans: pl.counts, Store: pl.store.Counters(), Memory: pl.mem}
}

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
