package rttest

import (
	"fmt"
	"math/rand/v2"

	"github.com/moepolicy/moec/rt"
)

// RandomSpec returns a valid policy for shape drawn from every eviction
// kind (two-tier compositions included), prefetch strategy, schedule mode,
// trigger, monitor, per-layer signal and adapt action, for property and
// differential tests. The same r gives the same policy.
func RandomSpec(r *rand.Rand, shape rt.Shape) *rt.Spec {
	perLayer := r.IntN(4) == 0
	capacity := shape.Layers * (1 + r.IntN(2*shape.TopK+4))
	s := rt.NewSpec(fmt.Sprintf("random%d", r.IntN(1000)), capacity)
	kinds := []rt.Eviction{rt.LRU, rt.LFU, rt.Score, rt.FrequencyThreshold, rt.Fallback}
	s.Cache.Eviction = kinds[r.IntN(len(kinds))]
	if s.Cache.Eviction == rt.Fallback {
		s.Cache.Primary = kinds[r.IntN(4)]
		s.Cache.Secondary = kinds[r.IntN(4)]
	}
	s.Cache.Decay = []float64{0.5, 0.9, 0.95}[r.IntN(3)]
	s.Cache.FreqThreshold = []float64{0, 0.05, 0.2}[r.IntN(3)]
	s.Cache.FreqWindow = 1 + r.IntN(50)
	s.Cache.ScoreAlpha = []float64{0.1, 0.3, 1}[r.IntN(3)]
	if r.IntN(3) == 0 && !perLayer {
		s.Cache.Pin = []int{r.IntN(shape.Experts)}
	}
	if r.IntN(3) == 0 {
		s.Cache.MemoryPressure = true
		s.Cache.MemoryThreshold = 0.5 + r.Float64()/2
		s.Cache.MemoryHeadroom = s.Cache.MemoryThreshold * r.Float64()
		s.Cache.MemoryBudgetGB = float64(capacity) * 1.2 * (0.5 + r.Float64())
	}
	if r.IntN(3) == 0 {
		s.Cache.TTLSet, s.Cache.TTL = true, 1+r.IntN(100)
	}
	s.Prefetch.Strategy = []rt.PrefetchStrategy{rt.PrefetchNone, rt.Affinity, rt.History, rt.Lookahead}[r.IntN(4)]
	if s.Cache.Eviction == rt.Score && s.Prefetch.Strategy == rt.PrefetchNone {
		s.Prefetch.Strategy = rt.History
	}
	s.Prefetch.Budget = 1 + r.IntN(min(capacity, 8))
	s.Prefetch.Lookahead = 1 + r.IntN(3)
	s.Prefetch.HistoryWindow = 1 + r.IntN(60)
	s.Prefetch.AffinityThreshold = r.Float64() / 2
	s.Schedule.Mode = []rt.ScheduleMode{rt.GPUOnly, rt.CPUFallback, rt.Hybrid}[r.IntN(3)]
	s.Schedule.OffloadThresholdMS = []float64{0.1, 1, 50}[r.IntN(3)]
	if r.IntN(2) == 0 {
		s.Monitor = rt.DefaultMonitor()
		s.Monitor.Window, s.Monitor.LogInterval = 1+r.IntN(50), 1+r.IntN(50)
	}
	if perLayer {
		pl := rt.DefaultPerLayer()
		pl.Allocation = rt.Allocation(r.IntN(6))
		pl.EntropyWindow = 1 + r.IntN(100)
		pl.MinCapacity = 1 + r.IntN(3)
		pl.MaxCapacity = pl.MinCapacity + r.IntN(20)
		pl.RebalanceInterval = r.IntN(100)
		s.PerLayer = pl
	}
	s.Adapt.Cooldown = r.IntN(60)
	for n := r.IntN(3); n > 0; n-- {
		rule := rt.Rule{
			Cond:   rt.Cond{Metric: rt.Metric(r.IntN(6)), Op: rt.Op(r.IntN(5)), Threshold: r.Float64()},
			Window: 1 + r.IntN(20),
		}
		for m := 1 + r.IntN(2); m > 0; m-- {
			var a rt.Action
			switch r.IntN(7) {
			case 0:
				a = rt.Action{Target: rt.SetEviction, Eviction: kinds[r.IntN(4)]}
			case 1:
				a = rt.Action{Target: rt.SetCapacity, Int: shape.Layers * (1 + r.IntN(2*shape.TopK+4))}
			case 2:
				a = rt.Action{Target: rt.SetDecay, Float: 0.5}
			case 3:
				a = rt.Action{Target: rt.SetStrategy, Strategy: rt.PrefetchStrategy(r.IntN(4))}
			case 4:
				a = rt.Action{Target: rt.SetBudget, Int: 1 + r.IntN(4)}
			case 5:
				a = rt.Action{Target: rt.SetMode, Mode: rt.ScheduleMode(r.IntN(3))}
			default:
				if perLayer {
					a = rt.Action{Target: rt.Rebalance, Signal: rt.Allocation(r.IntN(6))}
				} else {
					a = rt.Action{Target: rt.TriggerMemoryPressure}
				}
			}
			rule.Actions = append(rule.Actions, a)
		}
		s.Adapt.Rules = append(s.Adapt.Rules, rule)
	}
	return s
}
