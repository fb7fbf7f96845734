package main

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

var sweepCommand = &command{
	name:      "sweep",
	usageLine: "-trace file [-capacity lo:hi:step] [-plot file] [-policy name] [-expert-bytes size] policy.moe...",
	short:     "measure policies over a range of cache capacities",
	long: `Sweep replays policies over a routing trace at every cache capacity of a
range and prints their hit rates, and their modeled times per token
(see "moec help replay"), against the capacity, with Belady's optimal hit
rate at each capacity beside them: the best a cache without prefetch
can do with as many slots. A policy that prefetches can beat it.

Every policy of every file is swept, or with -policy the one of that
name in each file. At each capacity the policy keeps everything else it
sets; a prefetch budget above the capacity is lowered to it, and a
per_layer policy splits the capacity among the layers (total_budget =
capacity). A note below the tables says where either happened, and why a
capacity the policy cannot have (fewer slots than its pinned experts,
say) shows as "-".

The flags are:

	-trace file
		The routing trace, in moec's JSONL trace format.
	-capacity lo:hi:step
		The capacities: lo, lo+step, ... up to hi; "lo:hi" steps by 1,
		and one number is one capacity. 4:64:4 by default.
	-plot file
		Also draw the hit rates against the capacity, one line per
		policy and a dashed one for Belady, as an SVG or PNG picture,
		by the file's extension.
	-policy name
		Sweep only the policy of this name.
	-expert-bytes size
		The bytes of one expert, as for replay.
	-j n
		Replay n policies at a time; the number of cores by default.`,
	run: runSweep,
}

// parseCapacities reads "lo:hi:step", "lo:hi" or "n".
func parseCapacities(s string) ([]int, error) {
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
	if (hi-lo)/step >= 10000 {
		return nil, fmt.Errorf("%q: more than 10000 capacities", s)
	}
	var caps []int
	for c := lo; c <= hi; c += step {
		caps = append(caps, c)
	}
	return caps, nil
}

// sweepPolicy is one column of a sweep.
type sweepPolicy struct {
	name string
	spec *rt.Spec
}

// sweepCell is one policy at one capacity: skipped (why), or measured.
type sweepCell struct {
	skip       string
	hitRate    float64
	msPerToken float64
}

// sweepResult is a sweep's table: cells[policy][capacity].
type sweepResult struct {
	caps     []int
	policies []sweepPolicy
	cells    [][]sweepCell
	belady   []float64
	notes    []string
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

// sweep replays every policy at every capacity over t.
func sweep(t *loadedTrace, policies []sweepPolicy, caps []int, shape rt.Shape, model replay.CostModel, workers int, done func(total int) func(int64)) (*sweepResult, error) {
	r := &sweepResult{caps: caps, policies: policies, cells: make([][]sweepCell, len(policies))}
	type at struct{ p, c int }
	var (
		jobs  []replayJob
		where []at
	)
	for pi, p := range policies {
		r.cells[pi] = make([]sweepCell, len(caps))
		if p.spec.PerLayer != nil {
			r.notes = append(r.notes, fmt.Sprintf("%s: per_layer total_budget set to the capacity", p.name))
		}
		var (
			notes   []string                // in order of first appearance
			skipped = map[string][]string{} // by reason: the capacities
		)
		for ci, c := range caps {
			s, note, skip := sizeTo(p.spec, c, shape)
			if note != "" && !slices.Contains(notes, note) {
				notes = append(notes, note)
			}
			if skip != "" {
				r.cells[pi][ci].skip = skip
				if skipped[skip] == nil {
					notes = append(notes, skip)
				}
				skipped[skip] = append(skipped[skip], strconv.Itoa(c))
				continue
			}
			jobs = append(jobs, replayJob{s})
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
			r.notes = append(r.notes, fmt.Sprintf("%s: %s", p.name, n))
		}
	}
	var progress func(int64)
	if done != nil {
		progress = done(len(jobs))
	}
	outs := replayAll(jobs, t.rows, shape, model, workers, progress)
	for i, o := range outs {
		w := where[i]
		if o.err != nil {
			return nil, fmt.Errorf("%s at capacity %d: %v", policies[w.p].name, caps[w.c], o.err)
		}
		r.cells[w.p][w.c] = sweepCell{hitRate: o.res.HitRate(), msPerToken: ms(o.cost.PerToken)}
	}
	acc, err := replay.Accesses(replay.NewSliceSource(t.rows))
	if err != nil {
		return nil, err
	}
	for _, c := range caps {
		opt, err := replay.Belady(acc, c, nil)
		if err != nil {
			return nil, err
		}
		r.belady = append(r.belady, opt.Count.HitRate())
	}
	return r, nil
}

func runSweep(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	tracePath := fs.String("trace", "", "routing trace file")
	capFlag := fs.String("capacity", "4:64:4", "capacities lo:hi:step")
	plotPath := fs.String("plot", "", "draw the hit rates to this .svg or .png file")
	policyName := fs.String("policy", "", "policy to sweep")
	expertBytes := fs.String("expert-bytes", "", "bytes of one expert")
	workers := fs.Int("j", runtime.GOMAXPROCS(0), "policies replayed at a time")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *tracePath == "" || fs.NArg() == 0 {
		return e.usageError(c)
	}
	caps, err := parseCapacities(*capFlag)
	if err != nil {
		fmt.Fprintf(e.stderr, "moec sweep: -capacity %v\n", err)
		return exitUsage
	}
	if *plotPath != "" {
		if _, err := plotFormat(*plotPath); err != nil {
			fmt.Fprintf(e.stderr, "moec sweep: -plot %v\n", err)
			return exitUsage
		}
	}
	if *workers < 1 {
		fmt.Fprintln(e.stderr, "moec sweep: -j must be at least 1")
		return exitUsage
	}
	var policies []sweepPolicy
	for _, file := range fs.Args() {
		if *policyName != "" {
			spec, status := e.loadPolicy(file, *policyName)
			if spec == nil {
				return status
			}
			policies = append(policies, sweepPolicy{spec.Name, spec})
			continue
		}
		specs, status := e.loadPolicies(file)
		if specs == nil {
			return status
		}
		for _, s := range specs {
			policies = append(policies, sweepPolicy{s.Name, s})
		}
	}
	// Two policies of one name are told apart by their files.
	count := map[string]int{}
	for _, p := range policies {
		count[p.name]++
	}
	for i, p := range policies {
		if count[p.name] > 1 {
			policies[i].name = filepath.Base(p.spec.Pos.File) + ":" + p.name
		}
	}

	t, shape, status := e.loadTrace("sweep", *tracePath, *expertBytes)
	if t == nil {
		return status
	}
	bar := &lateProgress{w: e.stderr}
	res, err := sweep(t, policies, caps, shape, replay.DefaultCostModel(), *workers, bar.start)
	bar.done()
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if *plotPath != "" {
		var all []series
		x := make([]float64, len(caps))
		for i, c := range caps {
			x[i] = float64(c)
		}
		for pi, p := range res.policies {
			s := series{name: p.name}
			for ci, cell := range res.cells[pi] {
				if cell.skip == "" {
					s.x = append(s.x, x[ci])
					s.y = append(s.y, cell.hitRate)
				}
			}
			all = append(all, s)
		}
		all = append(all, series{name: "Belady (optimal, no prefetch)", x: x, y: res.belady, dashed: true})
		title := fmt.Sprintf("Hit rate against capacity on %s", filepath.Base(*tracePath))
		if err := lineChart(*plotPath, title, "capacity (expert slots)", "hit rate", all); err != nil {
			e.errorf("%v", err)
			return exitError
		}
	}
	printSweep(e.stdout, t.name, shape, res)
	return exitOK
}

func printSweep(w io.Writer, traceName string, shape rt.Shape, r *sweepResult) {
	fmt.Fprintf(w, "trace  %s: %d layers x %d experts, top-%d, %s per expert\n",
		traceName, shape.Layers, shape.Experts, shape.TopK, formatBytes(shape.ExpertBytes))
	table := func(title string, withBelady bool, value func(sweepCell) string) {
		fmt.Fprintf(w, "\n%s\n", title)
		widths := make([]int, len(r.policies))
		line := "capacity"
		for i, p := range r.policies {
			widths[i] = max(len(p.name), 8)
			line += fmt.Sprintf("  %*s", widths[i], p.name)
		}
		if withBelady {
			line += "  Belady"
		}
		fmt.Fprintln(w, line)
		for ci, c := range r.caps {
			line := fmt.Sprintf("%8d", c)
			for pi := range r.policies {
				v := "-"
				if cell := r.cells[pi][ci]; cell.skip == "" {
					v = value(cell)
				}
				line += fmt.Sprintf("  %*s", widths[pi], v)
			}
			if withBelady {
				line += fmt.Sprintf("  %6.4f", r.belady[ci])
			}
			fmt.Fprintln(w, line)
		}
	}
	table("hit rate", true, func(c sweepCell) string { return fmt.Sprintf("%.4f", c.hitRate) })
	table("modeled ms/token", false, func(c sweepCell) string { return fmt.Sprintf("%.3f", c.msPerToken) })
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
}
