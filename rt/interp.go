package rt

import "sync"

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
	c   Cache
	mem *MemoryTrigger
	ttl *TTLTrigger
}

// interp is the interpreter. A mutex makes Stats safe while Dispatch runs;
// uncontended, it costs a few nanoseconds a dispatch.
type interp struct {
	mu sync.Mutex

	spec    *Spec
	shape   Shape
	stores  []*store
	storeOf []*store // by layer
	pf      prefetcher
	budget  int
	misses  MissRule
	hw      Hardware // what Calibrate measured
	pl      *Budgets
	ad      *adapter
	l       *Ledger
}

func newInterp(spec *Spec, shape Shape) (*interp, error) {
	if err := spec.Fits(shape); err != nil {
		return nil, err
	}
	p := &interp{spec: spec.Clone(), shape: shape, l: NewLedger(shape, spec.Monitor)}
	if spec.PerLayer != nil {
		p.pl = NewBudgets(*spec.PerLayer, shape, spec.Cache.Capacity)
		for l := 0; l < shape.Layers; l++ {
			p.stores = append(p.stores, p.newStore(l, p.pl.caps[l]))
		}
		p.storeOf = p.stores
	} else {
		st := p.newStore(-1, spec.Cache.Capacity)
		p.stores = []*store{st}
		p.storeOf = make([]*store, shape.Layers)
		for l := range p.storeOf {
			p.storeOf[l] = st
		}
	}
	p.configure()
	if len(spec.Adapt.Rules) > 0 {
		p.ad = newAdapter(spec.Adapt)
	}
	return p, nil
}

func (p *interp) expertGB() float64 { return ExpertGB(p.shape, &p.spec.Cache) }

// newStore builds the cache of layer (all layers when layer < 0) with its
// triggers.
func (p *interp) newStore(layer, capacity int) *store {
	st := &store{c: NewCache(&p.spec.Cache, p.shape, layer, capacity)}
	p.setTriggers(st, layer)
	return st
}

func (p *interp) setTriggers(st *store, layer int) {
	c := &p.spec.Cache
	if c.MemoryPressure && st.mem == nil {
		st.mem = NewMemory(c, p.expertGB())
	}
	if c.TTLSet && st.ttl == nil {
		st.ttl = NewTTL(c, p.shape, layer)
	}
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
	p.setMisses(s)
}

// setMisses sets where misses run from configuration s's schedule,
// calibrated by what the engine measured.
func (p *interp) setMisses(s *Spec) {
	c := s.Schedule.Calibrated(p.hw)
	p.misses = NewMissRule(&c, ExpertGB(p.shape, &s.Cache))
}

// Calibrate takes the figures the engine measured (rt.Calibrated).
func (p *interp) Calibrate(h Hardware) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hw = h
	p.setMisses(p.spec)
}

var _ Calibrated = (*interp)(nil)

func (p *interp) Name() string { return p.spec.Name }

// Dispatch runs the policy's steps for one layer's selection: for each
// selected expert, the cache access, the device, prefetch accounting and
// the triggers; then the prefetch predictions, per-layer rebalancing and
// the adapt rules.
func (p *interp) Dispatch(layer int, experts []int32, scores []float32, plan *Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.l
	l.Begin(layer, experts, scores, plan)
	p.misses.Begin()
	st := p.storeOf[layer]
	if p.pl != nil {
		p.pl.Record(layer, experts)
	}
	for i, e := range experts {
		k := Key{Layer: int32(layer), Expert: e}
		hit := st.c.Access(k, ScoreAt(scores, i), l.Effects())
		if st.ttl != nil {
			st.ttl.Access(k)
		}
		evicted := l.Account(plan, i, k, hit, hit || st.c.Contains(k), !hit && p.misses.CPU())
		if st.mem != nil && st.mem.Pressed(st.c.Len()) {
			Relieve(st.mem, st.c, l.Protect(), l.Effects())
			evicted += l.Settle(plan)
		}
		if st.ttl != nil && st.ttl.Due() {
			Expire(st.ttl, st.c, l.Effects())
			evicted += l.Settle(plan)
		}
		l.Record(plan, i, evicted)
	}
	if p.pf != nil && p.budget > 0 {
		for _, k := range p.pf.Predict(layer, experts, p.budget, l.Predictions(p.budget)) {
			if c := p.storeOf[k.Layer].c; !c.Contains(k) && c.Warm(k, l.Protect(), l.Effects()) {
				l.Warmed(plan, k)
			}
		}
	}
	if p.pl != nil && p.pl.Due(l.Step()) {
		p.rebalance(p.spec.PerLayer.Allocation, plan)
	}
	if p.ad != nil {
		p.adapt(plan)
	}
}

// rebalance splits the per-layer budget again by sig and resizes the
// layers' caches; a shrinking layer evicts by its own rule.
func (p *interp) rebalance(sig Allocation, plan *Plan) {
	p.pl.Rebalance(p.l.Step(), sig)
	p.resize(plan)
}

func (p *interp) resize(plan *Plan) {
	for l, st := range p.stores {
		if c := p.pl.caps[l]; c != st.c.Capacity() {
			st.c.SetCapacity(c, p.l.Effects())
			p.l.Settle(plan)
		}
	}
}

// Stats returns a snapshot of the counters.
func (p *interp) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.l.Stats(p.spec.Name)
	if p.pl != nil {
		for l := range s.Layers {
			s.Layers[l].Capacity = p.stores[l].c.Capacity()
		}
	}
	var mem, ttl *TriggerCount
	resident := 0
	for _, st := range p.stores {
		resident += st.c.Len()
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
	if s.Monitor != nil {
		s.Monitor.Current.MemoryGB = float64(resident) * p.expertGB()
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
