package tune

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	Rank       int     `json:"rank"`
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
	// Results are the best configurations, ranked, with Belady's optimum
	// for their slots.
	Results []Result `json:"results"`
	// Interrupted is true when Replayer.Stop ended the search: Results
	// rank the Replayed configurations that finished.
	Interrupted bool `json:"interrupted,omitempty"`
}

// Tune replays every valid configuration of g over the trace, ranks them
// by objective (ties keep grid order), and reports the top best of them
// with Belady's optimum for their slots, or all of them when top is 0
// or less.
// A configuration that the checker rejects, or a per-layer one with
// fewer slots than the model has layers, is skipped and counted; a grid
// without a valid configuration is an error that says why.
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
	var (
		specs   []*rt.Spec
		results []Result
	)
	for i, c := range configs {
		s := c.Spec(fmt.Sprintf("config%d", i+1))
		if v := s.Check(); len(v) > 0 {
			skip(v[0].Msg)
			continue
		}
		if s.PerLayer != nil && c.Capacity < r.Shape.Layers {
			skip(fmt.Sprintf("per-layer budget of fewer slots than the %d layers", r.Shape.Layers))
			continue
		}
		specs = append(specs, s)
		results = append(results, Result{Index: i + 1, Config: c, spec: s})
	}
	if len(results) == 0 {
		var why []string
		for _, s := range rep.Skipped {
			why = append(why, fmt.Sprintf("%d skipped: %s", s.Count, s.Reason))
		}
		return nil, fmt.Errorf("no configuration of the grid is valid (%s)", strings.Join(why, "; "))
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
	sortResults(results, objective)
	for i := range results {
		results[i].Rank = i + 1
	}
	rep.Replayed = len(results)
	if top > 0 && top < len(results) {
		results = results[:top]
	}
	if err := r.addBelady(results); err != nil {
		return nil, fmt.Errorf("optimum: %v", err)
	}
	rep.Results = results
	return rep, nil
}

// sortResults ranks results by the objective; ties keep grid order.
func sortResults(rs []Result, objective Objective) {
	slices.SortStableFunc(rs, func(a, b Result) int {
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
