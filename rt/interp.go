package rt

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// New returns the interpreter for spec on a model of the given shape: the
// policy run from its resolved description, making exactly the decisions
// generated code makes. It rejects what no checker could know: a zero
// shape, pinned ids at or above shape.Experts, pins that do not fit the
// slots, and a Spec that breaks the language's rules.
func New(spec *Spec, shape Shape) (Policy, error) {
	return newInterp(spec, shape)
}

// store is one cache with its triggers: the shared cache of a flat policy,
// or one layer's cache of a per-layer policy.
type store struct {
	c   cache
	mem *MemoryTrigger
	ttl *TTLTrigger
}

// counters are the running totals; metrics of adapt rules are differences
// from a copy taken at the last swap.
type counters struct {
	hits, misses, evictions int64
	issued, useful          int64
	gpu, cpu, transfers     int64
	demandBytes, prefBytes  int64
}

// interp is the interpreter. A mutex makes Stats safe while Dispatch runs;
// uncontended, it costs a few nanoseconds a dispatch.
type interp struct {
	mu sync.Mutex

	spec    *Spec
	shape   Shape
	x       index // over all layers
	stores  []*store
	storeOf []*store // by layer
	pf      prefetcher
	budget  int
	missCPU bool
	bytes   int64 // of one expert, for the transfer counters
	mon     *monitor
	pl      *budgets
	ad      *adapter

	step        int64
	n           counters
	layerHits   []int64
	layerMisses []int64
	prefetched  []bool  // by index: warmed and not yet used or evicted
	stamp       []int64 // by index: step at which it was copied in the current plan
	inLoad      []bool  // by index: its copy in the current plan is a Load

	fx      Effects
	protect []Key
	preds   []Key
	resid   []Key
}

func newInterp(spec *Spec, shape Shape) (*interp, error) {
	if err := shape.Validate(); err != nil {
		return nil, err
	}
	if vs := spec.Check(); len(vs) > 0 {
		msgs := make([]string, len(vs))
		for i, v := range vs {
			msgs[i] = v.Msg
		}
		return nil, fmt.Errorf("policy %q is invalid: %s", spec.Name, strings.Join(msgs, "; "))
	}
	pins := uniquePins(spec.Cache.Pin)
	for _, e := range pins {
		if e >= shape.Experts {
			return nil, fmt.Errorf("policy %q pins expert %d, but the model has experts 0 to %d", spec.Name, e, shape.Experts-1)
		}
	}
	p := &interp{
		spec: spec.Clone(), shape: shape, x: newIndex(shape),
		layerHits: make([]int64, shape.Layers), layerMisses: make([]int64, shape.Layers),
		prefetched: make([]bool, newIndex(shape).size()), stamp: make([]int64, newIndex(shape).size()),
		inLoad:  make([]bool, newIndex(shape).size()),
		protect: make([]Key, 0, shape.TopK), preds: make([]Key, 0, max(spec.Prefetch.Budget, 1)),
	}
	p.bytes = shape.ExpertBytes
	if spec.PerLayer != nil {
		p.pl = newBudgets(*spec.PerLayer, shape, spec.Cache.Capacity)
		for l := 0; l < shape.Layers; l++ {
			if len(pins) > p.pl.caps[l] {
				return nil, fmt.Errorf("policy %q pins %d experts per layer, but layer %d has %d slots", spec.Name, len(pins), l, p.pl.caps[l])
			}
			p.stores = append(p.stores, p.newStore(layerIndex(shape, l), p.pl.caps[l]))
		}
		p.storeOf = p.stores
	} else {
		if len(pins)*shape.Layers > spec.Cache.Capacity {
			return nil, fmt.Errorf("policy %q pins %d experts in each of %d layers, %d slots, more than its capacity %d",
				spec.Name, len(pins), shape.Layers, len(pins)*shape.Layers, spec.Cache.Capacity)
		}
		st := p.newStore(p.x, spec.Cache.Capacity)
		p.stores = []*store{st}
		p.storeOf = make([]*store, shape.Layers)
		for l := range p.storeOf {
			p.storeOf[l] = st
		}
	}
	p.configure()
	if spec.Monitor != nil {
		p.mon = newMonitor(*spec.Monitor)
	}
	if len(spec.Adapt.Rules) > 0 {
		p.ad = newAdapter(spec.Adapt)
	}
	return p, nil
}

func uniquePins(pins []int) []int {
	var out []int
	for _, e := range pins {
		if !containsInt(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// expertGB is the size of one expert for the triggers and the hybrid
// estimate: the model's, else the policy's expert_size_gb.
func (p *interp) expertGB() float64 {
	if p.shape.ExpertBytes > 0 {
		return float64(p.shape.ExpertBytes) / 1e9
	}
	return p.spec.Cache.ExpertSizeGB
}

// newStore builds a cache of the policy's kind for the keys of x.
func (p *interp) newStore(x index, capacity int) *store {
	st := &store{c: newCache(&p.spec.Cache, x, capacity)}
	p.setTriggers(st, x)
	return st
}

func (p *interp) setTriggers(st *store, x index) {
	c := &p.spec.Cache
	if c.MemoryPressure && st.mem == nil {
		st.mem = NewMemoryTrigger(c.MemoryThreshold, c.MemoryHeadroom, c.MemoryBudgetGB, p.expertGB())
	}
	if c.TTLSet && st.ttl == nil {
		st.ttl = newTTL(x, c.TTL, c.Pin)
	}
}

// newCache builds the cache a CacheSpec describes.
func newCache(c *CacheSpec, x index, capacity int) cache {
	return newCacheKind(c, c.Eviction, x, capacity, c.Pin)
}

func newCacheKind(c *CacheSpec, kind Eviction, x index, capacity int, pins []int) cache {
	switch kind {
	case LFU:
		return newLFU(x, capacity, pins, c.Decay)
	case Score:
		return newScore(x, capacity, pins, c.ScoreAlpha)
	case FrequencyThreshold:
		return newThreshold(x, capacity, pins, c.FreqThreshold, c.FreqWindow)
	case Fallback:
		pc, sc := tierSizes(capacity)
		return &TieredCache{
			primary:   newCacheKind(c, c.Primary, x, pc, pins),
			secondary: newCacheKind(c, c.Secondary, x, sc, nil),
		}
	}
	return newLRU(x, capacity, pins)
}

// configure sets what follows from the Spec outside the caches: the
// prefetcher, its budget and where misses run.
func (p *interp) configure() {
	s := p.spec
	switch s.Prefetch.Strategy {
	case History:
		p.pf = NewHistoryPrefetcher(p.shape, s.Prefetch.HistoryWindow)
	case Lookahead:
		p.pf = NewLookaheadPrefetcher(p.shape, s.Prefetch.Lookahead, s.Prefetch.HistoryWindow)
	case Affinity:
		p.pf = NewAffinityPrefetcher(p.shape, s.Prefetch.AffinityThreshold)
	default:
		p.pf = nil
	}
	p.budget = s.Prefetch.Budget
	if cap(p.preds) < p.budget {
		p.preds = make([]Key, 0, p.budget)
	}
	p.missCPU = missOnCPU(&s.Schedule, p.expertGB())
}

// missOnCPU reports whether the schedule runs a miss on the CPU: always
// for cpu_fallback; for hybrid when the estimated transfer time exceeds
// cpu_expert_ms if set, else offload_threshold_ms.
func missOnCPU(s *ScheduleSpec, expertGB float64) bool {
	switch s.Mode {
	case CPUFallback:
		return true
	case Hybrid:
		limit := s.OffloadThresholdMS
		if s.CPUExpertMS > 0 {
			limit = s.CPUExpertMS
		}
		return expertGB/s.PCIeGBps*1000 > limit
	}
	return false
}

func (p *interp) Name() string { return p.spec.Name }

// Dispatch runs the policy's steps for one layer's selection: for each
// selected expert, the cache access, the device, prefetch accounting and
// the triggers; then the prefetch predictions, per-layer rebalancing and
// the adapt rules.
func (p *interp) Dispatch(layer int, experts []int32, scores []float32, plan *Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	plan.Reset(layer, len(experts))
	p.step++
	p.protect = p.protect[:0]
	for _, e := range experts {
		p.protect = append(p.protect, Key{Layer: int32(layer), Expert: e})
	}
	st := p.storeOf[layer]
	if p.pl != nil {
		p.pl.record(layer, experts)
	}
	for i, e := range experts {
		k := Key{Layer: int32(layer), Expert: e}
		score := float32(1)
		if scores != nil {
			score = scores[i]
		}
		p.fx.Reset()
		hit := st.c.Access(k, score, &p.fx)
		if st.ttl != nil {
			st.ttl.Access(k)
		}
		evicted := p.apply(plan)
		var flags uint8
		if hit {
			p.n.hits++
			p.layerHits[layer]++
			p.n.gpu++
			plan.Hit[i], plan.Device[i] = true, GPU
			flags = flagHit
			i := p.x.of(k)
			if p.prefetched[i] {
				p.prefetched[i] = false
				p.n.useful++
			}
			if p.stamp[i] == p.step {
				// Made resident earlier in this dispatch by a background
				// copy (a CPU miss, a frequency-threshold admission): the
				// layer needs it now.
				p.copy(plan, k, true)
			}
		} else {
			p.n.misses++
			p.layerMisses[layer]++
			kept := st.c.Contains(k)
			if p.missCPU {
				p.n.cpu++
				plan.Device[i] = CPU
				flags = flagCPU
				if kept {
					p.copy(plan, k, false)
				}
			} else {
				p.n.gpu++
				p.n.transfers++
				plan.Device[i] = GPU
				flags = flagTransfer
				p.copy(plan, k, true)
				if !kept { // run from a slot the policy does not keep
					plan.Evict = append(plan.Evict, k)
				}
			}
		}
		if st.mem != nil {
			p.fx.Reset()
			st.mem.After(st.c, p.protect, &p.fx)
			evicted += p.apply(plan)
		}
		if st.ttl != nil {
			p.fx.Reset()
			st.ttl.After(st.c, &p.fx)
			evicted += p.apply(plan)
		}
		if p.mon != nil {
			p.mon.record(flags, evicted)
		}
	}
	if p.pf != nil && p.budget > 0 {
		p.preds = p.pf.Predict(layer, experts, p.budget, p.preds[:0])
		for _, k := range p.preds {
			c := p.storeOf[k.Layer].c
			if c.Contains(k) {
				continue
			}
			p.fx.Reset()
			if c.Warm(k, p.protect, &p.fx) {
				p.n.issued++
				p.apply(plan)
				p.copy(plan, k, false)
				p.prefetched[p.x.of(k)] = true
			}
		}
	}
	if p.pl != nil && p.pl.due(p.step) {
		p.rebalance(p.spec.PerLayer.Allocation, plan)
	}
	if p.ad != nil {
		p.adapt(plan)
	}
}

// copy puts k in the plan's Load (demand) or Prefetch list. A key this
// plan already copies is not copied twice: a background copy becomes a
// Load if the layer needs it, and a Load the plan meant to free after the
// layer (in Evict) stays resident instead.
func (p *interp) copy(plan *Plan, k Key, demand bool) {
	i := p.x.of(k)
	if p.stamp[i] == p.step {
		if demand && !p.inLoad[i] {
			plan.Prefetch = removeKey(plan.Prefetch, k)
			p.n.prefBytes -= p.bytes
			plan.Load = append(plan.Load, k)
			p.n.demandBytes += p.bytes
			p.inLoad[i] = true
		} else if p.inLoad[i] {
			plan.Evict = removeKey(plan.Evict, k)
		}
		return
	}
	p.stamp[i], p.inLoad[i] = p.step, demand
	if demand {
		plan.Load = append(plan.Load, k)
		p.n.demandBytes += p.bytes
	} else {
		plan.Prefetch = append(plan.Prefetch, k)
		p.n.prefBytes += p.bytes
	}
}

// apply turns the cache's effects into plan entries and counts them. An
// expert copied by this plan and evicted again is taken out of Prefetch
// (nobody needed it) or, when it is a Load the layer runs on, also listed
// in Evict (its slot is freed after the layer). It returns the number of
// evictions counted.
func (p *interp) apply(plan *Plan) int {
	for _, k := range p.fx.Evicted {
		i := p.x.of(k)
		p.prefetched[i] = false
		switch {
		case p.stamp[i] != p.step:
			plan.Evict = append(plan.Evict, k)
		case p.inLoad[i]:
			plan.Evict = append(plan.Evict, k)
		default:
			plan.Prefetch = removeKey(plan.Prefetch, k)
			p.stamp[i] = 0
			p.n.prefBytes -= p.bytes
		}
	}
	for _, k := range p.fx.Admitted {
		p.copy(plan, k, false)
	}
	n := len(p.fx.Evicted) + int(p.fx.Phantom)
	p.n.evictions += int64(n)
	return n
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

// rebalance splits the per-layer budget again by sig and resizes the
// layers' caches; a shrinking layer evicts by its own rule.
func (p *interp) rebalance(sig Allocation, plan *Plan) {
	p.pl.rebalance(p.step, sig)
	p.resize(plan)
}

func (p *interp) resize(plan *Plan) {
	for l, st := range p.stores {
		if c := p.pl.caps[l]; c != st.c.Capacity() {
			p.fx.Reset()
			st.c.SetCapacity(c, &p.fx)
			p.apply(plan)
		}
	}
}

// Stats returns a snapshot of the counters.
func (p *interp) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{
		Name:  p.spec.Name,
		Steps: p.step,
		Cache: CacheStats{Hits: p.n.hits, Misses: p.n.misses, Evictions: p.n.evictions,
			HitRate: ratio(p.n.hits, p.n.hits+p.n.misses)},
		Prefetch:  PrefetchStats{Issued: p.n.issued, Useful: p.n.useful, Accuracy: ratio(p.n.useful, p.n.issued)},
		Scheduler: SchedulerStats{GPU: p.n.gpu, CPU: p.n.cpu, Transfers: p.n.transfers},
		Transfer:  TransferStats{DemandBytes: p.n.demandBytes, PrefetchBytes: p.n.prefBytes},
		Layers:    make([]LayerStats, p.shape.Layers),
	}
	for l := range s.Layers {
		s.Layers[l] = LayerStats{Hits: p.layerHits[l], Misses: p.layerMisses[l],
			HitRate: ratio(p.layerHits[l], p.layerHits[l]+p.layerMisses[l])}
		if p.pl != nil {
			s.Layers[l].Capacity = p.stores[l].c.Capacity()
		}
	}
	var mem, ttl *TriggerCount
	for _, st := range p.stores {
		if st.mem != nil {
			mem = addCount(mem, st.mem.count)
		}
		if st.ttl != nil {
			ttl = addCount(ttl, st.ttl.count)
		}
	}
	if mem != nil || ttl != nil {
		s.Triggers = &TriggerStats{MemoryPressure: mem, TTL: ttl}
	}
	if p.ad != nil {
		s.Adapt = p.ad.stats()
	}
	if p.mon != nil {
		resident := 0
		for _, st := range p.stores {
			resident += st.c.Len()
		}
		s.Monitor = p.mon.stats(float64(resident) * p.expertGB())
	}
	return s
}

func addCount(sum *TriggerCount, c TriggerCount) *TriggerCount {
	if sum == nil {
		sum = &TriggerCount{}
	}
	sum.Fired += c.Fired
	sum.Evicted += c.Evicted
	return sum
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

var errNoPerLayer = errors.New("rebalance needs a per_layer block")
