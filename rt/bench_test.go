package rt_test

import (
	"fmt"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
)

// benchSpecs are the policy kinds the benchmarks cover; capacity is per
// layer and scaled by the number of layers.
var benchSpecs = []struct {
	name string
	spec func(layers int) *rt.Spec
}{
	{"lru", func(layers int) *rt.Spec { return rt.NewSpec("lru", 16*layers) }},
	{"lfu_history", func(layers int) *rt.Spec {
		s := rt.NewSpec("lfu_history", 16*layers)
		s.Cache.Eviction, s.Cache.Decay = rt.LFU, 0.9
		s.Prefetch.Strategy, s.Prefetch.HistoryWindow = rt.History, 60
		s.Schedule.Mode = rt.CPUFallback
		return s
	}},
	{"score_affinity", func(layers int) *rt.Spec {
		s := rt.NewSpec("score_affinity", 16*layers)
		s.Cache.Eviction, s.Cache.Pin = rt.Score, []int{0, 1}
		s.Prefetch.Strategy = rt.Affinity
		s.Schedule.Mode, s.Schedule.OffloadThresholdMS = rt.Hybrid, 40
		return s
	}},
	{"composed_showcase", func(layers int) *rt.Spec {
		s := rt.NewSpec("composed_showcase", 24*layers)
		s.Cache.Eviction, s.Cache.Decay, s.Cache.Pin = rt.LFU, 0.9, []int{0}
		s.Cache.MemoryPressure, s.Cache.MemoryThreshold, s.Cache.MemoryHeadroom = true, 0.75, 0.4
		s.Cache.MemoryBudgetGB, s.Cache.ExpertSizeGB = 16*float64(layers), 1.2
		s.Cache.TTLSet, s.Cache.TTL = true, 200
		s.Prefetch.Strategy, s.Prefetch.Lookahead, s.Prefetch.Budget, s.Prefetch.HistoryWindow = rt.Lookahead, 2, 4, 40
		s.Schedule.Mode, s.Schedule.OffloadThresholdMS = rt.Hybrid, 40
		return s
	}},
	{"freq_threshold", func(layers int) *rt.Spec {
		s := rt.NewSpec("freq_threshold", 16*layers)
		s.Cache.Eviction = rt.FrequencyThreshold
		s.Prefetch.Strategy, s.Prefetch.HistoryWindow = rt.History, 60
		return s
	}},
	{"fallback", func(layers int) *rt.Spec {
		s := rt.NewSpec("fallback", 24*layers)
		s.Cache.Eviction, s.Cache.Primary, s.Cache.Secondary = rt.Fallback, rt.LFU, rt.LRU
		s.Prefetch.Strategy = rt.History
		return s
	}},
	{"per_layer_entropy", func(layers int) *rt.Spec {
		s := rt.NewSpec("per_layer_entropy", 16)
		pl := rt.DefaultPerLayer()
		pl.Allocation, pl.MinCapacity, pl.MaxCapacity = rt.Entropy, 4, 48
		s.PerLayer = pl
		s.Cache.Eviction = rt.LFU
		return s
	}},
}

var benchShapes = []rt.Shape{
	{Layers: 32, Experts: 8, TopK: 2},
	{Layers: 24, Experts: 60, TopK: 4},
	{Layers: 26, Experts: 64, TopK: 6},
}

// BenchmarkDispatch measures one Dispatch call (one layer of one token)
// for each policy kind and model shape.
func BenchmarkDispatch(b *testing.B) {
	for _, shape := range benchShapes {
		calls := rttest.Routing(1, 1<<14, shape)
		for _, bs := range benchSpecs {
			b.Run(fmt.Sprintf("%s/%dx%d", bs.name, shape.Experts, shape.TopK), func(b *testing.B) {
				p, err := rt.New(bs.spec(shape.Layers), shape)
				if err != nil {
					b.Fatal(err)
				}
				var plan rt.Plan
				for _, c := range calls { // warm up: caches full, plan slices grown
					p.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					c := &calls[i&(len(calls)-1)]
					p.Dispatch(c.Layer, c.Experts, c.Scores, &plan)
					i++
				}
			})
		}
	}
}
