package replay

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/moepolicy/moec/rt"
)

// Options configures Run.
type Options struct {
	// Shape is the model's: the simulator's slots are indexed by it, and
	// its ExpertBytes prices every copy.
	Shape rt.Shape
	// Slots is the number of device slots: a plan may never hold more
	// resident experts, pinned ones included. For a flat cache it is the
	// cache's capacity; for per-layer caches, their total.
	Slots int
	// Pinned are the experts resident from the start, every layer's
	// (PinnedKeys expands a policy's pin list).
	Pinned []rt.Key
	// Decisions, when not nil, receives one JSON line per dispatch, in
	// source order (see AppendDecision). The line of a plan that breaks
	// the contract is written before Run returns its error.
	Decisions io.Writer
	// Progress, when not nil, is called with the number of dispatches done
	// every ProgressEvery dispatches, and once more at the end.
	Progress func(done int64)
	// ProgressEvery is the number of dispatches between Progress calls;
	// 0 means 65536.
	ProgressEvery int64
}

// Count is a number of expert accesses split into hits and misses.
type Count struct {
	Hits, Misses int64
}

// Accesses returns hits plus misses.
func (c Count) Accesses() int64 { return c.Hits + c.Misses }

// HitRate returns hits over accesses, 0 when there were none.
func (c Count) HitRate() float64 {
	if n := c.Accesses(); n > 0 {
		return float64(c.Hits) / float64(n)
	}
	return 0
}

// LayerResult is one layer's share of a replay.
type LayerResult struct {
	Dispatches int64
	Count
}

// Overlap counts the dispatches that issued Prefetches background copies
// and Loads demand copies and ran GPU of their selected experts on the GPU
// and CPU on the CPU: what CostModel needs to tell how much copy time the
// compute hides and how much CPU time the demand copies do.
type Overlap struct {
	Prefetches, GPU int
	Loads, CPU      int
	Dispatches      int64
}

// Result is what a replay measured. The counts come from the plans as the
// simulator executed them, not from the policy's own Stats (kept apart in
// Stats), so a policy that miscounts shows as a difference between the two.
// Two differ by definition: Loads counts every entry of Plan.Load, which
// includes the copy a hit needs when an earlier access of the same
// dispatch admitted the expert, while Stats.Scheduler.Transfers counts
// misses run on the GPU; Evictions counts the entries of Plan.Evict, slots
// released (a miss not kept included), while Stats.Cache.Evictions counts
// as the reference does (the frequency-threshold cache's evictions of
// experts never resident, a prefetch evicted within its own dispatch).
type Result struct {
	Policy     string   // the policy's Name
	Shape      rt.Shape // Options.Shape
	Slots      int      // Options.Slots
	Dispatches int64    // rows replayed
	// Tokens is the number of tokens replayed: the most dispatches any one
	// layer had. Every token passes every layer once, so this equals
	// Dispatches / Layers on a complete trace, and it still counts a token
	// whose last layers were cut off, or a trace without some layer.
	Tokens        int64
	Count         // every selected expert, from Plan.Hit
	Layers        []LayerResult
	GPU, CPU      int64     // selected experts run on each device
	Loads         int64     // demand copies (Plan.Load)
	Prefetches    int64     // background copies (Plan.Prefetch)
	Evictions     int64     // slots released (Plan.Evict)
	DemandBytes   int64     // Loads x Shape.ExpertBytes, saturating (rt.Bytes)
	PrefetchBytes int64     // Prefetches x Shape.ExpertBytes, saturating (rt.Bytes)
	Peak          int       // the most experts resident after a plan, pinned ones included
	PeakInUse     int       // the most slots in use during a compute (Simulator.PeakInUse)
	Overlap       []Overlap // dispatches by (Prefetches, GPU, Loads, CPU), in that order; for CostModel
	Stats         rt.Stats  // the policy's own, at the end
}

// Run replays src through p in source order, one Dispatch per row with one
// reused Plan, executing every plan on a Simulator. It stops at the first
// error: the source's, routing out of the shape, a plan that breaks the
// mechanism contract, or a failed write of a decision line.
func Run(p rt.Policy, src Source, opts Options) (*Result, error) {
	sim, err := NewSimulator(opts.Shape, opts.Slots, opts.Pinned)
	if err != nil {
		return nil, err
	}
	every := opts.ProgressEvery
	if every <= 0 {
		every = 1 << 16
	}
	r := &Result{
		Policy: p.Name(),
		Shape:  opts.Shape,
		Slots:  opts.Slots,
		Layers: make([]LayerResult, opts.Shape.Layers),
	}
	var dw *decisionWriter
	if opts.Decisions != nil {
		dw = &decisionWriter{w: opts.Decisions, buf: make([]byte, 0, decisionBuffer)}
	}
	var (
		plan    rt.Plan
		overlap = map[Overlap]int64{} // dispatches by their counts, Dispatches 0
		next    = every
	)
	for {
		layer, experts, scores, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, dw.flushAfter(err)
		}
		if err := sim.CheckRouting(layer, experts, scores); err != nil {
			return nil, dw.flushAfter(err)
		}
		p.Dispatch(layer, experts, scores, &plan)
		if dw != nil {
			if err := dw.write(&plan); err != nil {
				return nil, err
			}
		}
		hits, gpu, err := sim.apply(layer, experts, &plan)
		if err != nil {
			return nil, dw.flushAfter(err)
		}

		lr := &r.Layers[layer]
		lr.Dispatches++
		lr.Hits += int64(hits)
		lr.Misses += int64(len(experts) - hits)
		r.GPU += int64(gpu)
		r.CPU += int64(len(experts) - gpu)
		r.Loads += int64(len(plan.Load))
		r.Prefetches += int64(len(plan.Prefetch))
		r.Evictions += int64(len(plan.Evict))
		overlap[Overlap{Prefetches: len(plan.Prefetch), GPU: gpu, Loads: len(plan.Load), CPU: len(experts) - gpu}]++

		r.Dispatches++
		if opts.Progress != nil && r.Dispatches == next {
			opts.Progress(r.Dispatches)
			next += every
		}
	}
	if err := dw.flush(); err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress(r.Dispatches)
	}

	for _, l := range r.Layers {
		r.Hits += l.Hits
		r.Misses += l.Misses
		r.Tokens = max(r.Tokens, l.Dispatches)
	}
	r.DemandBytes = rt.Bytes(r.Loads, opts.Shape.ExpertBytes)
	r.PrefetchBytes = rt.Bytes(r.Prefetches, opts.Shape.ExpertBytes)
	r.Peak, r.PeakInUse = sim.Peak(), sim.PeakInUse()
	for o, n := range overlap {
		o.Dispatches = n
		r.Overlap = append(r.Overlap, o)
	}
	slices.SortFunc(r.Overlap, func(a, b Overlap) int {
		return cmp.Or(cmp.Compare(a.Prefetches, b.Prefetches), cmp.Compare(a.GPU, b.GPU), cmp.Compare(a.Loads, b.Loads), cmp.Compare(a.CPU, b.CPU))
	})
	r.Stats = p.Stats()
	return r, nil
}

// String summarizes the result on one line, for test failures and logs.
func (r *Result) String() string {
	return fmt.Sprintf("%s: %d dispatches, %d tokens, hits %d, misses %d (%.4f), gpu %d, cpu %d, loads %d, prefetches %d, evictions %d, peak %d of %d slots",
		r.Policy, r.Dispatches, r.Tokens, r.Hits, r.Misses, r.HitRate(), r.GPU, r.CPU, r.Loads, r.Prefetches, r.Evictions, r.Peak, r.Slots)
}
