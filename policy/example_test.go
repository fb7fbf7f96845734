package policy_test

import (
	"errors"
	"fmt"

	"github.com/moepolicy/moec/policy"
	"github.com/moepolicy/moec/rt"
)

// The policy
//
//	policy balanced {
//	    cache { capacity = 16  eviction = lfu  frequency_decay = 0.9 }
//	    prefetch { strategy = history  budget = 4 }
//	    schedule { mode = hybrid }
//	    adapt { when hit_rate < 0.4 for 100 accesses { eviction = lru } }
//	}
//
// built in Go.
func ExampleNew() {
	spec, err := policy.New("balanced",
		policy.Cache(16, policy.Eviction(rt.LFU), policy.Decay(0.9)),
		policy.Prefetch(rt.History, policy.Budget(4)),
		policy.Schedule(rt.Hybrid),
		policy.Adapt(policy.When(rt.HitRate, rt.LT, 0.4).For(100).Then(policy.SetEviction(rt.LRU))),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := spec.Cache
	fmt.Println(spec.Name, c.Capacity, c.Eviction, c.Decay, c.ScoreAlpha)
	fmt.Println(spec.Prefetch.Strategy, spec.Prefetch.Budget, spec.Schedule.Mode, spec.Schedule.OffloadThresholdMS)
	for _, r := range spec.Adapt.Rules {
		fmt.Printf("when %v for %d accesses { %v }\n", r.Cond, r.Window, r.Actions[0])
	}
	// Output:
	// balanced 16 lfu 0.9 0.3
	// history 4 hybrid 50
	// when hit_rate < 0.4 for 100 accesses { eviction = lru }
}

// Conditional values, "capacity = 8 : 16 when hit_rate < 0.5", become
// implicit rules that come before the adapt block's, in the order written.
func ExampleCondition_Capacity() {
	spec, err := policy.New("growing",
		policy.Cache(8,
			policy.Eviction(rt.LFU),
			policy.When(rt.HitRate, rt.LT, 0.5).Capacity(16),
		),
		policy.Prefetch(rt.History, policy.Budget(2), policy.When(rt.HitRate, rt.GT, 0.8).Budget(4)),
		policy.Adapt(
			policy.Cooldown(200),
			policy.When(rt.EvictionRate, rt.GT, 0.5).For(50).Then(policy.SetEviction(rt.LRU), policy.SetDecay(0.8)),
		),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("capacity", spec.Cache.Capacity, "budget", spec.Prefetch.Budget)
	for _, r := range spec.Adapt.Rules {
		fmt.Println(r.Implicit, r.Cond, r.Window, r.Actions)
	}
	// Output:
	// capacity 8 budget 2
	// true hit_rate < 0.5 1 [capacity = 16]
	// true hit_rate > 0.8 1 [budget = 4]
	// false eviction_rate > 0.5 50 [eviction = lru frequency_decay = 0.8]
}

// Two-tier eviction, "eviction = lfu | lru", and a per-layer budget that
// an adapt rule rebalances.
func ExampleTiers() {
	spec, err := policy.New("layered",
		policy.Cache(24, policy.Tiers(rt.LFU, rt.LRU), policy.Pin(0)),
		policy.PerLayer(policy.Allocation(rt.Entropy), policy.MinCapacity(4), policy.MaxCapacity(48)),
		policy.Adapt(policy.When(rt.HitRate, rt.LT, 0.5).For(500).Then(policy.Rebalance(rt.Gini))),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := spec.Cache
	fmt.Println(c.Eviction, c.Primary, c.Secondary, c.Pin)
	fmt.Println(spec.PerLayer.Allocation, spec.PerLayer.MinCapacity, spec.PerLayer.MaxCapacity, spec.PerLayer.RebalanceInterval)
	fmt.Println(spec.Adapt.Rules[0].Actions[0])
	// Output:
	// fallback lfu lru [0]
	// entropy 4 48 500
	// rebalance gini
}

// An invalid policy gives an *Error listing every violation with its
// rule's code, the ones rt.Spec.Check reports for .moe files too.
func ExampleError() {
	_, err := policy.New("tiny",
		policy.Cache(2, policy.Eviction(rt.Score)),
		policy.Adapt(policy.When(rt.HitRate, rt.LT, 0.5).Then(policy.SetCapacity(0))),
	)
	fmt.Println(err)
	var perr *policy.Error
	if errors.As(err, &perr) {
		for _, v := range perr.Violations {
			fmt.Println(v.Rule, v.Fields)
		}
	}
	// Output:
	// policy "tiny": prefetch budget 4 exceeds cache capacity 2 (rule 10)
	// policy "tiny": cache eviction score requires a prefetch strategy other than none (rule 15)
	// policy "tiny": adapt action "capacity = 0" would make an invalid policy: cache capacity 0 is out of range [1, 65536] (rule 1)
	// R10 [prefetch.budget cache.capacity]
	// R15 [cache.eviction prefetch.strategy]
	// R1 [cache.capacity]
}

// A policy built in Go runs like one read from a .moe file: an LRU cache
// of 4 (layer, expert) slots over a model of 2 layers with 8 experts each,
// top-2 routing.
func Example_run() {
	spec, err := policy.New("tiny",
		policy.Cache(4, policy.Eviction(rt.LRU)),
		policy.Prefetch(rt.PrefetchNone, policy.Budget(2)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := rt.New(spec, rt.Shape{Layers: 2, Experts: 8, TopK: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	var plan rt.Plan
	p.Dispatch(0, []int32{3, 5}, nil, &plan)
	fmt.Println(plan.Hit, plan.Load)
	p.Dispatch(1, []int32{3, 1}, nil, &plan)
	fmt.Println(plan.Hit, plan.Load)
	p.Dispatch(0, []int32{5, 2}, nil, &plan)
	fmt.Println(plan.Hit, plan.Load, plan.Evict)
	// Output:
	// [false false] [(0, 3) (0, 5)]
	// [false false] [(1, 3) (1, 1)]
	// [true false] [(0, 2)] [(0, 3)]
}
