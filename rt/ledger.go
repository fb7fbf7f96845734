package rt

import "fmt"

// Ledger is the bookkeeping of dispatches that the interpreter and
// generated code share, so that both turn the same cache operations into
// the same plans and counts: it fills the Plan from what the caches did,
// keeps the counters, and builds Stats. A policy calls, per dispatch,
// Begin; per selected expert, its cache's Access with Effects, then
// Account, the triggers (each with Effects and Settle)
// and Record; per prediction warmed, Warmed.
type Ledger struct {
	x     index
	topk  int
	bytes int64 // of one expert
	step  int64
	n     Counters

	layerHits, layerMisses []int64
	slot                   []ledgerSlot // by index

	fx      Effects
	protect []Key // built on first use in a dispatch
	layer   int32
	experts []int32
	built   bool // protect holds the current dispatch's experts
	preds   []Key
	mon     *monitor
}

// ledgerSlot is what the ledger knows of one expert.
type ledgerSlot struct {
	stamp      int64 // step at which the current plan copies it
	prefetched bool  // warmed and not yet used or evicted
	inLoad     bool  // the current plan's copy is a Load
}

// Counters are a policy's running totals.
type Counters struct {
	Hits, Misses, Evictions int64
	Issued, Useful          int64 // prefetch loads, and those hit before eviction
	GPU, CPU, Transfers     int64 // Transfers: misses run on the GPU
	Loads, Prefetches       int64 // copies: Plan.Load and Plan.Prefetch entries; Stats turns them into bytes
}

// NewLedger returns the ledger of a policy on a model of the given shape,
// with a monitor when mon is not nil. It panics unless a monitor's window
// is in [1, MaxWindow].
func NewLedger(shape Shape, mon *MonitorSpec) *Ledger {
	x := newIndex(shape)
	l := &Ledger{
		x: x, topk: shape.TopK, bytes: shape.ExpertBytes,
		layerHits: make([]int64, shape.Layers), layerMisses: make([]int64, shape.Layers),
		slot:    make([]ledgerSlot, x.size()),
		protect: make([]Key, 0, shape.TopK),
	}
	if mon != nil {
		l.mon = newMonitor(*mon)
	}
	return l
}

// Begin starts a dispatch of experts at layer, whose router scores are
// scores (nil for none), after checking the call against the contract of
// Policy.Dispatch: it panics, saying which condition the call breaks, on
// a layer or an expert out of the shape, more experts than its top-k, or
// scores that do not match the experts, before anything changes. It
// empties the plan but leaves Hit and Device as they are: Account writes
// each entry.
func (l *Ledger) Begin(layer int, experts []int32, scores []float32, plan *Plan) {
	if !l.fits(layer, experts, scores) {
		panic(l.misuse(layer, experts, scores))
	}
	plan.start(layer, experts)
	l.step++
	l.layer, l.experts, l.built = int32(layer), experts, false
}

// fits reports whether a dispatch keeps the contract of Policy.Dispatch;
// an expert is checked by one unsigned comparison, a negative id being a
// large one.
func (l *Ledger) fits(layer int, experts []int32, scores []float32) bool {
	if uint(layer) >= uint(l.x.layers) || len(experts) > l.topk || scores != nil && len(scores) != len(experts) {
		return false
	}
	for _, e := range experts {
		if uint32(e) >= uint32(l.x.experts) {
			return false
		}
	}
	return true
}

// misuse says how a dispatch that fits rejects breaks the contract.
func (l *Ledger) misuse(layer int, experts []int32, scores []float32) string {
	switch {
	case uint(layer) >= uint(l.x.layers):
		return fmt.Sprintf("rt: Dispatch: layer %d is out of range [0, %d)", layer, l.x.layers)
	case len(experts) > l.topk:
		return fmt.Sprintf("rt: Dispatch at layer %d: %d experts selected, more than top-k %d", layer, len(experts), l.topk)
	case scores != nil && len(scores) != len(experts):
		return fmt.Sprintf("rt: Dispatch at layer %d: %d scores for %d experts (nil for none)", layer, len(scores), len(experts))
	}
	for _, e := range experts {
		if uint32(e) >= uint32(l.x.experts) {
			return fmt.Sprintf("rt: Dispatch at layer %d: expert %d is out of range [0, %d)", layer, e, l.x.experts)
		}
	}
	return "rt: Dispatch: the call breaks the contract of rt.Policy" // not reached: fits rejected it
}

// Step returns the number of dispatches begun.
func (l *Ledger) Step() int64 { return l.step }

// Protect returns the experts of the current dispatch, which prefetch
// warming and memory pressure must not evict.
func (l *Ledger) Protect() []Key {
	if !l.built {
		l.protect = l.protect[:0]
		for _, e := range l.experts {
			l.protect = append(l.protect, Key{Layer: l.layer, Expert: e})
		}
		l.built = true
	}
	return l.protect
}

// Effects returns the ledger's Effects, emptied, for the next cache
// operation.
func (l *Ledger) Effects() *Effects {
	l.fx.Reset()
	return &l.fx
}

// Settle turns the Effects of the last cache operation into plan entries
// and counts them. An expert copied by this plan and evicted again is
// taken out of Prefetch (nobody needed it) or, when it is a Load the layer
// runs on, also listed in Evict (its slot is freed after the layer). It
// returns the number of evictions counted.
func (l *Ledger) Settle(plan *Plan) int {
	if len(l.fx.Evicted)+len(l.fx.Admitted)+int(l.fx.Phantom) == 0 { // none is negative
		return 0 // the common case, kept small enough to inline
	}
	return l.settle(plan)
}

func (l *Ledger) settle(plan *Plan) int {
	for _, k := range l.fx.Evicted {
		s := &l.slot[l.x.of(k)]
		s.prefetched = false
		switch {
		case s.stamp != l.step, s.inLoad:
			plan.Evict = append(plan.Evict, k)
		default:
			plan.Prefetch = removeKey(plan.Prefetch, k)
			s.stamp = 0
			l.n.Prefetches--
		}
	}
	for _, k := range l.fx.Admitted {
		l.copy(plan, k, false)
	}
	n := len(l.fx.Evicted) + int(l.fx.Phantom)
	l.n.Evictions += int64(n)
	return n
}

// Account settles the Effects of the cache's access to the i-th selected
// expert, k, and records whether it hit; kept says whether the cache holds
// k now and cpu whether a miss runs on the CPU. A miss run on the CPU that
// the cache kept is copied in the background; one run on the GPU is loaded
// and, when not kept, freed after the layer. The common cases are written
// out in this one call, for the hot path. It returns the number of
// evictions counted.
func (l *Ledger) Account(plan *Plan, i int, k Key, hit, kept, cpu bool) int {
	n := l.Settle(plan)
	if hit || cpu {
		if hit {
			l.hit(plan, i, k)
		} else {
			l.miss(plan, i, k, kept, cpu)
		}
		return n
	}
	// A miss run on the GPU.
	l.n.Misses++
	l.n.GPU++
	l.n.Transfers++
	l.layerMisses[k.Layer]++
	plan.Hit[i], plan.Device[i] = false, GPU
	if s := &l.slot[l.x.of(k)]; s.stamp != l.step {
		s.stamp, s.inLoad = l.step, true
		plan.Load = append(plan.Load, k)
		l.n.Loads++
	} else {
		l.copy(plan, k, true)
	}
	if !kept {
		plan.Evict = append(plan.Evict, k)
	}
	return n
}

// hit records that the i-th selected expert, k, was resident.
func (l *Ledger) hit(plan *Plan, i int, k Key) {
	l.n.Hits++
	l.layerHits[k.Layer]++
	l.n.GPU++
	plan.Hit[i], plan.Device[i] = true, GPU
	s := &l.slot[l.x.of(k)]
	if s.prefetched {
		s.prefetched = false
		l.n.Useful++
	}
	if s.stamp == l.step {
		// Made resident earlier in this dispatch by a background copy (a
		// CPU miss, a frequency-threshold admission): the layer needs it
		// now.
		l.copy(plan, k, true)
	}
}

// miss records that the i-th selected expert, k, was not resident: kept
// says whether the cache kept it, cpu whether it runs on the CPU. A miss
// run on the CPU that the cache kept is copied in the background; one run
// on the GPU is loaded and, when not kept, freed after the layer.
func (l *Ledger) miss(plan *Plan, i int, k Key, kept, cpu bool) {
	l.n.Misses++
	l.layerMisses[k.Layer]++
	plan.Hit[i] = false
	if cpu {
		l.n.CPU++
		plan.Device[i] = CPU
		if kept {
			l.copy(plan, k, false)
		}
		return
	}
	l.n.GPU++
	l.n.Transfers++
	plan.Device[i] = GPU
	l.copy(plan, k, true)
	if !kept {
		plan.Evict = append(plan.Evict, k)
	}
}

// Record enters the i-th selected expert's access, and the evictions it
// caused, into the monitor's windows.
func (l *Ledger) Record(plan *Plan, i int, evictions int) {
	if l.mon == nil {
		return
	}
	var flags uint8
	switch {
	case plan.Hit[i]:
		flags = flagHit
	case plan.Device[i] == CPU:
		flags = flagCPU
	default:
		flags = flagTransfer
	}
	l.mon.record(flags, evictions)
}

// Predictions returns an empty slice with room for budget predictions.
func (l *Ledger) Predictions(budget int) []Key {
	if cap(l.preds) < budget {
		l.preds = make([]Key, 0, budget)
	}
	return l.preds[:0]
}

// Warmed records that prefetching made k resident: the cache's Effects
// are settled and k is copied in the background.
func (l *Ledger) Warmed(plan *Plan, k Key) {
	l.n.Issued++
	l.Settle(plan)
	l.copy(plan, k, false)
	l.slot[l.x.of(k)].prefetched = true
}

// copy puts k in the plan's Load (demand) or Prefetch list. A key this
// plan already copies is not copied twice: a background copy becomes a
// Load if the layer needs it, and a Load the plan meant to free after the
// layer (in Evict) stays resident instead.
func (l *Ledger) copy(plan *Plan, k Key, demand bool) {
	s := &l.slot[l.x.of(k)]
	if s.stamp == l.step {
		if demand && !s.inLoad {
			plan.Prefetch = removeKey(plan.Prefetch, k)
			l.n.Prefetches--
			plan.Load = append(plan.Load, k)
			l.n.Loads++
			s.inLoad = true
		} else if s.inLoad {
			plan.Evict = removeKey(plan.Evict, k)
		}
		return
	}
	s.stamp, s.inLoad = l.step, demand
	if demand {
		plan.Load = append(plan.Load, k)
		l.n.Loads++
	} else {
		plan.Prefetch = append(plan.Prefetch, k)
		l.n.Prefetches++
	}
}

func removeKey(s []Key, k Key) []Key {
	for j, x := range s {
		if x == k {
			copy(s[j:], s[j+1:])
			return s[:len(s)-1]
		}
	}
	return s
}

// Counters returns the running totals.
func (l *Ledger) Counters() Counters { return l.n }

// Metric returns a rule metric over the accesses since base was taken.
func (l *Ledger) Metric(m Metric, base Counters) float64 {
	d := &l.n
	accesses := d.Hits + d.Misses - base.Hits - base.Misses
	switch m {
	case HitRate:
		return ratio(d.Hits-base.Hits, accesses)
	case MissRate:
		return ratio(d.Misses-base.Misses, accesses)
	case EvictionRate:
		return ratio(d.Evictions-base.Evictions, accesses)
	case PrefetchAccuracy:
		return ratio(d.Useful-base.Useful, d.Issued-base.Issued)
	case TransferRate:
		return ratio(d.Transfers-base.Transfers, accesses)
	case CPURate:
		return ratio(d.CPU-base.CPU, accesses)
	}
	return 0
}

// Stats returns the counters as Stats for the policy called name; the
// caller adds what only it knows: triggers, adapt, per-layer capacities,
// the monitor's memory.
func (l *Ledger) Stats(name string) Stats {
	n := &l.n
	s := Stats{
		Name:      name,
		Steps:     l.step,
		Cache:     CacheStats{Hits: n.Hits, Misses: n.Misses, Evictions: n.Evictions, HitRate: ratio(n.Hits, n.Hits+n.Misses)},
		Prefetch:  PrefetchStats{Issued: n.Issued, Useful: n.Useful, Accuracy: ratio(n.Useful, n.Issued)},
		Scheduler: SchedulerStats{GPU: n.GPU, CPU: n.CPU, Transfers: n.Transfers},
		Transfer:  TransferStats{DemandBytes: Bytes(n.Loads, l.bytes), PrefetchBytes: Bytes(n.Prefetches, l.bytes)},
		Layers:    make([]LayerStats, len(l.layerHits)),
	}
	for i := range s.Layers {
		h, m := l.layerHits[i], l.layerMisses[i]
		s.Layers[i] = LayerStats{Hits: h, Misses: m, HitRate: ratio(h, h+m)}
	}
	if l.mon != nil {
		s.Monitor = l.mon.stats(0)
	}
	return s
}

// ScoreAt returns the router's gate for the i-th selected expert, 1 when
// the router gave none.
func ScoreAt(scores []float32, i int) float32 {
	if scores == nil {
		return 1
	}
	return scores[i]
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
