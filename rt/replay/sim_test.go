package replay_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

var simShape = rt.Shape{Layers: 2, Experts: 4, TopK: 2, ExpertBytes: 100}

func k(l, e int32) rt.Key { return rt.Key{Layer: l, Expert: e} }

// newWarmSim returns a simulator of 4 slots with (0, 3) pinned that has run
// one step: layer 0 selected [0, 1], both missed and were loaded. Resident:
// (0, 0), (0, 1), (0, 3); one slot is free.
func newWarmSim(t *testing.T) *replay.Simulator {
	t.Helper()
	s, err := replay.NewSimulator(simShape, 4, []rt.Key{k(0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rt.Plan{Layer: 0, Experts: []int32{0, 1}, Hit: []bool{false, false}, Device: []rt.Device{rt.GPU, rt.GPU}, Load: []rt.Key{k(0, 0), k(0, 1)}}
	if err := s.Step(0, []int32{0, 1}, p); err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	gg = []rt.Device{rt.GPU, rt.GPU}
	g  = []rt.Device{rt.GPU}
	c  = []rt.Device{rt.CPU}
	tt = []bool{true, true}
	tr = []bool{true}
	fa = []bool{false}
	ff = []bool{false, false}
)

func TestSimulatorCatchesBadPlans(t *testing.T) {
	for _, tc := range []struct {
		name    string
		layer   int
		experts []int32
		plan    rt.Plan
		want    string
	}{
		{"wrong layer", 0, []int32{0, 1}, rt.Plan{Layer: 1, Hit: tt, Device: gg},
			"step 1: plan for layer 1: the routing is for layer 0"},
		{"short hit", 0, []int32{0, 1}, rt.Plan{Hit: tr, Device: gg},
			"step 1: plan for layer 0: 1 hit flags and 2 devices for 2 selected experts"},
		{"short device", 0, []int32{0, 1}, rt.Plan{Hit: tt, Device: g},
			"step 1: plan for layer 0: 2 hit flags and 1 devices for 2 selected experts"},
		{"false hit", 0, []int32{2, 0}, rt.Plan{Hit: tt, Device: gg},
			"step 1: plan for layer 0: expert (0, 2) hits, but it is neither resident nor in Load"},
		{"false hit on a prefetch", 0, []int32{2}, rt.Plan{Hit: tr, Device: c, Prefetch: []rt.Key{k(0, 2)}},
			"step 1: plan for layer 0: expert (0, 2) hits, but it is neither resident nor in Load"},
		{"false miss", 0, []int32{0}, rt.Plan{Hit: fa, Device: g, Load: []rt.Key{k(0, 0)}},
			"step 1: plan for layer 0: expert (0, 0) misses, but it is resident and not evicted"},
		{"pinned is a hit", 0, []int32{3}, rt.Plan{Hit: fa, Device: c},
			"step 1: plan for layer 0: expert (0, 3) misses, but it is resident and not evicted"},
		{"unknown device", 0, []int32{0}, rt.Plan{Hit: tr, Device: []rt.Device{7}},
			"step 1: plan for layer 0: expert (0, 0) runs on device 7, neither the GPU nor the CPU"},
		{"evict missing", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Evict: []rt.Key{k(1, 2)}},
			"step 1: plan for layer 0: evicts expert (1, 2), which is not resident"},
		{"evict twice", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Evict: []rt.Key{k(0, 1), k(0, 1)}},
			"step 1: plan for layer 0: evicts expert (0, 1) 2 times, but it is resident 1 and copied 0 times"},
		{"evict pinned", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Evict: []rt.Key{k(0, 3)}},
			"step 1: plan for layer 0: evicts pinned expert (0, 3)"},
		{"evict pinned it copies", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Prefetch: []rt.Key{k(0, 3)}, Evict: []rt.Key{k(0, 3)}},
			"step 1: plan for layer 0: evicts pinned expert (0, 3)"},
		{"evict out of shape", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Evict: []rt.Key{k(2, 0)}},
			"step 1: plan for layer 0: Evict names expert (2, 0), outside the shape (2 layers, 4 experts)"},
		{"evict a negative key", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Evict: []rt.Key{k(0, -1)}},
			"step 1: plan for layer 0: Evict names expert (0, -1), outside the shape (2 layers, 4 experts)"},
		{"load unselected", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Load: []rt.Key{k(0, 1)}},
			"step 1: plan for layer 0: Load names expert (0, 1), which this layer does not run on the GPU"},
		{"load a cpu miss", 1, []int32{0}, rt.Plan{Layer: 1, Hit: fa, Device: c, Load: []rt.Key{k(1, 0)}},
			"step 1: plan for layer 1: Load names expert (1, 0), which this layer does not run on the GPU"},
		{"load a hit", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Load: []rt.Key{k(0, 0)}},
			"step 1: plan for layer 0: copies expert (0, 0), which is already resident"},
		{"load pinned", 0, []int32{3}, rt.Plan{Hit: tr, Device: g, Load: []rt.Key{k(0, 3)}},
			"step 1: plan for layer 0: copies expert (0, 3), which is already resident"},
		{"load twice", 1, []int32{0}, rt.Plan{Layer: 1, Hit: fa, Device: g, Load: []rt.Key{k(1, 0), k(1, 0)}},
			"step 1: plan for layer 1: copies expert (1, 0) 2 times, evicting it 0 times"},
		{"load and prefetch", 1, []int32{0}, rt.Plan{Layer: 1, Hit: fa, Device: g, Load: []rt.Key{k(1, 0)}, Prefetch: []rt.Key{k(1, 0)}},
			"step 1: plan for layer 1: copies expert (1, 0) 2 times, evicting it 0 times"},
		{"load out of shape", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Load: []rt.Key{k(0, 4)}},
			"step 1: plan for layer 0: Load names expert (0, 4), outside the shape (2 layers, 4 experts)"},
		{"load overflow", 1, []int32{0, 1}, rt.Plan{Layer: 1, Hit: ff, Device: gg, Load: []rt.Key{k(1, 0), k(1, 1)}},
			"step 1: plan for layer 1: leaves 5 experts resident, more than the capacity 4"},
		{"prefetch overflow", 1, []int32{0}, rt.Plan{Layer: 1, Hit: fa, Device: g, Load: []rt.Key{k(1, 0)}, Prefetch: []rt.Key{k(1, 1)}},
			"step 1: plan for layer 1: leaves 5 experts resident, more than the capacity 4"},
		{"prefetch resident", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Prefetch: []rt.Key{k(0, 1)}},
			"step 1: plan for layer 0: copies expert (0, 1), which is already resident"},
		{"prefetch out of shape", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Prefetch: []rt.Key{k(5, 0)}},
			"step 1: plan for layer 0: Prefetch names expert (5, 0), outside the shape (2 layers, 4 experts)"},
		{"gpu miss not loaded", 1, []int32{0}, rt.Plan{Layer: 1, Hit: fa, Device: g},
			"step 1: plan for layer 1: expert (1, 0) misses and runs on the GPU, but it is not in Load"},
		{"gpu miss prefetched, not loaded", 1, []int32{0}, rt.Plan{Layer: 1, Hit: fa, Device: g, Prefetch: []rt.Key{k(1, 0)}},
			"step 1: plan for layer 1: expert (1, 0) misses and runs on the GPU, but it is not in Load"},
		{"gpu miss evicted before its turn, not loaded", 0, []int32{0}, rt.Plan{Hit: fa, Device: g, Evict: []rt.Key{k(0, 0)}},
			"step 1: plan for layer 0: expert (0, 0) misses and runs on the GPU, but it is not in Load"},
		{"routing layer", 2, []int32{0}, rt.Plan{Layer: 2, Hit: tr, Device: g},
			"step 1: routing layer 2 is out of range [0,2)"},
		{"routing expert", 0, []int32{4}, rt.Plan{Hit: tr, Device: g},
			"step 1 (layer 0): routing expert 4 is out of range [0,4)"},
		{"routing duplicate", 0, []int32{1, 1}, rt.Plan{Hit: tt, Device: gg},
			"step 1 (layer 0): routing selects expert 1 twice"},
		{"routing past top-k", 0, []int32{0, 1, 2}, rt.Plan{Hit: []bool{true, true, false}, Device: []rt.Device{rt.GPU, rt.GPU, rt.CPU}},
			"step 1 (layer 0): routing selects 3 experts, more than top-k 2"},
		{"plan for other experts", 0, []int32{0}, rt.Plan{Experts: []int32{1}, Hit: tr, Device: g},
			"step 1: plan for layer 0: selected experts [1], the routing selects [0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newWarmSim(t)
			if tc.plan.Experts == nil { // the plan answers the routing
				tc.plan.Experts = tc.experts
			}
			err := s.Step(tc.layer, tc.experts, &tc.plan)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Step = %v, want %q", err, tc.want)
			}
			// The error sticks.
			ok := &rt.Plan{Experts: []int32{0}, Hit: tr, Device: g}
			if err2 := s.Step(0, []int32{0}, ok); err2 == nil || err2.Error() != tc.want {
				t.Errorf("Step after the error = %v, want %q again", err2, tc.want)
			}
		})
	}
}

func TestSimulatorAcceptsGoodPlans(t *testing.T) {
	for _, tc := range []struct {
		name      string
		layer     int
		experts   []int32
		plan      rt.Plan
		resident  []rt.Key // after the plan
		peakInUse int
	}{
		{"hits", 0, []int32{1, 0}, rt.Plan{Hit: tt, Device: gg},
			[]rt.Key{k(0, 0), k(0, 1), k(0, 3)}, 3},
		{"miss loaded", 1, []int32{3}, rt.Plan{Layer: 1, Hit: fa, Device: g, Load: []rt.Key{k(1, 3)}},
			[]rt.Key{k(0, 0), k(0, 1), k(0, 3), k(1, 3)}, 4},
		{"evict then load into a full device", 1, []int32{0, 1}, rt.Plan{Layer: 1, Hit: ff, Device: gg, Evict: []rt.Key{k(0, 0)}, Load: []rt.Key{k(1, 0), k(1, 1)}},
			[]rt.Key{k(0, 1), k(0, 3), k(1, 0), k(1, 1)}, 4},
		{"cpu miss copied in the background", 1, []int32{2}, rt.Plan{Layer: 1, Hit: fa, Device: c, Prefetch: []rt.Key{k(1, 2)}},
			[]rt.Key{k(0, 0), k(0, 1), k(0, 3), k(1, 2)}, 4},
		{"cpu miss left out", 1, []int32{2}, rt.Plan{Layer: 1, Hit: fa, Device: c},
			[]rt.Key{k(0, 0), k(0, 1), k(0, 3)}, 3},
		{"cpu hit", 0, []int32{0}, rt.Plan{Hit: tr, Device: c},
			[]rt.Key{k(0, 0), k(0, 1), k(0, 3)}, 3},
		{"cpu hit evicted", 0, []int32{0}, rt.Plan{Hit: tr, Device: c, Evict: []rt.Key{k(0, 0)}},
			[]rt.Key{k(0, 1), k(0, 3)}, 3},
		// A trigger evicts the expert the layer just hit: its slot is
		// freed after the compute.
		{"gpu hit evicted after the compute", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Evict: []rt.Key{k(0, 0)}},
			[]rt.Key{k(0, 1), k(0, 3)}, 3},
		// A miss the cache does not keep runs from a slot freed after
		// the compute: 4 resident and 1 in use.
		{"gpu miss not kept", 1, []int32{0, 1}, rt.Plan{Layer: 1, Hit: ff, Device: gg, Load: []rt.Key{k(1, 0), k(1, 1)}, Evict: []rt.Key{k(1, 1)}},
			[]rt.Key{k(0, 0), k(0, 1), k(0, 3), k(1, 0)}, 5},
		{"cpu miss evicted before its turn", 0, []int32{0}, rt.Plan{Hit: fa, Device: c, Evict: []rt.Key{k(0, 0)}},
			[]rt.Key{k(0, 1), k(0, 3)}, 3},
		// A cache that handles [2, 0] in order: (0, 2) misses and evicts
		// (0, 0), its oldest; then (0, 0) misses, evicts (0, 1) and is
		// loaded again. (0, 0) stays resident.
		{"gpu miss evicted before its turn and reloaded", 0, []int32{2, 0}, rt.Plan{Hit: ff, Device: gg, Evict: []rt.Key{k(0, 0), k(0, 1)}, Load: []rt.Key{k(0, 2), k(0, 0)}},
			[]rt.Key{k(0, 0), k(0, 2), k(0, 3)}, 3},
		// (0, 0) is a victim before its turn, misses, is loaded, and is
		// not kept: evicted twice, copied once, gone after the compute.
		{"gpu miss evicted before its turn and not kept", 0, []int32{0}, rt.Plan{Hit: fa, Device: g, Evict: []rt.Key{k(0, 0), k(0, 0)}, Load: []rt.Key{k(0, 0)}},
			[]rt.Key{k(0, 1), k(0, 3)}, 3},
		{"hit on a copy the layer needs", 1, []int32{0}, rt.Plan{Layer: 1, Hit: tr, Device: g, Load: []rt.Key{k(1, 0)}},
			[]rt.Key{k(0, 0), k(0, 1), k(0, 3), k(1, 0)}, 4},
		{"prefetch warming", 0, []int32{0}, rt.Plan{Hit: tr, Device: g, Evict: []rt.Key{k(0, 1)}, Prefetch: []rt.Key{k(1, 1), k(1, 2)}},
			[]rt.Key{k(0, 0), k(0, 3), k(1, 1), k(1, 2)}, 4},
		{"empty selection", 1, nil, rt.Plan{Layer: 1},
			[]rt.Key{k(0, 0), k(0, 1), k(0, 3)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newWarmSim(t)
			tc.plan.Experts = tc.experts // the plan answers the routing
			if err := s.Step(tc.layer, tc.experts, &tc.plan); err != nil {
				t.Fatal(err)
			}
			var got []rt.Key
			for l := range int32(simShape.Layers) {
				for e := range int32(simShape.Experts) {
					if s.Resident(k(l, e)) {
						got = append(got, k(l, e))
					}
				}
			}
			if diff := cmp.Diff(tc.resident, got); diff != "" || s.Len() != len(tc.resident) {
				t.Fatalf("resident (Len %d) (-want +got):\n%s", s.Len(), diff)
			}
			if s.Steps() != 2 || s.PeakInUse() != tc.peakInUse || s.Peak() != max(3, len(tc.resident)) {
				t.Errorf("Steps %d, Peak %d, PeakInUse %d; want 2, %d, %d", s.Steps(), s.Peak(), s.PeakInUse(), max(3, len(tc.resident)), tc.peakInUse)
			}
			if !s.Pinned(k(0, 3)) || s.Pinned(k(0, 0)) {
				t.Errorf("Pinned: (0, 3) %v, (0, 0) %v; want true, false", s.Pinned(k(0, 3)), s.Pinned(k(0, 0)))
			}
		})
	}
}

func TestNewSimulatorErrors(t *testing.T) {
	for _, tc := range []struct {
		shape rt.Shape
		slots int
		pin   []rt.Key
		want  string
	}{
		{rt.Shape{}, 4, nil, "simulator: shape has 0 layers, need at least 1"},
		{simShape, 0, nil, "simulator: capacity 0, need at least 1"},
		{simShape, 4, []rt.Key{k(0, 4)}, "simulator: pinned expert (0, 4) is outside the shape (2 layers, 4 experts)"},
		{simShape, 4, []rt.Key{k(1, 2), k(1, 2)}, "simulator: expert (1, 2) is pinned twice"},
		{simShape, 1, []rt.Key{k(0, 0), k(1, 0)}, "simulator: 2 pinned experts do not fit the capacity 1"},
	} {
		_, err := replay.NewSimulator(tc.shape, tc.slots, tc.pin)
		if err == nil || err.Error() != tc.want {
			t.Errorf("NewSimulator(%+v, %d, %v) = %v, want %q", tc.shape, tc.slots, tc.pin, err, tc.want)
		}
	}
}

func TestSimulatorAllocatesNothing(t *testing.T) {
	s, err := replay.NewSimulator(simShape, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Three plans that leave the device as they found it, empty.
	load := &rt.Plan{Experts: []int32{0, 1}, Hit: ff, Device: gg, Load: []rt.Key{k(0, 0), k(0, 1)}}
	swap := &rt.Plan{Experts: []int32{2}, Hit: fa, Device: g, Evict: []rt.Key{k(0, 0), k(0, 1)}, Load: []rt.Key{k(0, 2)}}
	drop := &rt.Plan{Experts: []int32{3}, Hit: fa, Device: c, Evict: []rt.Key{k(0, 2)}}
	e01, e2, e3 := []int32{0, 1}, []int32{2}, []int32{3}
	allocs := testing.AllocsPerRun(100, func() {
		for _, err := range []error{s.Step(0, e01, load), s.Step(0, e2, swap), s.Step(0, e3, drop)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Step allocates %v times per three plans, want 0", allocs)
	}
}
