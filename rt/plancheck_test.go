package rt_test

import (
	"fmt"
	"testing"

	"github.com/moepolicy/moec/rt"
)

func key(l, e int32) rt.Key { return rt.Key{Layer: l, Expert: e} }

// newWarmChecker returns a checker of capacity 4 over 2 layers of 4
// experts, top-2, with (0, 3) pinned, (0, 0) and (0, 1) resident.
func newWarmChecker(t *testing.T) *rt.PlanChecker {
	t.Helper()
	c, err := rt.NewPlanChecker(rt.Shape{Layers: 2, Experts: 4, TopK: 2}, 4, []rt.Key{key(0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	warm := &rt.Plan{Experts: []int32{0, 1}, Hit: []bool{false, false}, Device: []rt.Device{rt.GPU, rt.GPU}, Load: []rt.Key{key(0, 0), key(0, 1)}}
	if err := c.Check(warm); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPlanCheckerOutcomes checks what accepted plans do to each expert
// they name, and the counts a mechanism reads after them.
func TestPlanCheckerOutcomes(t *testing.T) {
	const (
		gpu    = rt.OnGPU
		before = rt.ResidentBefore
		after  = rt.ResidentAfter
	)
	for _, tc := range []struct {
		name     string
		plan     rt.Plan
		outcomes map[rt.Key]rt.Outcome
		len      int // resident after
		inUse    int
		kept     int
	}{
		{"hits", rt.Plan{Experts: []int32{1, 3}, Hit: []bool{true, true}, Device: []rt.Device{rt.GPU, rt.CPU}},
			map[rt.Key]rt.Outcome{key(0, 1): gpu | before | after, key(0, 3): before | after}, 3, 3, 0},
		{"miss loaded into the last slot", rt.Plan{Layer: 1, Experts: []int32{2}, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{key(1, 2)}},
			map[rt.Key]rt.Outcome{key(1, 2): gpu | after | rt.Copied}, 4, 4, 0},
		{"unused eviction freed before the copies", rt.Plan{Layer: 1, Experts: []int32{2}, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{key(1, 2)}, Evict: []rt.Key{key(0, 0)}},
			map[rt.Key]rt.Outcome{key(1, 2): gpu | after | rt.Copied, key(0, 0): before | rt.FreedBefore}, 3, 3, 0},
		{"evicted hit freed after the compute", rt.Plan{Experts: []int32{0}, Hit: []bool{true}, Device: []rt.Device{rt.GPU}, Evict: []rt.Key{key(0, 0)}},
			map[rt.Key]rt.Outcome{key(0, 0): gpu | before | rt.FreedAfter}, 2, 3, 0},
		{"load not kept", rt.Plan{Layer: 1, Experts: []int32{0}, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{key(1, 0)}, Evict: []rt.Key{key(1, 0)}},
			map[rt.Key]rt.Outcome{key(1, 0): gpu | rt.Copied | rt.FreedAfter}, 3, 4, 0},
		{"evicted and reloaded keeps its slot", rt.Plan{Experts: []int32{0}, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{key(0, 0)}, Evict: []rt.Key{key(0, 0)}},
			map[rt.Key]rt.Outcome{key(0, 0): gpu | before | after}, 3, 3, 1},
		{"prefetched and evicted, never copied", rt.Plan{Layer: 1, Experts: []int32{0}, Hit: []bool{false}, Device: []rt.Device{rt.CPU}, Prefetch: []rt.Key{key(1, 0)}, Evict: []rt.Key{key(1, 0)}},
			map[rt.Key]rt.Outcome{key(1, 0): 0}, 3, 3, 0},
		{"empty selection", rt.Plan{Layer: 1},
			map[rt.Key]rt.Outcome{}, 3, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newWarmChecker(t)
			if err := c.Check(&tc.plan); err != nil {
				t.Fatal(err)
			}
			named := c.Named()
			if len(named) != len(tc.outcomes) {
				t.Errorf("Named = %v, want the %d keys %v", named, len(tc.outcomes), tc.outcomes)
			}
			for _, k := range named {
				want, ok := tc.outcomes[k]
				if got := c.Outcome(k); !ok || got != want {
					t.Errorf("Outcome(%v) = %06b, want %06b (named: %v)", k, got, want, ok)
				}
			}
			if c.Outcome(key(1, 3)) != 0 || c.Outcome(key(9, 9)) != 0 {
				t.Error("an expert the plan does not name has an outcome")
			}
			if c.Len() != tc.len || c.InUse() != tc.inUse || c.Kept() != tc.kept {
				t.Errorf("Len %d, InUse %d, Kept %d; want %d, %d, %d", c.Len(), c.InUse(), c.Kept(), tc.len, tc.inUse, tc.kept)
			}
			for k, o := range tc.outcomes {
				if c.Resident(k) != (o&rt.ResidentAfter != 0) {
					t.Errorf("Resident(%v) = %v after the plan", k, c.Resident(k))
				}
			}
		})
	}
}

// TestPlanCheckerRejectsWithoutChanging checks that a rejected plan leaves
// the residency as it was and has no outcomes, and that the next plan is
// checked against the residency before it.
func TestPlanCheckerRejectsWithoutChanging(t *testing.T) {
	c := newWarmChecker(t)
	// Loads (1, 0) and (1, 1), then overflows the capacity: nothing moves.
	bad := &rt.Plan{Layer: 1, Experts: []int32{0, 1}, Hit: []bool{false, false}, Device: []rt.Device{rt.GPU, rt.GPU}, Load: []rt.Key{key(1, 0), key(1, 1)}}
	err := c.Check(bad)
	if want := "plan for layer 1: leaves 5 experts resident, more than the capacity 4"; err == nil || err.Error() != want {
		t.Fatalf("Check = %v, want %q", err, want)
	}
	if len(c.Named()) != 0 || c.Outcome(key(1, 0)) != 0 {
		t.Errorf("a rejected plan left outcomes: %v", c.Named())
	}
	if c.Len() != 3 || c.Resident(key(1, 0)) || !c.Resident(key(0, 1)) || !c.Pinned(key(0, 3)) {
		t.Errorf("the rejected plan changed the residency: Len %d", c.Len())
	}
	good := &rt.Plan{Layer: 1, Experts: []int32{0}, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{key(1, 0)}}
	if err := c.Check(good); err != nil {
		t.Fatal(err)
	}
}

func TestNewPlanCheckerErrors(t *testing.T) {
	shape := rt.Shape{Layers: 2, Experts: 4, TopK: 2}
	for _, tc := range []struct {
		shape    rt.Shape
		capacity int
		pin      []rt.Key
		want     string
	}{
		{rt.Shape{}, 4, nil, "shape has 0 layers, need at least 1"},
		{shape, 0, nil, "capacity 0, need at least 1"},
		{shape, 1, []rt.Key{key(0, 0), key(1, 0)}, "2 pinned experts do not fit the capacity 1"},
		{shape, 4, []rt.Key{key(2, 0)}, "pinned expert (2, 0) is outside the shape (2 layers, 4 experts)"},
		{shape, 4, []rt.Key{key(1, 3), key(1, 3)}, "expert (1, 3) is pinned twice"},
	} {
		_, err := rt.NewPlanChecker(tc.shape, tc.capacity, tc.pin)
		if err == nil || err.Error() != tc.want {
			t.Errorf("NewPlanChecker(%+v, %d, %v) = %v, want %q", tc.shape, tc.capacity, tc.pin, err, tc.want)
		}
	}
}

// TestPlanCheckerAllocatesNothing: the checker runs once per layer per
// token in every mechanism.
func TestPlanCheckerAllocatesNothing(t *testing.T) {
	c, err := rt.NewPlanChecker(rt.Shape{Layers: 1, Experts: 8, TopK: 2}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Three plans that leave the device as they found it, empty.
	plans := []*rt.Plan{
		{Experts: []int32{0, 1}, Hit: []bool{false, false}, Device: []rt.Device{rt.GPU, rt.GPU}, Load: []rt.Key{key(0, 0), key(0, 1)}},
		{Experts: []int32{2}, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Evict: []rt.Key{key(0, 0), key(0, 1)}, Load: []rt.Key{key(0, 2)}},
		{Experts: []int32{3}, Hit: []bool{false}, Device: []rt.Device{rt.CPU}, Evict: []rt.Key{key(0, 2)}},
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range plans {
			if err := c.Check(p); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Check allocates %v times per three plans, want 0", allocs)
	}
}

// A mechanism checks each plan before it moves anything, and executes the
// outcomes.
func ExamplePlanChecker() {
	shape := rt.Shape{Layers: 1, Experts: 8, TopK: 2}
	c, err := rt.NewPlanChecker(shape, 2, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	plans := []rt.Plan{
		{Experts: []int32{3, 5}, Hit: []bool{false, false}, Device: []rt.Device{rt.GPU, rt.GPU}, Load: []rt.Key{{Expert: 3}, {Expert: 5}}},
		{Experts: []int32{6}, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{{Expert: 6}}, Evict: []rt.Key{{Expert: 3}}},
		{Experts: []int32{7}, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{{Expert: 7}}},
	}
	for _, p := range plans {
		if err := c.Check(&p); err != nil {
			fmt.Println(err)
			continue
		}
		for _, k := range c.Named() {
			o := c.Outcome(k)
			fmt.Printf("%v copied %v, freed before the copies %v; ", k, o&rt.Copied != 0, o&rt.FreedBefore != 0)
		}
		fmt.Println(c.Len(), "resident")
	}
	// Output:
	// (0, 3) copied true, freed before the copies false; (0, 5) copied true, freed before the copies false; 2 resident
	// (0, 6) copied true, freed before the copies false; (0, 3) copied false, freed before the copies true; 2 resident
	// plan for layer 0: leaves 3 experts resident, more than the capacity 2
}
