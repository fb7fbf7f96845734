package rttest

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/moepolicy/moec/rt"
)

// FaultKind is a way a plan can break the mechanism contract.
type FaultKind uint8

// The faults Random injects.
const (
	WrongLayer   FaultKind = iota // Plan.Layer is not the dispatch's
	ShortPlan                     // one hit flag too few
	FlipHit                       // a hit flag that lies about residency
	EvictMissing                  // evicts an expert that is not resident
	EvictPinned                   // evicts a pinned expert
	LoadResident                  // loads an expert that is resident
	DropLoad                      // a GPU miss left out of Plan.Load
	Overflow                      // prefetches one expert more than the slots hold
	numFaults
)

var faultNames = [...]string{
	WrongLayer: "wrong layer", ShortPlan: "short plan", FlipHit: "flipped hit",
	EvictMissing: "evicts a missing expert", EvictPinned: "evicts a pinned expert",
	LoadResident: "loads a resident expert", DropLoad: "drops a load", Overflow: "overflows the slots",
}

func (k FaultKind) String() string {
	if k < numFaults {
		return faultNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", uint8(k))
}

// A Fault is one broken plan: the dispatch (counted from 0) and the kind.
type Fault struct {
	Step int64
	Kind FaultKind
}

// Random is a misbehaving policy: an LRU whose plans it breaks at random
// dispatches, each time in one randomly chosen way that the LRU's state
// makes detectable (Overflow only when the cache is full). Replayed on as
// many slots as the LRU's capacity, with its pins, the first Fault it
// records is the first error a correct mechanism reports.
type Random struct {
	lru   *LRU
	rng   *rand.Rand
	rate  float64
	step  int64
	fault []Fault
}

// NewRandom returns a policy that breaks lru's plans, each dispatch with
// probability rate, drawing from a generator seeded with seed.
func NewRandom(lru *LRU, seed uint64, rate float64) *Random {
	return &Random{lru: lru, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rate: rate}
}

// Name returns "rttest_random".
func (r *Random) Name() string { return "rttest_random" }

// Stats returns the LRU's stats.
func (r *Random) Stats() rt.Stats { return r.lru.Stats() }

// Faults returns the faults injected so far, in order.
func (r *Random) Faults() []Fault { return slices.Clone(r.fault) }

// Dispatch lets the LRU decide, then maybe breaks the plan.
func (r *Random) Dispatch(layer int, experts []int32, scores []float32, p *rt.Plan) {
	r.lru.Dispatch(layer, experts, scores, p)
	step := r.step
	r.step++
	if r.rng.Float64() >= r.rate {
		return
	}
	// Try kinds from a random start until one applies; WrongLayer always
	// does.
	first := FaultKind(r.rng.IntN(int(numFaults)))
	for i := range numFaults {
		k := (first + i) % numFaults
		if r.inject(k, layer, experts, p) {
			r.fault = append(r.fault, Fault{Step: step, Kind: k})
			return
		}
	}
}

// inject breaks p in the way k names, if the state allows it.
func (r *Random) inject(k FaultKind, layer int, experts []int32, p *rt.Plan) bool {
	l := r.lru
	l.mu.Lock()
	defer l.mu.Unlock()
	key := func(e int32) rt.Key { return rt.Key{Layer: int32(layer), Expert: e} }
	// absent is an expert of this layer not resident after the plan
	// and not evicted by it: so not resident before it either.
	absent := func() (rt.Key, bool) {
		for e := range int32(l.shape.Experts) {
			if !l.resident(key(e)) && !slices.Contains(p.Evict, key(e)) {
				return key(e), true
			}
		}
		return rt.Key{}, false
	}
	switch k {
	case WrongLayer:
		p.Layer = layer + 1
	case ShortPlan:
		if len(p.Hit) == 0 {
			return false
		}
		p.Hit = p.Hit[:len(p.Hit)-1]
	case FlipHit:
		// A hit flipped is a miss on a resident expert the plan keeps; a
		// miss flipped is detectable only if the plan neither loads it
		// nor evicted it (it was not resident): a CPU miss.
		var can []int
		for i, h := range p.Hit {
			k := key(experts[i])
			if h || !slices.Contains(p.Load, k) && !slices.Contains(p.Evict, k) {
				can = append(can, i)
			}
		}
		if len(can) == 0 {
			return false
		}
		i := can[r.rng.IntN(len(can))]
		p.Hit[i] = !p.Hit[i]
	case EvictMissing:
		a, ok := absent()
		if !ok {
			return false
		}
		p.Evict = append(p.Evict, a)
	case EvictPinned:
		for e := range int32(l.shape.Experts) {
			if l.pinned[key(e)] {
				p.Evict = append(p.Evict, key(e))
				return true
			}
		}
		return false
	case LoadResident:
		i := slices.Index(p.Hit, true)
		if i < 0 {
			return false
		}
		p.Load = append(p.Load, key(experts[i]))
	case DropLoad:
		if len(p.Load) == 0 {
			return false
		}
		p.Load = p.Load[1:]
	case Overflow:
		a, ok := absent()
		if !ok || len(l.pinned)+len(l.order) < l.capacity {
			return false
		}
		p.Prefetch = append(p.Prefetch, a)
	default:
		return false
	}
	return true
}
