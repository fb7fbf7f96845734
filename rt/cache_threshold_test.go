package rt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// refreshSlow is ThresholdCache.refresh as the reference computes it, the
// oracle of TestThresholdRefresh: every access reads the whole window for
// the qualifying experts and trims the lowest count one at a time.
func (c *ThresholdCache) refreshSlow(fx *Effects) {
	n := float64(c.filled)
	seen := make([]bool, len(c.counts))
	qual := make([]bool, len(c.counts))
	var cand []int32
	start := (c.head - c.filled + len(c.ring)) % len(c.ring)
	for j := 0; j < c.filled; j++ {
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
	last := c.ring[(c.head-1+len(c.ring))%len(c.ring)]
	for j, i := range cand {
		if keep[j] && !c.in[i] {
			c.in[i] = true
			members = append(members, i)
			if i != last {
				fx.Admitted = append(fx.Admitted, c.x.key(i))
			}
		}
	}
	c.members = members
}

// TestThresholdRefresh runs random operations on two frequency-threshold
// caches, one refreshing incrementally, the other as the reference does
// (refreshSlow), and requires the same answers, effects and residents
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
		slow := NewThresholdCache(shape, capacity, pins, threshold, window)
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
				got.Hit = fast.Access(k, 0, &fxFast)
				i := slow.x.of(k)
				slow.push(i)
				want.Hit = slow.pins.is(i) || slow.in[i]
				slow.refreshSlow(&fxSlow)
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
			if !slices.Equal(fast.members, slow.members) {
				t.Fatalf("seed %d, operation %d, %s: members %v, want %v", seed, op, what, fast.members, slow.members)
			}
		}
	}
}

// BenchmarkThresholdAccess measures one access of a frequency-threshold
// cache with Qwen1.5-MoE's shape under 8 GiB (24 layers of 60 experts,
// 218 slots, a window of 7,200 accesses, threshold 0.0005: 0.77 of an
// even share) on skewed routing, the incremental refresh beside the
// reference's (refreshSlow), side by side:
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
			c := NewThresholdCache(shape, 218, nil, 0.0005, 7200)
			var fx Effects
			for j := range 7200 { // a full window first
				c.Access(keys[j], 0, &fx)
				fx.Reset()
			}
			j := 0
			for b.Loop() {
				k := keys[j%len(keys)]
				j++
				if name == "incremental" {
					c.Access(k, 0, &fx)
				} else {
					c.push(c.x.of(k))
					c.refreshSlow(&fx)
				}
				fx.Reset()
			}
		})
	}
}
