package rt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// refThreshold is the frequency-threshold cache as the reference computes
// it, the oracle of TestThresholdRefresh: every access reads the whole
// window for the qualifying experts, trims the lowest count one at a time
// and rebuilds the resident list.
type refThreshold struct {
	x         index
	pins      pinSet
	cap       int
	threshold float64
	ring      []int32
	head      int
	filled    int
	counts    []int32
	in        []bool
	members   []int32 // in insertion order
}

func newRefThreshold(shape Shape, capacity int, pins []int, threshold float64, window int) *refThreshold {
	x := newIndex(shape)
	return &refThreshold{x: x, pins: newPinSet(x, pins), cap: capacity, threshold: threshold,
		ring: make([]int32, window), counts: make([]int32, x.size()), in: make([]bool, x.size())}
}

func (c *refThreshold) Access(k Key, fx *Effects) bool {
	i := c.x.of(k)
	if c.filled == len(c.ring) {
		c.counts[c.ring[c.head]]--
	} else {
		c.filled++
	}
	c.ring[c.head] = i
	c.head = (c.head + 1) % len(c.ring)
	c.counts[i]++
	hit := c.pins.is(i) || c.in[i]
	n := float64(c.filled)
	seen, qual := make([]bool, len(c.counts)), make([]bool, len(c.counts))
	var cand []int32
	start := (c.head - c.filled + len(c.ring)) % len(c.ring)
	for j := range c.filled {
		i := c.ring[(start+j)%len(c.ring)]
		if seen[i] || c.pins.is(i) {
			continue
		}
		seen[i] = true
		if float64(c.counts[i])/n >= c.threshold {
			cand = append(cand, i)
			qual[i] = true
		}
	}
	for _, i := range c.members {
		if !qual[i] {
			c.in[i] = false
			fx.Evicted = append(fx.Evicted, c.x.key(i))
		}
	}
	keep := make([]bool, len(cand))
	for j := range keep {
		keep[j] = true
	}
	for size := len(c.pins.keys) + len(cand); size > c.cap; size-- {
		victim := -1
		for j, i := range cand {
			if keep[j] && (victim < 0 || c.counts[i] < c.counts[cand[victim]]) {
				victim = j
			}
		}
		if victim < 0 {
			break
		}
		keep[victim] = false
		if i := cand[victim]; c.in[i] {
			c.in[i] = false
			fx.Evicted = append(fx.Evicted, c.x.key(i))
		} else {
			fx.Phantom++
		}
	}
	var members []int32
	for _, i := range c.members {
		if c.in[i] {
			members = append(members, i)
		}
	}
	for j, i := range cand {
		if keep[j] && !c.in[i] {
			c.in[i] = true
			members = append(members, i)
			if i != c.x.of(k) {
				fx.Admitted = append(fx.Admitted, c.x.key(i))
			}
		}
	}
	c.members = members
	return hit
}

func (c *refThreshold) Warm(k Key, protect []Key, fx *Effects) bool {
	i := c.x.of(k)
	if c.in[i] || c.pins.is(i) {
		return false
	}
	for c.Len() >= c.cap {
		if !c.EvictOne(protect, fx) {
			return false
		}
	}
	c.in[i] = true
	c.members = append(c.members, i)
	return true
}

func (c *refThreshold) EvictOne(protect []Key, fx *Effects) bool {
	victim := -1
	for j, i := range c.members {
		if !slices.Contains(protect, c.x.key(i)) && (victim < 0 || c.counts[i] < c.counts[c.members[victim]]) {
			victim = j
		}
	}
	if victim < 0 {
		return false
	}
	i := c.members[victim]
	c.in[i] = false
	c.members = slices.Delete(c.members, victim, victim+1)
	fx.Evicted = append(fx.Evicted, c.x.key(i))
	return true
}

func (c *refThreshold) Remove(k Key) bool {
	i := c.x.of(k)
	if !c.in[i] {
		return false
	}
	c.in[i] = false
	c.members = slices.DeleteFunc(c.members, func(j int32) bool { return j == i })
	return true
}

func (c *refThreshold) Len() int { return len(c.members) + len(c.pins.keys) }

func (c *refThreshold) SetCapacity(n int, fx *Effects) {
	c.cap = n
	for c.Len() > c.cap && c.EvictOne(nil, fx) {
	}
}

func (c *refThreshold) Residents(dst []Key) []Key {
	for _, i := range c.members {
		dst = append(dst, c.x.key(i))
	}
	slices.SortStableFunc(dst, func(a, b Key) int { return int(c.counts[c.x.of(a)]) - int(c.counts[c.x.of(b)]) })
	return dst
}

// memberList returns the residents that are not pinned, in insertion
// order.
func (c *ThresholdCache) memberList() []int32 {
	var m []int32
	for i := c.front; i >= 0; i = c.succ[i] {
		m = append(m, i)
	}
	return m
}

// TestThresholdRefresh runs random operations on two frequency-threshold
// caches, one refreshing incrementally, the other as the reference does
// (refThreshold), and requires the same answers, effects and residents
// after every operation.
func TestThresholdRefresh(t *testing.T) {
	type step struct {
		Hit      bool
		Evicted  []Key
		Admitted []Key
		Phantom  int64
		Len      int
		Resident []Key
	}
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		shape := Shape{Layers: 1 + r.IntN(3), Experts: 2 + r.IntN(10)}
		n := shape.Layers * shape.Experts
		var pins []int
		for e := range shape.Experts {
			if r.IntN(8) == 0 {
				pins = append(pins, e)
			}
		}
		window := 1 + r.IntN(3*n)
		capacity := 1 + r.IntN(n+2)
		threshold := []float64{0, 0.01, 0.05, 0.1, 0.2, 0.3, 1}[r.IntN(7)]
		fast := NewThresholdCache(shape, capacity, pins, threshold, window)
		slow := newRefThreshold(shape, capacity, pins, threshold, window)
		// Skewed routing: a few hot experts in each layer.
		key := func() Key {
			e := r.IntN(shape.Experts)
			if r.IntN(3) > 0 {
				e = r.IntN(min(3, shape.Experts))
			}
			return Key{Layer: int32(r.IntN(shape.Layers)), Expert: int32(e)}
		}
		var fxFast, fxSlow Effects
		for op := range 400 {
			fxFast.Reset()
			fxSlow.Reset()
			var got, want step
			what := "access"
			switch x := r.IntN(20); {
			case x < 15:
				k := key()
				what = fmt.Sprintf("access %v", k)
				got.Hit, want.Hit = fast.Access(k, 0, &fxFast), slow.Access(k, &fxSlow)
			case x < 17:
				k, protect := key(), []Key{key()}
				what = fmt.Sprintf("warm %v", k)
				got.Hit, want.Hit = fast.Warm(k, protect, &fxFast), slow.Warm(k, protect, &fxSlow)
			case x < 18:
				what = "evict one"
				got.Hit, want.Hit = fast.EvictOne(nil, &fxFast), slow.EvictOne(nil, &fxSlow)
			case x < 19:
				k := key()
				what = fmt.Sprintf("remove %v", k)
				got.Hit, want.Hit = fast.Remove(k), slow.Remove(k)
			default:
				c := 1 + r.IntN(n+2)
				what = fmt.Sprintf("capacity %d", c)
				fast.SetCapacity(c, &fxFast)
				slow.SetCapacity(c, &fxSlow)
			}
			got.Evicted, got.Admitted, got.Phantom = fxFast.Evicted, fxFast.Admitted, fxFast.Phantom
			want.Evicted, want.Admitted, want.Phantom = fxSlow.Evicted, fxSlow.Admitted, fxSlow.Phantom
			got.Len, want.Len = fast.Len(), slow.Len()
			got.Resident, want.Resident = fast.Residents(nil), slow.Residents(nil)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("seed %d (shape %v, capacity %d, pins %v, threshold %g, window %d), operation %d, %s: incremental against the reference's refresh (-want +got):\n%s",
					seed, shape, capacity, pins, threshold, window, op, what, d)
			}
			if m := fast.memberList(); !slices.Equal(m, slow.members) {
				t.Fatalf("seed %d, operation %d, %s: members %v, want %v", seed, op, what, m, slow.members)
			}
		}
	}
}

// BenchmarkThresholdAccess measures one access of a frequency-threshold
// cache with Qwen1.5-MoE's shape under 8 GiB (24 layers of 60 experts,
// 218 slots, a window of 7,200 accesses, threshold 0.0005: 0.77 of an
// even share) on skewed routing, the incremental refresh beside the
// reference's (refThreshold), side by side:
//
//	go test ./rt -run '^$' -bench ThresholdAccess -benchmem
func BenchmarkThresholdAccess(b *testing.B) {
	shape := Shape{Layers: 24, Experts: 60}
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]Key, 1<<16)
	for j := range keys {
		// Four of a layer's experts a token, the low ids more often.
		e := int32(r.IntN(60))
		if r.IntN(2) == 0 {
			e = int32(r.IntN(12))
		}
		keys[j] = Key{Layer: int32(j / 4 % 24), Expert: e}
	}
	for _, name := range []string{"incremental", "reference"} {
		b.Run(name, func(b *testing.B) {
			fast := NewThresholdCache(shape, 218, nil, 0.0005, 7200)
			ref := newRefThreshold(shape, 218, nil, 0.0005, 7200)
			access := func(k Key, fx *Effects) {
				if name == "incremental" {
					fast.Access(k, 0, fx)
				} else {
					ref.Access(k, fx)
				}
				fx.Reset()
			}
			var fx Effects
			for j := range 7200 { // a full window first
				access(keys[j], &fx)
			}
			j := 0
			for b.Loop() {
				access(keys[j%len(keys)], &fx)
				j++
			}
		})
	}
}
