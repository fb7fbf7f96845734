package cudart

import (
	"errors"
	"flag"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
)

var policySeeds = flag.Int("policies", 200, "random policies TestHostRandomPolicies replays")

// openHostFilled opens a HostStore and fills its arena with the patterns.
func openHostFilled(t testing.TB, o Options) *HostStore {
	t.Helper()
	h, err := OpenHost(o)
	if err != nil {
		t.Fatal(err)
	}
	fillAll(o.Shape, h.Host)
	return h
}

// replayHost runs pol over calls through a HostStore and checks, after
// every Apply: the plan is accepted; every expert the layer runs on the
// GPU is readable and holds its bytes; the table's invariants; every held
// slot holds exactly its expert's bytes; the resident set equals the
// model's. At the end it checks the copy counters against the model and
// the arena against the patterns.
func replayHost(t *testing.T, name string, pol rt.Policy, o Options, calls []call, seed uint64) {
	t.Helper()
	h := openHostFilled(t, o)
	defer h.Close()
	m := newModel(o)
	r := rand.New(rand.NewPCG(seed, 3))
	var plan rt.Plan
	for step, c := range calls {
		pol.Dispatch(c.layer, c.experts, c.scores, &plan)
		if err := h.Apply(&plan); err != nil {
			t.Fatalf("%s: step %d: %v", name, step, err)
		}
		m.apply(&plan)
		for j, e := range c.experts {
			k := rt.Key{Layer: int32(c.layer), Expert: e}
			if plan.Device[j] != rt.GPU {
				continue
			}
			b, ok := h.Ptr(k)
			if !ok {
				t.Fatalf("%s: step %d: expert %v runs on the GPU but Ptr finds no slot", name, step, k)
			}
			if string(b) != string(h.Host(k)) {
				t.Fatalf("%s: step %d: expert %v's slot does not hold its bytes", name, step, k)
			}
		}
		if r.IntN(2) == 0 { // half the time the layer "runs" and says so
			if err := h.Used(); err != nil {
				t.Fatal(err)
			}
		}
		if err := checkTable(h.t); err != nil {
			t.Fatalf("%s: step %d: %v", name, step, err)
		}
		if err := checkSlots(h.t, h.eb, h.slotsB, h.Host); err != nil {
			t.Fatalf("%s: step %d: %v", name, step, err)
		}
		if err := sameKeys(h.t.keptKeys(), m.keys()); err != nil {
			t.Fatalf("%s: step %d: %v", name, step, err)
		}
	}
	n := h.Counters()
	eb := o.Shape.ExpertBytes
	switch {
	case n.Plans != int64(len(calls)):
		t.Errorf("%s: %d plans counted, %d applied", name, n.Plans, len(calls))
	case n.Demand.Copies != m.demand || n.Prefetch.Copies != m.prefetch:
		t.Errorf("%s: %d demand and %d prefetch copies, the model made %d and %d", name, n.Demand.Copies, n.Prefetch.Copies, m.demand, m.prefetch)
	case n.Demand.Bytes != n.Demand.Copies*eb || n.Prefetch.Bytes != n.Prefetch.Copies*eb || n.Pinned.Bytes != n.Pinned.Copies*eb:
		t.Errorf("%s: bytes do not match copies: %+v", name, n)
	case n.Pinned.Copies != int64(len(o.Pinned)):
		t.Errorf("%s: %d pinned copies for %d pinned experts", name, n.Pinned.Copies, len(o.Pinned))
	}
	if err := checkArena(o.Shape, h.Host); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

// TestHostRandomPolicies replays random policies of every kind (caches,
// prefetchers, schedulers, triggers, per-layer budgets, adapt rules) over
// random routing and checks every plan's execution on real bytes.
func TestHostRandomPolicies(t *testing.T) {
	shapes := []rt.Shape{
		{Layers: 1, Experts: 8, TopK: 2, ExpertBytes: 64},
		{Layers: 4, Experts: 16, TopK: 4, ExpertBytes: 40},
		{Layers: 3, Experts: 64, TopK: 6, ExpertBytes: 24},
	}
	n := *policySeeds
	if testing.Short() {
		n = 40
	}
	for seed := range n {
		spec, shape, pol, calls := randomPolicy(t, seed, shapes, 600)
		replayHost(t, spec.Name, pol, OptionsFor(spec, shape), calls, uint64(seed))
	}
}

// TestHostTraceReplay replays the shared real trace (Qwen1.5-MoE, 5
// layers, 21,785 dispatches) under policies of each family.
func TestHostTraceReplay(t *testing.T) {
	shape, calls := realTrace(t)
	shape.ExpertBytes = 48 // the real 17 MB would only slow the check
	if testing.Short() {
		calls = calls[:4000]
	}
	specs := []*rt.Spec{rt.NewSpec("lru40", 40)}
	lfu := rt.NewSpec("lfu_affinity", 60)
	lfu.Cache.Eviction = rt.LFU
	lfu.Cache.Pin = []int{0}
	lfu.Prefetch.Strategy, lfu.Prefetch.Budget = rt.Affinity, 4
	specs = append(specs, lfu)
	tier := rt.NewSpec("tiered_history_hybrid", 48)
	tier.Cache.Eviction, tier.Cache.Primary, tier.Cache.Secondary = rt.Fallback, rt.LFU, rt.LRU
	tier.Prefetch.Strategy, tier.Prefetch.Budget = rt.History, 2
	tier.Schedule.Mode, tier.Schedule.OffloadThresholdMS = rt.Hybrid, 0.5
	specs = append(specs, tier)
	pl := rt.NewSpec("per_layer_entropy", 12)
	pl.PerLayer = rt.DefaultPerLayer()
	pl.PerLayer.Allocation, pl.PerLayer.RebalanceInterval = rt.Entropy, 200
	pl.Prefetch.Strategy, pl.Prefetch.Budget = rt.Lookahead, 3
	specs = append(specs, pl)
	for i, spec := range specs {
		pol, err := rt.New(spec, shape)
		if err != nil {
			t.Fatalf("%s: %v", spec.Name, err)
		}
		replayHost(t, spec.Name, pol, OptionsFor(spec, shape), calls, uint64(i))
	}
}

// TestHostBrokenPlans replays a policy that breaks its plans at random
// (rttest.Random) and checks that the store reports the first broken plan
// at the step it was broken, and that a rejected plan changed nothing.
func TestHostBrokenPlans(t *testing.T) {
	shape := rt.Shape{Layers: 3, Experts: 12, TopK: 3, ExpertBytes: 16}
	kinds := map[string]int{}
	for seed := range 300 {
		lru, err := rttest.NewLRU(shape, 3*shape.TopK+seed%5, []int{seed % shape.Experts})
		if err != nil {
			t.Fatal(err)
		}
		pol := rttest.NewRandom(lru, uint64(seed), 0.02)
		o := Options{Shape: shape, Capacity: 3*shape.TopK + seed%5}
		for l := range shape.Layers {
			o.Pinned = append(o.Pinned, rt.Key{Layer: int32(l), Expert: int32(seed % shape.Experts)})
		}
		h := openHostFilled(t, o)
		if err := h.Apply(&rt.Plan{}); err != nil { // places the pinned experts
			t.Fatal(err)
		}
		var plan rt.Plan
		for step, c := range randomCalls(uint64(seed), 2000, shape) {
			pol.Dispatch(c.layer, c.experts, c.scores, &plan)
			table := slices.Clone(h.t.slotOf)
			err := h.Apply(&plan)
			faults := pol.Faults()
			broken := len(faults) > 0 && faults[len(faults)-1].Step == int64(step)
			if err == nil && !broken {
				continue
			}
			if err == nil {
				f := faults[len(faults)-1]
				if f.Kind == rttest.WrongLayer { // undetectable when the other layer's view is consistent
					continue
				}
				t.Fatalf("seed %d: step %d: plan broken (%v) but accepted", seed, step, f.Kind)
			}
			if !broken {
				t.Fatalf("seed %d: step %d: sound plan rejected: %v", seed, step, err)
			}
			if !slices.Equal(table, h.t.slotOf) {
				t.Fatalf("seed %d: step %d: rejected plan changed the table", seed, step)
			}
			if !strings.HasPrefix(err.Error(), "cudart: plan for layer ") {
				t.Fatalf("seed %d: error %q", seed, err)
			}
			kinds[faults[len(faults)-1].Kind.String()]++
			break // the policy's state has moved on without the store
		}
		h.Close()
	}
	if len(kinds) < 7 {
		t.Errorf("only %d kinds of broken plans seen: %v", len(kinds), kinds)
	}
}

// TestHostPlanErrors checks each way a plan can break the contract, with
// its message, and that the rejected plan changed nothing.
func TestHostPlanErrors(t *testing.T) {
	shape := rt.Shape{Layers: 2, Experts: 4, TopK: 2, ExpertBytes: 8}
	k := func(l, e int32) rt.Key { return rt.Key{Layer: l, Expert: e} }
	gpu, cpu := rt.GPU, rt.CPU
	// The state before each case: (0,0) pinned, (0,1) and (1,2) resident,
	// capacity 4.
	setup := &rt.Plan{Layer: 0, Hit: []bool{false}, Device: []rt.Device{gpu}, Load: []rt.Key{k(0, 1)}, Prefetch: []rt.Key{k(1, 2)}}
	type plan struct {
		layer    int
		experts  []int32
		hit      []bool
		dev      []rt.Device
		load     []rt.Key
		prefetch []rt.Key
		evict    []rt.Key
	}
	cases := []struct {
		name string
		p    plan
		err  string
	}{
		{"layer", plan{layer: 2}, `plan for layer 2: the layer is outside the shape's layers 0 to 1`},
		{"negative layer", plan{layer: -1}, `plan for layer -1: the layer is outside`},
		{"short", plan{experts: []int32{1, 2}, hit: []bool{true}, dev: []rt.Device{gpu, gpu}}, `1 hit flags and 2 devices for 2 selected experts`},
		{"top-k", plan{experts: []int32{0, 1, 3}, hit: []bool{true, true, false}, dev: []rt.Device{gpu, gpu, cpu}}, `3 selected experts, more than top-k 2`},
		{"selected outside", plan{experts: []int32{4}, hit: []bool{false}, dev: []rt.Device{cpu}}, `selected expert 4 is outside the shape's experts 0 to 3`},
		{"device", plan{experts: []int32{1}, hit: []bool{true}, dev: []rt.Device{7}}, `runs on device 7`},
		{"load outside", plan{experts: []int32{3}, hit: []bool{false}, dev: []rt.Device{gpu}, load: []rt.Key{k(0, 9)}}, `Load names expert \(0, 9\), outside the shape \(2 layers, 4 experts\)`},
		{"prefetch outside", plan{prefetch: []rt.Key{k(5, 0)}}, `Prefetch names expert \(5, 0\), outside the shape`},
		{"evict outside", plan{evict: []rt.Key{k(0, -1)}}, `Evict names expert \(0, -1\), outside the shape`},
		{"load unselected", plan{load: []rt.Key{k(0, 3)}}, `Load names expert \(0, 3\), which this layer does not run on the GPU`},
		{"load cpu", plan{experts: []int32{3}, hit: []bool{false}, dev: []rt.Device{cpu}, load: []rt.Key{k(0, 3)}}, `which this layer does not run on the GPU`},
		{"evict pinned", plan{evict: []rt.Key{k(0, 0)}}, `evicts pinned expert \(0, 0\)`},
		{"evict missing", plan{evict: []rt.Key{k(1, 1)}}, `evicts expert \(1, 1\), which is not resident`},
		{"evict twice", plan{evict: []rt.Key{k(0, 1), k(0, 1)}}, `evicts expert \(0, 1\) 2 times`},
		{"copy resident", plan{prefetch: []rt.Key{k(1, 2)}}, `copies expert \(1, 2\), which is already resident`},
		{"copy twice", plan{prefetch: []rt.Key{k(1, 3), k(1, 3)}}, `copies expert \(1, 3\) 2 times, evicting it 0 times`},
		{"hit missing", plan{experts: []int32{3}, hit: []bool{true}, dev: []rt.Device{gpu}}, `expert \(0, 3\) hits, but it is neither resident nor in Load`},
		{"miss resident", plan{experts: []int32{1}, hit: []bool{false}, dev: []rt.Device{gpu}}, `expert \(0, 1\) misses, but it is resident and not evicted`},
		{"gpu miss not loaded", plan{experts: []int32{3}, hit: []bool{false}, dev: []rt.Device{gpu}, prefetch: []rt.Key{k(0, 3)}}, `expert \(0, 3\) misses and runs on the GPU, but it is not in Load`},
		{"capacity", plan{prefetch: []rt.Key{k(1, 0), k(1, 1)}}, `leaves 5 experts resident, more than the capacity 4`},
	}
	for _, tc := range cases {
		h := openHostFilled(t, Options{Shape: shape, Capacity: 4, Pinned: []rt.Key{k(0, 0)}})
		setup.Experts = []int32{1}
		if err := h.Apply(setup); err != nil {
			t.Fatalf("setup: %v", err)
		}
		table, count := slices.Clone(h.t.slotOf), h.Counters()
		p := &rt.Plan{Layer: tc.p.layer, Experts: tc.p.experts, Hit: tc.p.hit, Device: tc.p.dev, Load: tc.p.load, Prefetch: tc.p.prefetch, Evict: tc.p.evict}
		err := h.Apply(p)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !regexp.MustCompile(tc.err).MatchString(err.Error()) {
			t.Errorf("%s: error %q, want %q", tc.name, err, tc.err)
		}
		if !slices.Equal(table, h.t.slotOf) || h.Counters() != count {
			t.Errorf("%s: the rejected plan changed the store", tc.name)
		}
		if err := checkTable(h.t); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		h.Close()
	}
}

// TestHostContractCases walks through the cases of the contract that a
// policy's plans contain, one plan each, checking residency, slot reuse
// and the counters.
func TestHostContractCases(t *testing.T) {
	shape := rt.Shape{Layers: 2, Experts: 8, TopK: 2, ExpertBytes: 16}
	k := func(l, e int32) rt.Key { return rt.Key{Layer: l, Expert: e} }
	gpu, cpu := rt.GPU, rt.CPU
	h := openHostFilled(t, Options{Shape: shape, Capacity: 3}) // 3 + 2 slots
	defer h.Close()
	apply := func(p *rt.Plan, experts ...int32) {
		t.Helper()
		p.Experts = experts
		if err := h.Apply(p); err != nil {
			t.Fatal(err)
		}
		if err := checkTable(h.t); err != nil {
			t.Fatal(err)
		}
		if err := checkSlots(h.t, h.eb, h.slotsB, h.Host); err != nil {
			t.Fatal(err)
		}
	}
	resident := func(want ...rt.Key) {
		t.Helper()
		var got []rt.Key
		for _, i := range h.t.keyOf {
			if i >= 0 {
				got = append(got, h.t.key(i))
			}
		}
		sortKeys(got)
		sortKeys(want)
		if err := sameKeys(got, want); err != nil {
			t.Fatal(err)
		}
	}
	// Two misses loaded, one prefetched.
	apply(&rt.Plan{Layer: 0, Hit: []bool{false, false}, Device: []rt.Device{gpu, gpu}, Load: []rt.Key{k(0, 1), k(0, 2)}, Prefetch: []rt.Key{k(1, 5)}}, 1, 2)
	resident(k(0, 1), k(0, 2), k(1, 5))
	// A hit that the plan also evicts stays until Used; a miss the policy
	// does not keep is loaded and freed after the layer too.
	apply(&rt.Plan{Layer: 0, Hit: []bool{true, false}, Device: []rt.Device{gpu, gpu}, Load: []rt.Key{k(0, 3)}, Evict: []rt.Key{k(0, 1), k(0, 3)}}, 1, 3)
	resident(k(0, 1), k(0, 2), k(0, 3), k(1, 5))
	if _, ok := h.Ptr(k(0, 1)); !ok {
		t.Fatal("an evicted hit must stay readable until Used")
	}
	if _, ok := h.Ptr(k(0, 3)); !ok {
		t.Fatal("a transient load must be readable until Used")
	}
	if err := h.Used(); err != nil {
		t.Fatal(err)
	}
	resident(k(0, 2), k(1, 5))
	if c := h.Counters(); c.Deferred != 2 || c.Demand.Copies != 3 || c.Prefetch.Copies != 1 {
		t.Fatalf("counters %+v", c)
	}
	// An unused eviction frees its slot before the copies: with 5 slots,
	// 2 held, the plan evicts (1, 5) and fills the capacity.
	apply(&rt.Plan{Layer: 1, Hit: []bool{false, false}, Device: []rt.Device{gpu, cpu}, Load: []rt.Key{k(1, 0)}, Prefetch: []rt.Key{k(1, 1)}, Evict: []rt.Key{k(1, 5)}}, 0, 1)
	resident(k(0, 2), k(1, 0), k(1, 1))
	// An expert evicted by an earlier access of the same dispatch and then
	// loaded again keeps its slot: nothing is copied.
	slot, _ := h.Slot(k(1, 0))
	before := h.Counters()
	apply(&rt.Plan{Layer: 1, Hit: []bool{false}, Device: []rt.Device{gpu}, Load: []rt.Key{k(1, 0)}, Evict: []rt.Key{k(1, 0)}}, 0)
	if s, ok := h.Slot(k(1, 0)); !ok || s != slot {
		t.Fatalf("expert (1, 0) moved from slot %d to %d", slot, s)
	}
	after := h.Counters()
	if after.Demand != before.Demand || after.Kept != before.Kept+1 {
		t.Fatalf("counters %+v after %+v", after, before)
	}
	// An expert selected twice is run twice from one slot.
	apply(&rt.Plan{Layer: 1, Hit: []bool{true, true}, Device: []rt.Device{gpu, gpu}}, 0, 0)
	// A prefetch evicted in the same plan is no copy at all.
	apply(&rt.Plan{Layer: 1, Hit: []bool{}, Device: []rt.Device{}, Prefetch: []rt.Key{k(0, 7)}, Evict: []rt.Key{k(0, 7)}})
	if c := h.Counters(); c.Prefetch != after.Prefetch {
		t.Fatalf("counters %+v", c)
	}
	resident(k(0, 2), k(1, 0), k(1, 1))
	// The next Apply frees what Used did not.
	apply(&rt.Plan{Layer: 0, Hit: []bool{true}, Device: []rt.Device{gpu}, Evict: []rt.Key{k(0, 2)}}, 2)
	resident(k(0, 2), k(1, 0), k(1, 1))
	apply(&rt.Plan{Layer: 1, Hit: []bool{}, Device: []rt.Device{}})
	resident(k(1, 0), k(1, 1))
}

// TestHostApplyAllocs checks that Dispatch and Apply together allocate
// nothing once warm.
func TestHostApplyAllocs(t *testing.T) {
	shape := rt.Shape{Layers: 4, Experts: 32, TopK: 4, ExpertBytes: 256}
	spec := rt.NewSpec("lru_history", 32)
	spec.Cache.Pin = []int{3}
	spec.Prefetch.Strategy, spec.Prefetch.Budget = rt.History, 2
	pol, err := rt.New(spec, shape)
	if err != nil {
		t.Fatal(err)
	}
	h := openHostFilled(t, OptionsFor(spec, shape))
	defer h.Close()
	calls := randomCalls(1, 4096, shape)
	var plan rt.Plan
	i := 0
	step := func() {
		c := &calls[i%len(calls)]
		i++
		pol.Dispatch(c.layer, c.experts, c.scores, &plan)
		if err := h.Apply(&plan); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			h.Used()
		}
	}
	for range 2000 {
		step()
	}
	if allocs := testing.AllocsPerRun(4000, step); allocs != 0 {
		t.Errorf("%v allocations per Dispatch and Apply", allocs)
	}
}

// TestHostOpenClose opens and closes a store 100 times, and checks that a
// closed store refuses work.
func TestHostOpenClose(t *testing.T) {
	shape := rt.Shape{Layers: 4, Experts: 16, TopK: 2, ExpertBytes: 1 << 12}
	spec := rt.NewSpec("lru", 16)
	spec.Cache.Pin = []int{2}
	o := OptionsFor(spec, shape)
	calls := randomCalls(2, 64, shape)
	for range 100 {
		pol, err := rt.New(spec, shape)
		if err != nil {
			t.Fatal(err)
		}
		h := openHostFilled(t, o)
		var plan rt.Plan
		for _, c := range calls {
			pol.Dispatch(c.layer, c.experts, c.scores, &plan)
			if err := h.Apply(&plan); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if err := h.Apply(&plan); !errors.Is(err, ErrClosed) {
			t.Fatalf("Apply after Close: %v", err)
		}
		if err := h.Used(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Used after Close: %v", err)
		}
		if _, ok := h.Ptr(rt.Key{Layer: 1, Expert: 2}); ok {
			t.Fatal("Ptr after Close")
		}
		if h.Host(rt.Key{}) != nil {
			t.Fatal("Host after Close")
		}
	}
}

// TestOptions checks the options' errors and OptionsFor.
func TestOptions(t *testing.T) {
	shape := rt.Shape{Layers: 2, Experts: 4, TopK: 2, ExpertBytes: 8}
	k := func(l, e int32) rt.Key { return rt.Key{Layer: l, Expert: e} }
	cases := []struct {
		o   Options
		err string
	}{
		{Options{Shape: rt.Shape{Layers: 0, Experts: 4, TopK: 1, ExpertBytes: 8}, Capacity: 1}, `cudart: shape has 0 layers`},
		{Options{Shape: rt.Shape{Layers: 2, Experts: 4, TopK: 2}, Capacity: 1}, `cudart: shape has 0 bytes per expert, need the real size`},
		{Options{Shape: rt.Shape{Layers: 2, Experts: 4, TopK: 2, ExpertBytes: 1 << 62}, Capacity: 1}, `overflow a 64-bit size`},
		{Options{Shape: shape}, `cudart: capacity 0, need at least 1`},
		{Options{Shape: shape, Capacity: 1, Pinned: []rt.Key{k(0, 0), k(1, 0)}}, `2 pinned experts do not fit the capacity 1`},
		{Options{Shape: shape, Capacity: 2, Pinned: []rt.Key{k(2, 0)}}, `pinned expert \(2, 0\) is outside the shape \(2 layers, 4 experts\)`},
		{Options{Shape: shape, Capacity: 2, Pinned: []rt.Key{k(1, 3), k(1, 3)}}, `expert \(1, 3\) is pinned twice`},
		{Options{Shape: shape, Capacity: 2, Device: -1}, `device -1`},
	}
	for _, tc := range cases {
		_, err := OpenHost(tc.o)
		if err == nil || !regexp.MustCompile(tc.err).MatchString(err.Error()) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.err)
		}
	}
	spec := rt.NewSpec("pins", 6)
	spec.Cache.Pin = []int{1, 3, 1}
	spec.Adapt.Rules = []rt.Rule{{Actions: []rt.Action{{Target: rt.SetCapacity, Int: 7}}}}
	o := OptionsFor(spec, shape)
	want := []rt.Key{k(0, 1), k(0, 3), k(1, 1), k(1, 3)}
	if o.Capacity != 7 || !slices.Equal(o.Pinned, want) || o.Slots() != 9 {
		t.Errorf("OptionsFor: %+v, %d slots", o, o.Slots())
	}
	if o := (Options{Shape: shape, Capacity: 100}); o.Slots() != 8+2 {
		t.Errorf("%d slots for capacity 100 of 8 experts", o.Slots())
	}
}
