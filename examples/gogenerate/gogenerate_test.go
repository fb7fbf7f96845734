package gogenerate

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
)

// policies are the generated constructors, with the Spec each compiles,
// for the interpreter to run beside it.
var policies = []struct {
	name string
	spec *rt.Spec
	gen  func(rt.Shape) (rt.Policy, error)
}{
	{"lru_basic", lruBasicStates[0], func(s rt.Shape) (rt.Policy, error) { return NewLruBasic(s) }},
	{"lfu_history", lfuHistoryStates[0], func(s rt.Shape) (rt.Policy, error) { return NewLfuHistory(s) }},
	{"score_affinity", scoreAffinityStates[0], func(s rt.Shape) (rt.Policy, error) { return NewScoreAffinity(s) }},
	{"composed_showcase", composedShowcaseStates[0], func(s rt.Shape) (rt.Policy, error) { return NewComposedShowcase(s) }},
	{"freq_threshold", freqThresholdStates[0], func(s rt.Shape) (rt.Policy, error) { return NewFreqThreshold(s) }},
	{"layered", layeredStates[0], func(s rt.Shape) (rt.Policy, error) { return NewLayered(s) }},
	{"per_layer_entropy", perLayerEntropyStates[0], func(s rt.Shape) (rt.Policy, error) { return NewPerLayerEntropy(s) }},
}

// shapes are the benchmark's models: 4 MoE layers of 8 experts top-2
// (Mixtral's width), 60 top-4 (Qwen1.5-MoE's) and 64 top-6 (DeepSeek-V2's).
var shapes = []rt.Shape{
	{Layers: 4, Experts: 8, TopK: 2, ExpertBytes: 352321536},
	{Layers: 4, Experts: 60, TopK: 4, ExpertBytes: 17301504},
	{Layers: 4, Experts: 64, TopK: 6, ExpertBytes: 17301504},
}

// TestGeneratedPolicies drives every generated policy beside the
// interpreter and checks that both decide the same.
func TestGeneratedPolicies(t *testing.T) {
	for _, p := range policies {
		for _, shape := range shapes {
			gen, err := p.gen(shape)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			in, err := rt.New(p.spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			var pg, pi rt.Plan
			for i, c := range rttest.Routing(3, 3000, shape) {
				gen.Dispatch(c.Layer, c.Experts, c.Scores, &pg)
				in.Dispatch(c.Layer, c.Experts, c.Scores, &pi)
				if !reflect.DeepEqual(pg, pi) {
					t.Fatalf("%s at %d experts, dispatch %d: generated %+v, interpreted %+v", p.name, shape.Experts, i, pg, pi)
				}
			}
			if sg, si := gen.Stats(), in.Stats(); !reflect.DeepEqual(sg, si) {
				t.Fatalf("%s: stats differ:\n%+v\n%+v", p.name, sg, si)
			}
			if s := gen.Stats(); s.Steps != 3000 || s.Cache.Hits+s.Cache.Misses != int64(3000*shape.TopK) {
				t.Errorf("%s at %d experts: %d accesses in %d steps", p.name, shape.Experts, s.Cache.Hits+s.Cache.Misses, s.Steps)
			}
		}
	}
}

// TestDispatchContract: a call that breaks the contract of rt.Policy
// panics in generated code with the interpreter's message, before it
// changes anything (issue 12: with 4 layers of 16 experts, Dispatch(0,
// [16]) then Dispatch(1, [0]) reported a hit for an expert never loaded,
// or panicked in a slice index).
func TestDispatchContract(t *testing.T) {
	shape := rt.Shape{Layers: 4, Experts: 16, TopK: 4, ExpertBytes: 17301504}
	misuses := []struct {
		layer   int
		experts []int32
		scores  []float32
		want    string
	}{
		{0, []int32{16}, nil, "rt: Dispatch at layer 0: expert 16 is out of range [0, 16)"},
		{0, []int32{3, -2}, nil, "rt: Dispatch at layer 0: expert -2 is out of range [0, 16)"},
		{4, []int32{0}, nil, "rt: Dispatch: layer 4 is out of range [0, 4)"},
		{2, []int32{0, 1, 2, 3, 4}, nil, "rt: Dispatch at layer 2: 5 experts selected, more than top-k 4"},
		{2, []int32{0, 1}, []float32{1}, "rt: Dispatch at layer 2: 1 scores for 2 experts (nil for none)"},
	}
	for _, p := range policies {
		gen, err := p.gen(shape)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		var plan rt.Plan
		for _, m := range misuses {
			if got := dispatchPanic(gen, m.layer, m.experts, m.scores, &plan); got != m.want {
				t.Errorf("%s: Dispatch(%d, %v, %v) panicked with %v, want %q", p.name, m.layer, m.experts, m.scores, got, m.want)
			}
		}
		gen.Dispatch(1, []int32{0}, nil, &plan)
		pinned := slices.Contains(p.spec.Cache.Pin, 0)
		if plan.Hit[0] != pinned || gen.Stats().Steps != 1 {
			t.Errorf("%s: after the misuses, Dispatch(1, [0]) hit %v in step %d, want %v in step 1", p.name, plan.Hit[0], gen.Stats().Steps, pinned)
		}
	}
}

// dispatchPanic calls p.Dispatch and returns what it panicked with.
func dispatchPanic(p rt.Policy, layer int, experts []int32, scores []float32, plan *rt.Plan) (v any) {
	defer func() { v = recover() }()
	p.Dispatch(layer, experts, scores, plan)
	return nil
}

// BenchmarkDispatch measures one Dispatch (one layer of one token) of each
// policy, generated and interpreted, side by side.
func BenchmarkDispatch(b *testing.B) {
	for _, shape := range shapes {
		calls := rttest.Routing(1, 1<<14, shape)
		for _, p := range policies {
			for _, kind := range []string{"generated", "interpreted"} {
				b.Run(fmt.Sprintf("%s/%dx%d/%s", p.name, shape.Experts, shape.TopK, kind), func(b *testing.B) {
					var pol rt.Policy
					var err error
					if kind == "generated" {
						pol, err = p.gen(shape)
					} else {
						pol, err = rt.New(p.spec, shape)
					}
					if err != nil {
						b.Fatal(err)
					}
					var plan rt.Plan
					for _, c := range calls {
						pol.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
					}
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						c := &calls[i&(len(calls)-1)]
						pol.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
						i++
					}
				})
			}
		}
	}
}
