package rt_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
)

func TestAdaptWindowAndCooldown(t *testing.T) {
	spec := rt.NewSpec("adaptive", 2)
	spec.Prefetch.Budget = 1
	spec.Adapt.Cooldown = 5
	spec.Adapt.Rules = []rt.Rule{{
		Cond:    rt.Cond{Metric: rt.HitRate, Op: rt.LT, Threshold: 0.5},
		Window:  3,
		Actions: []rt.Action{{Target: rt.SetDecay, Float: 0.5}}, // changes nothing but the Spec
	}}
	p, err := rt.New(spec, rt.Shape{Layers: 1, Experts: 64, TopK: 1})
	if err != nil {
		t.Fatal(err)
	}
	var plan rt.Plan
	for i := range 12 { // every access a miss: hit rate 0 after every dispatch
		p.Dispatch(0, []int32{int32(i)}, nil, &plan)
	}
	// Fires when the condition held 3 dispatches in a row (step 3), then
	// sleeps 5 dispatches (steps 4-7), counts again from step 8 and fires
	// at step 10.
	want := []rt.AdaptEntry{{Step: 3, Rule: 0, Actions: "frequency_decay = 0.5"}, {Step: 10, Rule: 0, Actions: "frequency_decay = 0.5"}}
	if diff := cmp.Diff(want, p.Stats().Adapt.Log); diff != "" {
		t.Errorf("adapt log (-want +got):\n%s", diff)
	}
}

func TestAdaptWarmSwap(t *testing.T) {
	spec := rt.NewSpec("warm", 4)
	spec.Prefetch.Budget = 1
	spec.Adapt.Rules = []rt.Rule{{
		Cond:   rt.Cond{Metric: rt.MissRate, Op: rt.GE, Threshold: 1},
		Window: 4,
		Actions: []rt.Action{
			{Target: rt.SetEviction, Eviction: rt.LFU},
			{Target: rt.SetCapacity, Int: 2},
		},
	}}
	p, err := rt.New(spec, rt.Shape{Layers: 1, Experts: 8, TopK: 1})
	if err != nil {
		t.Fatal(err)
	}
	var plan rt.Plan
	for _, e := range []int32{0, 1, 2} {
		p.Dispatch(0, []int32{e}, nil, &plan)
	}
	// The 4th miss fills the cache and fires the rule: LRU becomes LFU with
	// 2 slots; the residents stay, the two oldest (0, 1) go.
	p.Dispatch(0, []int32{3}, nil, &plan)
	if diff := cmp.Diff([]rt.Key{{Layer: 0, Expert: 0}, {Layer: 0, Expert: 1}}, plan.Evict); diff != "" {
		t.Errorf("evictions of the swap (-want +got):\n%s", diff)
	}
	p.Dispatch(0, []int32{2}, nil, &plan)
	p.Dispatch(0, []int32{3}, nil, &plan)
	s := p.Stats()
	if s.Adapt.Adaptations != 1 || s.Cache.Hits != 2 || s.Cache.Misses != 4 {
		t.Errorf("after the swap: %d adaptations, %d hits, %d misses; want 1, 2 (warm), 4", s.Adapt.Adaptations, s.Cache.Hits, s.Cache.Misses)
	}
}

func TestAdaptSkipsInvalid(t *testing.T) {
	spec := rt.NewSpec("skips", 8)
	spec.Cache.Eviction = rt.Score
	spec.Prefetch.Strategy = rt.History
	spec.Adapt.Rules = []rt.Rule{
		{Cond: rt.Cond{Metric: rt.HitRate, Op: rt.LE, Threshold: 1}, Window: 1,
			Actions: []rt.Action{{Target: rt.SetStrategy, Strategy: rt.PrefetchNone}}},
	}
	p, err := rt.New(spec, rt.Shape{Layers: 1, Experts: 8, TopK: 1})
	if err != nil {
		t.Fatal(err)
	}
	var plan rt.Plan
	p.Dispatch(0, []int32{1}, []float32{0.5}, &plan)
	s := p.Stats()
	if s.Adapt.Adaptations != 0 || s.Adapt.Skipped != 1 || len(s.Adapt.SkippedLog) != 1 {
		t.Fatalf("adapt stats %+v, want one skipped swap", s.Adapt)
	}
	if got := s.Adapt.SkippedLog[0].Reason; got == "" {
		t.Error("skipped swap has no reason")
	}
}

func TestNewRejects(t *testing.T) {
	shape := rt.Shape{Layers: 4, Experts: 8, TopK: 2}
	tests := []struct {
		name  string
		spec  func() *rt.Spec
		shape rt.Shape
		want  string
	}{
		{"zero shape", func() *rt.Spec { return rt.NewSpec("p", 8) }, rt.Shape{}, "shape has 0 layers, need at least 1"},
		{"pin out of range", func() *rt.Spec { s := rt.NewSpec("p", 8); s.Cache.Pin = []int{9}; return s }, shape,
			`policy "p" pins expert 9, but the model has experts 0 to 7`},
		{"pins do not fit", func() *rt.Spec { s := rt.NewSpec("p", 6); s.Cache.Pin = []int{0, 1}; return s }, shape,
			`policy "p" pins 2 experts in each of 4 layers, 8 slots, more than its capacity 6`},
		{"invalid spec", func() *rt.Spec { return rt.NewSpec("p", 0) }, shape, `policy "p" is invalid: `},
	}
	for _, tt := range tests {
		_, err := rt.New(tt.spec(), tt.shape)
		if err == nil || len(err.Error()) < len(tt.want) || err.Error()[:len(tt.want)] != tt.want {
			t.Errorf("%s: error %v, want it to start with %q", tt.name, err, tt.want)
		}
	}
}
