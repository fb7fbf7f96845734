package rt

import (
	"reflect"
	"strings"
	"testing"
)

// warmSwap is docs/CODEGEN.md's example: LRU 8, history budget 2; rule 0
// makes it LFU of 4 slots, rule 1 raises the budget to 6, which 4 slots
// cannot take.
func warmSwap() *Spec {
	s := NewSpec("warm_swap", 8)
	s.Prefetch.Strategy, s.Prefetch.Budget = History, 2
	s.Adapt.Rules = []Rule{
		{Cond: Cond{Metric: HitRate, Op: LT, Threshold: 0.4}, Window: 20, Actions: []Action{
			{Target: SetEviction, Eviction: LFU}, {Target: SetCapacity, Int: 4}}},
		{Cond: Cond{Metric: MissRate, Op: GT, Threshold: 0.5}, Window: 10, Actions: []Action{{Target: SetBudget, Int: 6}}},
	}
	return s
}

func TestExplore(t *testing.T) {
	states, next, err := Explore(warmSwap(), 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 3 {
		t.Fatalf("%d configurations, want 3", len(states))
	}
	if c := states[1].Cache; c.Eviction != LFU || c.Capacity != 4 || states[1].Prefetch.Budget != 2 {
		t.Errorf("state 1 is %+v, want LFU of 4 slots, budget 2", c)
	}
	if states[2].Cache.Eviction != LRU || states[2].Prefetch.Budget != 6 {
		t.Errorf("state 2 is %+v, budget %d; want LRU, budget 6", states[2].Cache, states[2].Prefetch.Budget)
	}
	for i, s := range states {
		if len(s.Adapt.Rules) != 2 {
			t.Errorf("state %d has %d rules, want the policy's 2", i, len(s.Adapt.Rules))
		}
	}
	skip := "prefetch budget 6 exceeds cache capacity 4 (rule 10)"
	want := [][]Transition{
		{{Swap: true, To: 1}, {Swap: true, To: 2}},
		{{Swap: true, To: 1}, {Swap: true, Skip: skip}},
		{{Swap: true, Skip: skip}, {Swap: true, To: 2}},
	}
	if !reflect.DeepEqual(next, want) {
		t.Errorf("transitions\n%+v\nwant\n%+v", next, want)
	}

	// Generated code finds the same transitions from the same states.
	got, err := Transitions(states)
	if err != nil || !reflect.DeepEqual(got, next) {
		t.Errorf("Transitions = %+v, %v; want Explore's", got, err)
	}
	// A configuration missing from the states given is an error.
	if _, err := Transitions(states[:2]); err == nil || !strings.Contains(err.Error(), "not among the 2 given") {
		t.Errorf("Transitions of 2 of 3 states: %v", err)
	}
	if _, _, err := Explore(warmSwap(), 2); err == nil || !strings.Contains(err.Error(), "reach more than 2 configurations") {
		t.Errorf("Explore with room for 2: %v", err)
	}
}

// A rebalance changes no configuration: it is a transition that stays.
func TestExploreRebalance(t *testing.T) {
	s := NewSpec("p", 8)
	s.PerLayer = DefaultPerLayer()
	s.Adapt.Rules = []Rule{{Cond: Cond{Metric: HitRate, Op: LT, Threshold: 0.4}, Window: 1, Actions: []Action{{Target: Rebalance, Signal: KL}}}}
	states, next, err := Explore(s, 64)
	if err != nil || len(states) != 1 || !reflect.DeepEqual(next, [][]Transition{{{Rebalance: true, Signal: KL}}}) {
		t.Errorf("Explore = %d states, %+v, %v; want 1, a rebalance by kl", len(states), next, err)
	}
}
