// Package rttest holds test doubles for the runtime: policies written for
// clarity, not speed, that tests of replay (and differential tests of the
// real policies) can trust by reading them.
package rttest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/moepolicy/moec/rt"
)

// LRU is a least-recently-used policy over one flat cache of (layer,
// expert) slots, with pins, run on the GPU (gpu_only) or, with CPUOnMiss,
// on the CPU on a miss (cpu_fallback). It is a plain transcription of the
// reference's LRU: a hit moves the expert to the newest end; a miss evicts
// the oldest unpinned expert when the cache is full, then inserts the
// expert at the newest end.
//
// Its plans follow replay's mechanism contract: a GPU miss is in
// Plan.Load, a CPU miss (still inserted) in Plan.Prefetch, each victim in
// Plan.Evict. NewLRU demands at least TopK unpinned slots, so a victim is
// never an expert the same dispatch has already handled, and so was
// resident before the plan. It can be one the dispatch selected but has
// not reached yet: that expert then misses, as in the reference, and is
// evicted and loaded again.
type LRU struct {
	// CPUOnMiss runs every miss on the CPU, as cpu_fallback does. Set it
	// before the first Dispatch.
	CPUOnMiss bool

	shape    rt.Shape
	capacity int

	mu     sync.Mutex
	pinned map[rt.Key]bool
	order  []rt.Key // unpinned residents, least recently used first
	stats  rt.Stats
}

// NewLRU returns an LRU of capacity slots for a model of the given shape,
// with the expert ids in pin pinned in every layer.
func NewLRU(shape rt.Shape, capacity int, pin []int) (*LRU, error) {
	if err := shape.Validate(); err != nil {
		return nil, err
	}
	l := &LRU{shape: shape, capacity: capacity, pinned: map[rt.Key]bool{}}
	for layer := range shape.Layers {
		for _, e := range pin {
			if e < 0 || e >= shape.Experts {
				return nil, fmt.Errorf("pinned expert %d is out of range [0,%d)", e, shape.Experts)
			}
			l.pinned[rt.Key{Layer: int32(layer), Expert: int32(e)}] = true
		}
	}
	if free := capacity - len(l.pinned); free < shape.TopK {
		return nil, fmt.Errorf("capacity %d leaves %d unpinned slots for top-%d routing", capacity, free, shape.TopK)
	}
	l.stats = rt.Stats{Name: l.Name(), Layers: make([]rt.LayerStats, shape.Layers)}
	return l, nil
}

// Name returns "rttest_lru".
func (l *LRU) Name() string { return "rttest_lru" }

// Dispatch decides one layer's routing.
func (l *LRU) Dispatch(layer int, experts []int32, scores []float32, p *rt.Plan) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p.Reset(layer, experts)
	ls := &l.stats.Layers[layer]
	for i, e := range experts {
		k := rt.Key{Layer: int32(layer), Expert: e}
		if l.pinned[k] {
			p.Hit[i] = true
		} else if at := slices.Index(l.order, k); at >= 0 {
			p.Hit[i] = true
			l.order = append(slices.Delete(l.order, at, at+1), k)
		}
		if p.Hit[i] {
			ls.Hits++
			l.stats.Cache.Hits++
			p.Device[i] = rt.GPU
			l.stats.Scheduler.GPU++
			continue
		}
		ls.Misses++
		l.stats.Cache.Misses++
		if len(l.pinned)+len(l.order) == l.capacity {
			p.Evict = append(p.Evict, l.order[0])
			l.order = slices.Delete(l.order, 0, 1)
			l.stats.Cache.Evictions++
		}
		l.order = append(l.order, k)
		if l.CPUOnMiss {
			p.Device[i] = rt.CPU
			p.Prefetch = append(p.Prefetch, k)
			l.stats.Scheduler.CPU++
			l.stats.Transfer.PrefetchBytes += l.shape.ExpertBytes
		} else {
			p.Device[i] = rt.GPU
			p.Load = append(p.Load, k)
			l.stats.Scheduler.GPU++
			l.stats.Scheduler.Transfers++
			l.stats.Transfer.DemandBytes += l.shape.ExpertBytes
		}
	}
	l.stats.Steps++
}

// Stats returns a snapshot of the counters.
func (l *LRU) Stats() rt.Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.Layers = slices.Clone(s.Layers)
	s.Cache.HitRate = rate(s.Cache.Hits, s.Cache.Misses)
	for i := range s.Layers {
		s.Layers[i].HitRate = rate(s.Layers[i].Hits, s.Layers[i].Misses)
	}
	return s
}

// Resident reports whether k holds a slot.
func (l *LRU) Resident(k rt.Key) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resident(k)
}

func (l *LRU) resident(k rt.Key) bool { return l.pinned[k] || slices.Contains(l.order, k) }

// Len returns the number of resident experts, pinned ones included.
func (l *LRU) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pinned) + len(l.order)
}

func rate(hits, misses int64) float64 {
	if hits+misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+misses)
}
