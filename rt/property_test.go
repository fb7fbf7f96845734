package rt_test

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
)

// mechanism executes plans on a resident set and checks that they can be
// executed, by the contract of rt.Plan: per expert, resident after =
// resident before + copies (Load, Prefetch) - evictions, always 0 or 1;
// pinned experts are never evicted; an expert the layer runs on the GPU is
// resident or loaded; a hit was resident before or is loaded; the
// resident experts never outnumber the slots.
type mechanism struct {
	resident map[rt.Key]bool
	pinned   map[rt.Key]bool
	slots    func() int
}

func (m *mechanism) apply(step int, layer int, experts []int32, p *rt.Plan) error {
	net := map[rt.Key]int{}
	for _, k := range p.Load {
		net[k]++
	}
	for _, k := range p.Prefetch {
		net[k]++
	}
	copied := maps.Clone(net)
	for _, k := range p.Evict {
		if m.pinned[k] {
			return fmt.Errorf("step %d: evicts pinned %v", step, k)
		}
		net[k]--
	}
	for i, e := range experts {
		k := rt.Key{Layer: int32(layer), Expert: e}
		switch {
		case p.Hit[i] && !m.resident[k] && !slices.Contains(p.Load, k):
			return fmt.Errorf("step %d: hit[%d] for %v, neither resident nor loaded", step, i, k)
		case p.Device[i] == rt.GPU && !m.resident[k] && !slices.Contains(p.Load, k):
			return fmt.Errorf("step %d: %v runs on the GPU but is neither resident nor loaded", step, k)
		}
	}
	for k, d := range net {
		before := 0
		if m.resident[k] {
			before = 1
		}
		after := before + d
		if after != 0 && after != 1 {
			return fmt.Errorf("step %d: %v resident before %d, %d copies, %d evictions", step, k, before, copied[k], copied[k]-d)
		}
		if before == 1 && copied[k] > 0 && d > 0 {
			return fmt.Errorf("step %d: copies %v, already resident", step, k)
		}
		if after == 1 {
			m.resident[k] = true
		} else {
			delete(m.resident, k)
		}
	}
	if n := len(m.resident); n > m.slots() {
		return fmt.Errorf("step %d: %d experts resident, %d slots", step, n, m.slots())
	}
	return nil
}

var propertySeeds = flag.Int("seeds", 300, "random policies TestPlansExecutable tries")

// TestPlansExecutable replays random policies over random routing and
// checks every plan against a mechanism, and that a second run makes the
// same decisions.
func TestPlansExecutable(t *testing.T) {
	shapes := []rt.Shape{{Layers: 1, Experts: 8, TopK: 2}, {Layers: 4, Experts: 16, TopK: 4}, {Layers: 3, Experts: 64, TopK: 6}}
	n := *propertySeeds
	if testing.Short() {
		n = 60
	}
	for seed := range n {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		shape := shapes[seed%len(shapes)]
		spec := rttest.RandomSpec(r, shape)
		calls := rttest.Routing(uint64(seed), 400, shape)
		trace := func() []rt.Plan {
			p, err := rt.New(spec, shape)
			if err != nil {
				t.Fatalf("seed %d: %v\n%+v", seed, err, spec)
			}
			m := &mechanism{resident: map[rt.Key]bool{}, pinned: map[rt.Key]bool{}}
			m.slots = func() int { return spec.MaxSlots(shape) }
			for l := 0; l < shape.Layers; l++ {
				for _, e := range spec.Cache.Pin {
					k := rt.Key{Layer: int32(l), Expert: int32(e)}
					m.pinned[k], m.resident[k] = true, true
				}
			}
			var plans []rt.Plan
			var plan rt.Plan
			for i, c := range calls {
				p.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
				if err := m.apply(i, c.Layer, c.Experts, &plan); err != nil {
					t.Fatalf("seed %d, %s: %v\nspec %+v", seed, spec.Name, err, spec)
				}
				plans = append(plans, clonePlan(plan))
			}
			return plans
		}
		if a, b := trace(), trace(); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two runs decided differently", seed)
		}
	}
}

func clonePlan(p rt.Plan) rt.Plan {
	return rt.Plan{
		Layer:    p.Layer,
		Hit:      append([]bool(nil), p.Hit...),
		Device:   append([]rt.Device(nil), p.Device...),
		Load:     append([]rt.Key(nil), p.Load...),
		Prefetch: append([]rt.Key(nil), p.Prefetch...),
		Evict:    append([]rt.Key(nil), p.Evict...),
	}
}

// TestDispatchAllocs checks that Dispatch allocates nothing once warm.
func TestDispatchAllocs(t *testing.T) {
	for _, shape := range benchShapes {
		calls := rttest.Routing(3, 4096, shape)
		for _, bs := range benchSpecs {
			p, err := rt.New(bs.spec(shape.Layers), shape)
			if err != nil {
				t.Fatal(err)
			}
			var plan rt.Plan
			for _, c := range calls {
				p.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
			}
			i := 0
			allocs := testing.AllocsPerRun(2000, func() {
				c := &calls[i%len(calls)]
				p.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
				i++
			})
			if allocs != 0 {
				t.Errorf("%s at %d experts top-%d: %v allocations per Dispatch", bs.name, shape.Experts, shape.TopK, allocs)
			}
		}
	}
}

// TestDispatchIntoAnyPlan dispatches into plans the caller built with
// storage of uneven sizes (room for the experts, none for Hit and Device,
// and the reverse) and checks that each comes out as a fresh plan would.
func TestDispatchIntoAnyPlan(t *testing.T) {
	shape := rt.Shape{Layers: 2, Experts: 8, TopK: 3}
	plans := []rt.Plan{
		{Experts: make([]int32, 0, 16)},
		{Hit: make([]bool, 1), Device: make([]rt.Device, 0, 16), Load: make([]rt.Key, 5)},
	}
	for i := range plans {
		want, err := rt.New(rt.NewSpec("lru", 4), shape)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := rt.New(rt.NewSpec("lru", 4), shape)
		for _, c := range rttest.Routing(5, 50, shape) {
			var fresh rt.Plan
			want.Dispatch(c.Layer, c.Experts, c.Scores, &fresh)
			got.Dispatch(c.Layer, c.Experts, c.Scores, &plans[i])
			if diff := cmp.Diff(fresh, plans[i], cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("plan %d: (-fresh +reused):\n%s", i, diff)
			}
		}
	}
}

// TestStatsWhileDispatching reads Stats from another goroutine while
// Dispatch runs; go test -race checks it.
func TestStatsWhileDispatching(t *testing.T) {
	shape := rt.Shape{Layers: 4, Experts: 16, TopK: 4}
	spec := rt.NewSpec("concurrent", 16)
	spec.Monitor = rt.DefaultMonitor()
	p, err := rt.New(spec, shape)
	if err != nil {
		t.Fatal(err)
	}
	calls := rttest.Routing(5, 2000, shape)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				s := p.Stats()
				if s.Cache.Hits+s.Cache.Misses > int64(len(calls)*shape.TopK) {
					t.Error("more accesses than dispatched")
				}
			}
		}
	}()
	var plan rt.Plan
	for _, c := range calls {
		p.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
	}
	close(done)
	wg.Wait()
	if s := p.Stats(); s.Cache.Hits+s.Cache.Misses != int64(len(calls)*shape.TopK) {
		t.Errorf("accesses = %d, want %d", s.Cache.Hits+s.Cache.Misses, len(calls)*shape.TopK)
	}
}
