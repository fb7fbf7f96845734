package tune

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

// maxCapacities bounds the capacities of a sweep.
const maxCapacities = 10000

// ParseCapacities reads a range of capacities: "lo:hi:step" is lo,
// lo+step, ... up to hi; "lo:hi" steps by 1; "n" is n alone. Every
// number is a positive integer, and the range holds at most 10000.
func ParseCapacities(s string) ([]int, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return nil, fmt.Errorf("%q: want lo:hi:step", s)
	}
	n := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q: %q is not a positive integer", s, p)
		}
		n[i] = v
	}
	lo, hi, step := n[0], n[0], 1
	if len(n) > 1 {
		hi = n[1]
	}
	if len(n) > 2 {
		step = n[2]
	}
	if hi < lo {
		return nil, fmt.Errorf("%q: the range is empty", s)
	}
	if (hi-lo)/step >= maxCapacities {
		return nil, fmt.Errorf("%q: more than %d capacities", s, maxCapacities)
	}
	// Counted, not stepped to hi, which may be the largest int.
	caps := make([]int, (hi-lo)/step+1)
	for i := range caps {
		caps[i] = lo + i*step
	}
	return caps, nil
}

// A Policy is one column of a sweep: a policy and its name in the
// tables.
type Policy struct {
	Name string
	Spec *rt.Spec
}

// A Cell is one policy at one capacity: skipped, with the reason, or
// measured.
type Cell struct {
	Skip       string // why the policy cannot have the capacity; "" when measured
	HitRate    float64
	MsPerToken float64 // the modeled time per token
}

// A SweepResult is a sweep's table: Cells[policy][capacity], with
// Belady's optimum at each capacity.
type SweepResult struct {
	Caps     []int
	Policies []Policy
	Cells    [][]Cell
	Belady   []float64 // per capacity: the optimum of a cache of that many slots
	Notes    []string  // where a policy was changed or skipped, and why
}

// Sweep replays every policy at every capacity over the trace. At each
// capacity a policy keeps everything else it sets, except that a
// prefetch budget above the capacity is lowered to it and a per_layer
// policy splits the capacity among the layers (total_budget =
// capacity); the notes say where either happened, where a policy's own
// hardware figures time it (CostModel.ForPolicy), and why a capacity a
// policy cannot have (fewer slots than its pinned experts, say) was
// skipped.
func (r *Replayer) Sweep(policies []Policy, caps []int) (*SweepResult, error) {
	res := &SweepResult{Caps: caps, Policies: policies, Cells: make([][]Cell, len(policies))}
	type at struct{ p, c int }
	var (
		specs []*rt.Spec
		where []at
	)
	for pi, p := range policies {
		res.Cells[pi] = make([]Cell, len(caps))
		if p.Spec.PerLayer != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: per_layer total_budget set to the capacity", p.Name))
		}
		if r.Model.ForPolicy(p.Spec) != r.Model {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: timed with the policy's own schedule pcie_gbps or cpu_expert_ms", p.Name))
		}
		var (
			notes   []string                // in order of first appearance
			skipped = map[string][]string{} // by reason: the capacities
		)
		for ci, c := range caps {
			s, note, skip := sizeTo(p.Spec, c, r.Shape)
			if note != "" && !slices.Contains(notes, note) {
				notes = append(notes, note)
			}
			if skip != "" {
				res.Cells[pi][ci].Skip = skip
				if skipped[skip] == nil {
					notes = append(notes, skip)
				}
				skipped[skip] = append(skipped[skip], strconv.Itoa(c))
				continue
			}
			specs = append(specs, s)
			where = append(where, at{pi, ci})
		}
		for _, n := range notes {
			if cs := skipped[n]; cs != nil {
				word := "capacity"
				if len(cs) > 1 {
					word = "capacities"
				}
				n = fmt.Sprintf("%s %s skipped: %s", word, strings.Join(cs, ", "), n)
			}
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %s", p.Name, n))
		}
	}
	for i, o := range r.replayAll(specs) {
		w := where[i]
		if errors.Is(o.err, ErrStopped) {
			return nil, ErrStopped
		}
		if o.err != nil {
			return nil, fmt.Errorf("%s at capacity %d: %v", policies[w.p].Name, caps[w.c], o.err)
		}
		res.Cells[w.p][w.c] = Cell{HitRate: o.res.HitRate(), MsPerToken: ms(o.cost.PerToken)}
	}
	acc, err := r.accesses()
	if err != nil {
		return nil, err
	}
	for _, c := range caps {
		opt, err := replay.Belady(acc, c, nil)
		if err != nil {
			return nil, err
		}
		res.Belady = append(res.Belady, opt.Count.HitRate())
	}
	return res, nil
}

// sizeTo returns spec at capacity c, with a note when something else had
// to change, or a reason it cannot have that capacity.
func sizeTo(spec *rt.Spec, c int, shape rt.Shape) (s *rt.Spec, note, skip string) {
	s = spec.Clone()
	s.Cache.Capacity = c
	if s.Prefetch.Budget > c {
		// Without prefetch the budget means nothing: lower it quietly.
		if s.Prefetch.Strategy != rt.PrefetchNone {
			note = fmt.Sprintf("prefetch budget %d lowered to the capacity at capacities below %d", s.Prefetch.Budget, s.Prefetch.Budget)
		}
		s.Prefetch.Budget = c
	}
	if pl := s.PerLayer; pl != nil {
		pl.TotalBudget = c
		if need := shape.Layers * pl.MinCapacity; c < need {
			return nil, note, fmt.Sprintf("per_layer needs at least %d slots (%d layers x min_capacity %d)", need, shape.Layers, pl.MinCapacity)
		}
	}
	if need := len(s.Cache.Pin) * shape.Layers; s.PerLayer == nil && c < need {
		return nil, note, fmt.Sprintf("its pinned experts need %d slots (%d in each of %d layers)", need, len(s.Cache.Pin), shape.Layers)
	}
	if v := s.Check(); len(v) > 0 {
		return nil, note, v[0].Msg
	}
	// The runtime's own checks of the policy against the model's shape.
	if _, err := rt.New(s, shape); err != nil {
		return nil, note, err.Error()
	}
	return s, note, ""
}
