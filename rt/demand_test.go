package rt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestDemandLRU holds the one-loop path to the step-by-step one that the
// interpreter takes (Access, then Account) on random selections,
// including the cases the routing benchmarks never make: experts selected
// twice in one dispatch, fewer slots than selected experts, every slot
// pinned.
func TestDemandLRU(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		shape := Shape{Layers: 1 + r.IntN(3), Experts: 2 + r.IntN(12), ExpertBytes: 1 + r.Int64N(100)}
		shape.TopK = 1 + r.IntN(shape.Experts)
		capacity := 1 + r.IntN(shape.Experts*shape.Layers)
		var pins []int
		for range r.IntN(3) {
			pins = append(pins, r.IntN(shape.Experts))
		}
		t.Run(fmt.Sprintf("%d_%+v_cap%d_pins%v", seed, shape, capacity, pins), func(t *testing.T) {
			fused, step := NewLedger(shape, nil), NewLedger(shape, nil)
			// One cache for every layer or, for odd seeds, one per layer
			// (as per-layer policies have).
			fcs, scs := []*LRUCache{NewLRUCache(shape, capacity, pins)}, []*LRUCache{NewLRUCache(shape, capacity, pins)}
			if seed%2 == 1 {
				fcs, scs = nil, nil
				for layer := range shape.Layers {
					fcs = append(fcs, newLRU(layerIndex(shape, layer), capacity, pins))
					scs = append(scs, newLRU(layerIndex(shape, layer), capacity, pins))
				}
			}
			var fp, sp Plan
			for d := range 200 {
				layer := r.IntN(shape.Layers)
				fc, sc := fcs[0], scs[0]
				if len(fcs) > 1 {
					fc, sc = fcs[layer], scs[layer]
				}
				experts := make([]int32, shape.TopK)
				for i := range experts {
					experts[i] = int32(r.IntN(shape.Experts)) // duplicates allowed
				}
				fused.Begin(layer, experts, nil, &fp)
				fused.DemandLRU(fc, &fp)
				step.Begin(layer, experts, nil, &sp)
				for i, e := range experts {
					k := Key{Layer: int32(layer), Expert: e}
					hit := sc.Access(k, 1, step.Effects())
					step.Account(&sp, i, k, hit, hit || sc.Contains(k), false)
				}
				if samePlan(&sp, &fp) && step.Counters() == fused.Counters() && slices.Equal(step.layerHits, fused.layerHits) &&
					slices.Equal(step.layerMisses, fused.layerMisses) && slices.Equal(sc.Residents(nil), fc.Residents(nil)) {
					continue
				}
				if diff := cmp.Diff(sp, fp, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("dispatch %d of %v at layer %d: plans differ (-step +fused):\n%s", d, experts, layer, diff)
				}
				if diff := cmp.Diff(step.Stats("p"), fused.Stats("p")); diff != "" {
					t.Fatalf("dispatch %d of %v at layer %d: stats differ (-step +fused):\n%s", d, experts, layer, diff)
				}
				if diff := cmp.Diff(sc.Residents(nil), fc.Residents(nil)); diff != "" {
					t.Fatalf("dispatch %d: residents differ (-step +fused):\n%s", d, diff)
				}
			}
		})
	}
}

// samePlan reports whether a and b say the same, as a quick check before
// cmp.Diff explains.
func samePlan(a, b *Plan) bool {
	return a.Layer == b.Layer && slices.Equal(a.Experts, b.Experts) && slices.Equal(a.Hit, b.Hit) &&
		slices.Equal(a.Device, b.Device) && slices.Equal(a.Load, b.Load) && slices.Equal(a.Prefetch, b.Prefetch) &&
		slices.Equal(a.Evict, b.Evict)
}
