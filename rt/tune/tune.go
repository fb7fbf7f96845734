package tune

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

// An Objective is what Tune ranks by.
type Objective string

// The objectives.
const (
	HitRate Objective = "hit_rate" // the hit rate, highest first
	Time    Objective = "time"     // the modeled time per token, lowest first
)

// A Result is one replayed configuration.
type Result struct {
	Rank       int     `json:"rank"`  // among the configurations of its capacity
	Index      int     `json:"index"` // in grid order, from 1
	Config     Config  `json:"config"`
	HitRate    float64 `json:"hit_rate"`
	Hits       int64   `json:"hits"`
	Misses     int64   `json:"misses"`
	Loads      int64   `json:"loads"`
	Prefetches int64   `json:"prefetches"`
	Evictions  int64   `json:"evictions"`
	MsPerToken float64 `json:"modeled_ms_per_token"`
	Belady     float64 `json:"belady_hit_rate"`

	perToken time.Duration
	spec     *rt.Spec
	res      *replay.Result
}

// A Skip counts the configurations skipped for one reason.
type Skip struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// A Report is what Tune found.
type Report struct {
	Trace          string    `json:"trace"`
	Grid           string    `json:"grid"`
	Objective      Objective `json:"objective"`
	Configurations int       `json:"configurations"` // in the grid
	Replayed       int       `json:"replayed"`
	Skipped        []Skip    `json:"skipped"` // in order of first appearance
	// Results are the best configurations of each capacity, ranked among
	// those of the same capacity (capacities in grid order), with
	// Belady's optimum for their slots.
	Results []Result `json:"results"`
	// Interrupted is true when Replayer.Stop ended the search: Results
	// rank the Replayed configurations that finished.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Tune replays every valid configuration of g over the trace and ranks
// them by objective at equal memory: each against the configurations of
// its capacity (ties keep grid order), since more slots always hit more
// and a ranking across capacities says only that. It reports the top best
// of each capacity with Belady's optimum for their slots, or all of them
// when top is 0 or less.
//
// A frequency_threshold configuration counts over a window of its
// WindowPerExpert accesses an expert its cache sees (rt.FrequencyOver):
// the trace's (layer, expert) pairs for a flat cache, one layer's experts
// for a per-layer one; not the defaults' 100 accesses.
//
// A hybrid configuration decides with the cost model's hardware (its
// PCIeGBps and the CPU time of an expert of the shape's size); since that
// runs every miss on one device, it is skipped where the grid has the
// mode that runs every miss there (gpu_only or cpu_fallback), whose
// plans it would repeat. A configuration that the checker rejects, or a
// per-layer one with fewer slots than the model has layers, is skipped
// too; every skip is counted by reason, and a grid without a valid
// configuration is an error that gives the first one's reason.
func (r *Replayer) Tune(g Grid, objective Objective, top int) (*Report, error) {
	if objective != HitRate && objective != Time {
		return nil, fmt.Errorf("objective %q: want %s or %s", objective, HitRate, Time)
	}
	configs := g.Expand()
	rep := &Report{Trace: r.Trace, Grid: g.Name, Objective: objective, Configurations: len(configs), Skipped: []Skip{}}
	skip := func(reason string) {
		for i := range rep.Skipped {
			if rep.Skipped[i].Reason == reason {
				rep.Skipped[i].Count++
				return
			}
		}
		rep.Skipped = append(rep.Skipped, Skip{reason, 1})
	}
	if len(configs) == 0 {
		return nil, fmt.Errorf("no configuration of the grid is valid: %s", g.whyEmpty())
	}
	var (
		specs   []*rt.Spec
		results []Result
		first   string // why the first configuration skipped was
	)
	hybrid := r.hybridTwin(g)
	for i, c := range configs {
		if c.Mode == "hybrid" {
			hw := r.Model.Hardware(r.Shape.ExpertBytes)
			c.PCIeGBps, c.CPUExpertMS = hw.PCIeGBps, hw.CPUExpertMS
		}
		if c.Eviction == rt.FrequencyThreshold.String() {
			// A flat cache counts every layer's accesses; a per-layer
			// one, its own layer's.
			slots := r.Shape.Layers * r.Shape.Experts
			if c.Allocation != AllocNone {
				slots = r.Shape.Experts
			}
			c.FreqThreshold, c.FreqWindow = rt.FrequencyOver(slots, c.WindowPerExpert)
		}
		s := c.Spec(fmt.Sprintf("config%d", i+1))
		reason := ""
		switch v := s.Check(); {
		case len(v) > 0:
			reason = v[0].Msg
		case s.PerLayer != nil && c.Capacity < r.Shape.Layers:
			reason = fmt.Sprintf("per-layer budget of fewer slots than the %d layers", r.Shape.Layers)
		case c.Mode == "hybrid" && hybrid != "":
			skip(hybrid)
			continue
		}
		if reason != "" {
			skip(reason)
			if first == "" {
				first = fmt.Sprintf("configuration %d (%s): %s", i+1, c, reason)
			}
			continue
		}
		specs = append(specs, s)
		results = append(results, Result{Index: i + 1, Config: c, spec: s})
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("no configuration of the grid is valid: %s", first)
	}
	finished := results[:0]
	for i, out := range r.replayAll(specs) {
		if errors.Is(out.err, ErrStopped) {
			rep.Interrupted = true
			continue
		}
		if out.err != nil {
			return nil, fmt.Errorf("configuration %d (%s): %v", results[i].Index, results[i].Config, out.err)
		}
		res := &results[i]
		res.res = out.res
		res.HitRate, res.Hits, res.Misses = out.res.HitRate(), out.res.Hits, out.res.Misses
		res.Loads, res.Prefetches, res.Evictions = out.res.Loads, out.res.Prefetches, out.res.Evictions
		res.perToken = out.cost.PerToken
		res.MsPerToken = ms(out.cost.PerToken)
		finished = append(finished, *res)
	}
	results = finished
	sortResults(results, objective, g.Capacity)
	rep.Replayed = len(results)
	var kept []Result
	for i := range results {
		results[i].Rank = 1
		if i > 0 && results[i-1].Config.Capacity == results[i].Config.Capacity {
			results[i].Rank = results[i-1].Rank + 1
		}
		if top <= 0 || results[i].Rank <= top {
			kept = append(kept, results[i])
		}
	}
	results = kept
	if err := r.addBelady(results); err != nil {
		return nil, fmt.Errorf("optimum: %v", err)
	}
	rep.Results = results
	return rep, nil
}

// hybridTwin returns why the hybrid configurations of g repeat others of
// g, or "" when they do not. With the cost model's figures, hybrid shares
// a dispatch's misses between the link and the CPU (rt.MissRule); where
// the one is so much faster that every miss of a top-k dispatch goes to
// it, hybrid plans as gpu_only or cpu_fallback does.
func (r *Replayer) hybridTwin(g Grid) string {
	if !slices.Contains(g.Mode, "hybrid") {
		return ""
	}
	s := rt.NewSpec("", 1)
	s.Schedule.Mode = rt.Hybrid
	hw := r.Model.Hardware(r.Shape.ExpertBytes)
	s.Schedule.PCIeGBps, s.Schedule.CPUExpertMS = hw.PCIeGBps, hw.CPUExpertMS
	rule := rt.NewMissRule(&s.Schedule, rt.ExpertGB(r.Shape, &s.Cache))
	cpu, ok := rule.Uniform(r.Shape.TopK)
	if !ok {
		return ""
	}
	twin, where := "gpu_only", "GPU"
	if cpu {
		twin, where = "cpu_fallback", "CPU"
	}
	if !slices.Contains(g.Mode, twin) {
		return ""
	}
	copyMS := rt.ExpertGB(r.Shape, &s.Cache) / s.Schedule.PCIeGBps * 1000
	return fmt.Sprintf("hybrid runs every miss on the %s here (a copy takes %.3f ms at %s GB/s, the CPU %.3f ms, with up to %d misses a layer), as %s does",
		where, copyMS, rt.FormatNumber(s.Schedule.PCIeGBps), s.Schedule.CPUExpertMS, r.Shape.TopK, twin)
}

// sortResults ranks results by the objective among those of the same
// capacity, capacities in the order of caps (the grid's); ties keep grid
// order.
func sortResults(rs []Result, objective Objective, caps []int) {
	slices.SortStableFunc(rs, func(a, b Result) int {
		if c := cmp.Compare(slices.Index(caps, a.Config.Capacity), slices.Index(caps, b.Config.Capacity)); c != 0 {
			return c
		}
		var c int
		if objective == Time {
			c = cmp.Compare(a.perToken, b.perToken)
		} else {
			c = cmp.Compare(b.HitRate, a.HitRate)
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
}

// addBelady fills in Belady's hit rate for the results: the optimum for
// the same slots (one cache of the capacity, or each layer's final
// capacity), computed once per capacity of a flat cache.
func (r *Replayer) addBelady(rs []Result) error {
	acc, err := r.accesses()
	if err != nil {
		return err
	}
	flat := map[int]float64{}
	for i := range rs {
		res := &rs[i]
		if res.spec.PerLayer == nil {
			if h, ok := flat[res.Config.Capacity]; ok {
				res.Belady = h
				continue
			}
		}
		opt, err := replay.BeladyFor(acc, res.spec, res.res)
		if err != nil {
			return err
		}
		res.Belady = opt.Count.HitRate()
		if res.spec.PerLayer == nil {
			flat[res.Config.Capacity] = res.Belady
		}
	}
	return nil
}
