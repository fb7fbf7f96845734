package rt

import (
	"fmt"
	"slices"
	"strings"
)

// The constructors the interpreter and generated code share, so that both
// build, and rebuild on a swap, the same components from a Spec. A flat
// policy's components cover every layer (layer < 0); a per-layer policy's
// cover one layer each.

// keysOf returns the index of the keys of every layer of shape when layer
// < 0, else of that layer alone.
func keysOf(shape Shape, layer int) index {
	if layer < 0 {
		return newIndex(shape)
	}
	return layerIndex(shape, layer)
}

// NewCache returns the cache c describes, with capacity slots, for the keys
// of every layer of shape when layer < 0, else of that layer alone. Its
// dynamic type is the kind's: *LRUCache, *LFUCache, *ScoreCache,
// *ThresholdCache or *TieredCache, as NewLRU, NewLFU, NewScore,
// NewThreshold and NewTiered return them. A frequency-threshold cache
// panics unless 1 <= c.FreqWindow <= MaxWindow (Spec.Fits says so first).
func NewCache(c *CacheSpec, shape Shape, layer, capacity int) Cache {
	if c.Eviction == Fallback {
		return NewTiered(c, shape, layer, capacity)
	}
	return newCacheKind(c, c.Eviction, keysOf(shape, layer), capacity, c.Pin)
}

// The constructors of each kind take what NewCache takes and return the
// concrete type, for code that knows the kind (generated code holds the
// concrete types, with no type assertion). They do not read c.Eviction.

// NewLRU returns the LRU cache c describes, as NewCache does.
func NewLRU(c *CacheSpec, shape Shape, layer, capacity int) *LRUCache {
	return newLRU(keysOf(shape, layer), capacity, c.Pin)
}

// NewLFU returns the LFU cache c describes, as NewCache does.
func NewLFU(c *CacheSpec, shape Shape, layer, capacity int) *LFUCache {
	return newLFU(keysOf(shape, layer), capacity, c.Pin, c.Decay)
}

// NewScore returns the score cache c describes, as NewCache does.
func NewScore(c *CacheSpec, shape Shape, layer, capacity int) *ScoreCache {
	return newScore(keysOf(shape, layer), capacity, c.Pin, c.ScoreAlpha)
}

// NewThreshold returns the frequency-threshold cache c describes, as
// NewCache does.
func NewThreshold(c *CacheSpec, shape Shape, layer, capacity int) *ThresholdCache {
	return newThreshold(keysOf(shape, layer), capacity, c.Pin, c.FreqThreshold, c.FreqWindow)
}

// NewTiered returns the two-tier cache "c.Primary | c.Secondary" that c
// describes, as NewCache does.
func NewTiered(c *CacheSpec, shape Shape, layer, capacity int) *TieredCache {
	x := keysOf(shape, layer)
	pc, sc := tierSizes(capacity)
	return &TieredCache{
		primary:   newCacheKind(c, c.Primary, x, pc, c.Pin),
		secondary: newCacheKind(c, c.Secondary, x, sc, nil),
	}
}

func newCacheKind(c *CacheSpec, kind Eviction, x index, capacity int, pins []int) Cache {
	switch kind {
	case LFU:
		return newLFU(x, capacity, pins, c.Decay)
	case Score:
		return newScore(x, capacity, pins, c.ScoreAlpha)
	case FrequencyThreshold:
		return newThreshold(x, capacity, pins, c.FreqThreshold, c.FreqWindow)
	}
	return newLRU(x, capacity, pins)
}

// NewTTL returns the TTL trigger of c for the same keys as NewCache.
func NewTTL(c *CacheSpec, shape Shape, layer int) *TTLTrigger {
	return newTTL(keysOf(shape, layer), c.TTL, c.Pin)
}

// NewMemory returns the memory-pressure trigger of c for experts of
// expertGB (see ExpertGB).
func NewMemory(c *CacheSpec, expertGB float64) *MemoryTrigger {
	return NewMemoryTrigger(c.MemoryThreshold, c.MemoryHeadroom, c.MemoryBudgetGB, expertGB)
}

// ExpertGB is the size of one expert, in GB, for the triggers and the
// hybrid estimate: the model's, else the policy's expert_size_gb.
func ExpertGB(shape Shape, c *CacheSpec) float64 {
	if shape.ExpertBytes > 0 {
		return float64(shape.ExpertBytes) / 1e9
	}
	return c.ExpertSizeGB
}

// Hardware is what an engine measured at start for a policy's schedule
// (engine.Open on the GPU): the host-to-GPU bandwidth of copying one
// expert and the CPU time of running one expert for one token. A zero
// figure was not measured.
type Hardware struct {
	PCIeGBps    float64 `json:"pcie_gbps"`     // GB/s, 10^9 bytes per second
	CPUExpertMS float64 `json:"cpu_expert_ms"` // milliseconds
}

// A Calibrated policy takes the figures its engine measured: the
// interpreter and generated code whose schedule can be hybrid implement
// it. Calibrate is called before the first Dispatch.
type Calibrated interface {
	Calibrate(h Hardware)
}

// Calibrated returns s with the figures h measured where the policy
// leaves them to the engine: pcie_gbps where it is the default,
// DefaultPCIeGBps (a policy that writes 25 is taken as leaving it), and
// cpu_expert_ms where it is unset and offload_threshold_ms is the
// default, DefaultOffloadMS. A policy that sets offload_threshold_ms
// states the reference's rule (a miss on the CPU when one transfer takes
// longer than the threshold), which the measured CPU time would replace:
// it keeps that rule, with the measured bandwidth. What the policy
// states is the user's override and stays.
func (s ScheduleSpec) Calibrated(h Hardware) ScheduleSpec {
	if h.PCIeGBps > 0 && s.PCIeGBps == DefaultPCIeGBps {
		s.PCIeGBps = h.PCIeGBps
	}
	if h.CPUExpertMS > 0 && s.CPUExpertMS == 0 && s.OffloadThresholdMS == DefaultOffloadMS {
		s.CPUExpertMS = h.CPUExpertMS
	}
	return s
}

// A MissRule says where each miss of a dispatch runs, as the schedule
// block states it:
//
//   - gpu_only: on the GPU; cpu_fallback: on the CPU.
//   - hybrid without cpu_expert_ms (the reference's rule): every miss on
//     the CPU when the estimated transfer time of one expert, expert
//     bytes / pcie_gbps, exceeds offload_threshold_ms, else every miss
//     on the GPU.
//   - hybrid with cpu_expert_ms (written, or measured by the engine where
//     offload_threshold_ms is left at its default: ScheduleSpec.Calibrated):
//     the dispatch's misses share the two queues. Copies cross the link
//     one after another and the CPU runs its experts one after another
//     on all its cores, so the n-th miss sent to the GPU is ready after n
//     transfer times and the m-th sent to the CPU after m expert times;
//     each miss, in top-k order, goes to the CPU exactly when its
//     transfer would complete later than its CPU run would (strictly), so
//     that the layer waits for the slower queue as little as the counts
//     allow. The first miss of a dispatch follows the single-expert rule:
//     CPU exactly when one transfer takes longer than cpu_expert_ms.
//
// Begin starts a dispatch; CPU decides the next miss.
type MissRule struct {
	always bool    // every miss on the CPU
	copyMS float64 // hybrid with cpu_expert_ms: one transfer's estimate
	cpuMS  float64 // and one CPU expert's time; 0 for the fixed rules
	gpu    int     // this dispatch's misses sent to the GPU
	cpu    int     // and to the CPU
}

// NewMissRule returns the rule of schedule s for experts of expertGB (see
// ExpertGB).
func NewMissRule(s *ScheduleSpec, expertGB float64) MissRule {
	switch s.Mode {
	case CPUFallback:
		return MissRule{always: true}
	case Hybrid:
		copyMS := expertGB / s.PCIeGBps * 1000
		if s.CPUExpertMS > 0 {
			return MissRule{copyMS: copyMS, cpuMS: s.CPUExpertMS}
		}
		return MissRule{always: copyMS > s.OffloadThresholdMS}
	}
	return MissRule{}
}

// Begin starts a dispatch: no miss is queued on either side.
func (r *MissRule) Begin() { r.gpu, r.cpu = 0, 0 }

// CPU reports whether the next miss of the dispatch runs on the CPU, and
// counts it on its side.
func (r *MissRule) CPU() bool {
	if r.cpuMS == 0 {
		return r.always
	}
	if float64(r.gpu+1)*r.copyMS > float64(r.cpu+1)*r.cpuMS {
		r.cpu++
		return true
	}
	r.gpu++
	return false
}

// Uniform reports whether the rule sends every miss of a dispatch of at
// most topK misses to the same side, and whether that side is the CPU.
func (r MissRule) Uniform(topK int) (cpu, ok bool) {
	r.Begin()
	first := r.CPU()
	for range topK - 1 {
		if r.CPU() != first {
			return false, false
		}
	}
	return first, true
}

// KindChanged reports whether a swap from old to next needs new caches:
// the eviction kind (or a tier's) changed, or the decay of a cache that
// cannot take a new one in place (only a plain LFU cache can).
func KindChanged(old, next *CacheSpec) bool {
	return old.Eviction != next.Eviction || old.Primary != next.Primary || old.Secondary != next.Secondary ||
		old.Decay != next.Decay && next.Eviction != LFU
}

// Rebuild fills nc, a new cache (NewCache, or a kind's constructor), with
// old's residents and returns it: they are inserted victim first, so the
// old order survives as far as the new kind has one, and those that do
// not fit are evicted (into fx).
func Rebuild[C, D Cache](old C, nc D, fx *Effects) D {
	for _, k := range old.Residents(nil) {
		if !nc.Warm(k, nil, fx) && !nc.Contains(k) {
			fx.Evicted = append(fx.Evicted, k)
		}
	}
	return nc
}

// Reconfigure updates a cache in place for a swap that keeps its kind:
// the decay of an LFU cache, and the capacity (evicting into fx when it
// shrinks).
func Reconfigure[C Cache](cache C, c *CacheSpec, capacity int, fx *Effects) {
	if lfu, ok := any(cache).(*LFUCache); ok {
		lfu.SetDecay(c.Decay)
	}
	if cache.Capacity() != capacity {
		cache.SetCapacity(capacity, fx)
	}
}

// Fits reports what makes the policy impossible on a model of the given
// shape, which no checker of the .moe text could know: a zero shape,
// pinned ids at or above shape.Experts, pins that do not fit the slots,
// an affinity table too large for memory (it counts every pair of experts
// of adjacent layers). It also rejects a Spec that breaks the language's
// rules (one built in Go can).
func (s *Spec) Fits(shape Shape) error {
	if err := shape.Validate(); err != nil {
		return err
	}
	if vs := s.Check(); len(vs) > 0 {
		msgs := make([]string, len(vs))
		for i, v := range vs {
			msgs[i] = v.Msg
		}
		return fmt.Errorf("policy %q is invalid: %s", s.Name, strings.Join(msgs, "; "))
	}
	if s.mayUse(Affinity) {
		if n := affinityCounts(shape); n > maxAffinityCounts {
			return fmt.Errorf("policy %q prefetches by affinity, whose table for %d layers of %d experts would hold %d counts, more than %d",
				s.Name, shape.Layers, shape.Experts, n, maxAffinityCounts)
		}
	}
	for _, e := range s.Cache.Pin {
		if e >= shape.Experts {
			return fmt.Errorf("policy %q pins expert %d, but the model has experts 0 to %d", s.Name, e, shape.Experts-1)
		}
	}
	pins := len(slices.Compact(slices.Sorted(slices.Values(s.Cache.Pin)))) // an id pinned twice is one pin
	if s.PerLayer != nil {
		caps := NewBudgets(*s.PerLayer, shape, s.Cache.Capacity).Caps()
		for l, c := range caps {
			if pins > c {
				return fmt.Errorf("policy %q pins %d experts per layer, but layer %d has %d slots", s.Name, pins, l, c)
			}
		}
	} else if pins*shape.Layers > s.Cache.Capacity {
		return fmt.Errorf("policy %q pins %d experts in each of %d layers, %d slots, more than its capacity %d",
			s.Name, pins, shape.Layers, pins*shape.Layers, s.Cache.Capacity)
	}
	return nil
}

// mayUse reports whether the policy prefetches by strategy, as written or
// after an adapt rule.
func (s *Spec) mayUse(strategy PrefetchStrategy) bool {
	if s.Prefetch.Strategy == strategy {
		return true
	}
	for _, r := range s.Adapt.Rules {
		for _, a := range r.Actions {
			if a.Target == SetStrategy && a.Strategy == strategy {
				return true
			}
		}
	}
	return false
}
