package rt

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTTLAgainstNaive checks the TTL trigger's queue against the rule it
// implements, computed naively: after each access, every tracked expert
// whose last access is ttl accesses old expires, and the trigger fires
// when any does.
func TestTTLAgainstNaive(t *testing.T) {
	shape := Shape{Layers: 2, Experts: 8, TopK: 1}
	for seed := range 100 {
		r := rand.New(rand.NewPCG(uint64(seed), 5))
		ttl := 1 + r.IntN(150) // above 63, the queue (64 pairs for 16 keys) compacts
		pins := []int{r.IntN(8)}
		trig := newTTL(newIndex(shape), ttl, pins)
		c := newLRU(newIndex(shape), 16, pins) // holds everything: Remove reports residency
		last := map[Key]int{}
		var fired, evicted int64
		for clock := 1; clock <= 500; clock++ {
			k := Key{Layer: int32(r.IntN(2)), Expert: int32(r.IntN(8))}
			var fx Effects
			c.Access(k, 1, &fx)
			trig.Access(k)
			if k.Expert != int32(pins[0]) {
				last[k] = clock
			}
			var want []Key
			for key, l := range last {
				if l <= clock-ttl {
					want = append(want, key)
					delete(last, key)
				}
			}
			fx = Effects{}
			Expire(trig, c, &fx)
			if len(want) > 0 {
				fired++
			}
			evicted += int64(len(want)) // every expired expert was resident: the cache holds all
			slices.SortFunc(want, func(a, b Key) int { return int(a.Layer*8+a.Expert) - int(b.Layer*8+b.Expert) })
			got := slices.Clone(fx.Evicted)
			slices.SortFunc(got, func(a, b Key) int { return int(a.Layer*8+a.Expert) - int(b.Layer*8+b.Expert) })
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d, access %d (ttl %d): expired %v, want %v", seed, clock, ttl, got, want)
			}
		}
		if trig.count.Fired != fired || trig.count.Evicted != evicted {
			t.Fatalf("seed %d: counts %+v, want fired %d evicted %d", seed, trig.count, fired, evicted)
		}
	}
}

// TestTTLHuge runs a trigger whose ttl is the largest the language accepts
// (ttl = 9223372036854775807 passes the checks): its queue is sized by the
// experts, not the ttl, and nothing ever expires.
func TestTTLHuge(t *testing.T) {
	shape := Shape{Layers: 2, Experts: 4, TopK: 1}
	trig := newTTL(newIndex(shape), math.MaxInt, nil)
	if len(trig.queue) > 4*shape.Layers*shape.Experts {
		t.Fatalf("queue of %d pairs for %d experts", len(trig.queue), shape.Layers*shape.Experts)
	}
	c := newLRU(newIndex(shape), 8, nil)
	for i := range 1000 { // enough to fill and compact the queue many times
		k := Key{Layer: int32(i % 2), Expert: int32(i % 3)}
		trig.Access(k)
		if trig.Due() {
			t.Fatalf("access %d: %v due", i, trig.due)
		}
		Expire(trig, c, &Effects{})
	}
	if trig.count != (TriggerCount{}) {
		t.Fatalf("counts %+v, want none", trig.count)
	}
}
