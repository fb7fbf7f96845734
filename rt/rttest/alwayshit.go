package rttest

import (
	"sync/atomic"

	"github.com/moepolicy/moec/rt"
)

// AlwaysHit is a policy for a device that holds every expert: each access
// hits and runs on the GPU, and no plan moves anything. Replay it with
// every expert pinned. It does the least a policy can do, so a replay of
// it measures the replay's own cost.
type AlwaysHit struct {
	steps, hits atomic.Int64
}

// Name returns "always_hit".
func (*AlwaysHit) Name() string { return "always_hit" }

// Dispatch marks every selected expert a hit on the GPU.
func (a *AlwaysHit) Dispatch(layer int, experts []int32, scores []float32, p *rt.Plan) {
	p.Reset(layer, experts)
	for i := range p.Hit {
		p.Hit[i] = true
	}
	a.steps.Add(1)
	a.hits.Add(int64(len(experts)))
}

// Stats returns the dispatches and hits so far.
func (a *AlwaysHit) Stats() rt.Stats {
	s := rt.Stats{Name: a.Name(), Steps: a.steps.Load()}
	s.Cache.Hits = a.hits.Load()
	s.Scheduler.GPU = s.Cache.Hits
	if s.Cache.Hits > 0 {
		s.Cache.HitRate = 1
	}
	return s
}
