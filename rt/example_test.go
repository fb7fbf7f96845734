package rt_test

import (
	"fmt"

	"github.com/moepolicy/moec/rt"
)

// A policy from Go: an LRU cache of 4 (layer, expert) slots over a model of
// 2 layers with 8 experts each, top-2 routing.
func ExampleNew() {
	spec := rt.NewSpec("tiny", 4)
	spec.Prefetch.Budget = 2 // the default 4 would exceed the capacity
	p, err := rt.New(spec, rt.Shape{Layers: 2, Experts: 8, TopK: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	var plan rt.Plan
	p.Dispatch(0, []int32{3, 5}, nil, &plan)
	fmt.Println(plan.Hit, plan.Device, plan.Load)
	p.Dispatch(1, []int32{3, 1}, nil, &plan)
	fmt.Println(plan.Hit, plan.Load)
	p.Dispatch(0, []int32{5, 2}, nil, &plan)
	fmt.Println(plan.Hit, plan.Load, plan.Evict)
	s := p.Stats()
	fmt.Printf("hits %d, misses %d, evictions %d\n", s.Cache.Hits, s.Cache.Misses, s.Cache.Evictions)
	// Output:
	// [false false] [gpu gpu] [(0, 3) (0, 5)]
	// [false false] [(1, 3) (1, 1)]
	// [true false] [(0, 2)] [(0, 3)]
	// hits 1, misses 5, evictions 1
}

// Misses run on the CPU when the transfer would take longer than the
// CPU: here a 2 GB expert over a 25 GB/s link takes 80 ms, more than the
// 40 ms the policy allows.
func ExampleNew_hybrid() {
	spec := rt.NewSpec("hybrid", 4)
	spec.Prefetch.Budget = 1
	spec.Schedule.Mode = rt.Hybrid
	spec.Schedule.OffloadThresholdMS = 40
	p, _ := rt.New(spec, rt.Shape{Layers: 1, Experts: 4, TopK: 1, ExpertBytes: 2e9})
	var plan rt.Plan
	p.Dispatch(0, []int32{2}, nil, &plan)
	fmt.Println(plan.Device, plan.Load, plan.Prefetch)
	p.Dispatch(0, []int32{2}, nil, &plan)
	fmt.Println(plan.Hit, plan.Device)
	// Output:
	// [cpu] [] [(0, 2)]
	// [true] [gpu]
}
