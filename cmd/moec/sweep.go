package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/moepolicy/moec/internal/chart"
	"github.com/moepolicy/moec/internal/progress"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/tune"
)

var sweepCommand = &command{
	name:      "sweep",
	usageLine: "-trace file [-capacity lo:hi:step | " + gpuUsage + "] [-plot file] [-policy name] [-expert-bytes size] [-json] [-j n] " + hardwareUsage + " policy.moe...",
	short:     "measure policies over a range of cache capacities",
	long: `Sweep replays policies over a routing trace at every cache capacity of a
range and prints their hit rates, and their modeled times per token
(see "moec help replay": a hybrid schedule decides with the cost
model's figures, as there), against the capacity, with Belady's optimal hit
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
` + gpuHelp + `
		The capacities are then those around the GPU's n slots: n/8,
		2n/8, ... up to 2n, or to every slot of the trace.
	-plot file
		Also draw the hit rates against the capacity, one line per
		policy and a dashed one for Belady, and below them the modeled
		times per token, as an SVG or PNG picture, by the file's
		extension.
	-policy name
		Sweep only the policy of this name.
	-expert-bytes size
		The bytes of one expert, as for replay.
	-json
		Print the results as one JSON object instead of the tables:
		"trace", "shape", "cost_model" (the hardware figures of the
		modeled times), "capacities", "belady_hit_rate" (one per
		capacity), "policies" (each with "name", "file" and "cells",
		one per capacity with "capacity", "hit_rate" and
		"modeled_ms_per_token", null and "skipped" with the reason
		where the policy cannot have the capacity) and "notes".
	-j n
		Replay n policies at a time; the number of cores by default.
` + hardwareHelp,
	run: runSweep,
}

func runSweep(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	tracePath := fs.String("trace", "", "routing trace file")
	capFlag := fs.String("capacity", "4:64:4", "capacities lo:hi:step")
	plotPath := fs.String("plot", "", "draw the hit rates to this .svg or .png file")
	policyName := fs.String("policy", "", "policy to sweep")
	expertBytes := fs.String("expert-bytes", "", "bytes of one expert")
	workers := fs.Int("j", runtime.GOMAXPROCS(0), "policies replayed at a time")
	gpu := addGPUFlags(fs.FlagSet)
	hardware := hardwareFlags(fs.FlagSet)
	jsonOut := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *tracePath == "" || fs.NArg() == 0 {
		return e.usageError(c)
	}
	caps, err := tune.ParseCapacities(*capFlag)
	if err != nil {
		fmt.Fprintf(e.stderr, "moec sweep: -capacity %v\n", err)
		return exitUsage
	}
	if gpu.given() && isSet(fs.FlagSet, "capacity") {
		fmt.Fprintln(e.stderr, "moec sweep: give -capacity, or -config and -vram, not both")
		return exitUsage
	}
	if !gpu.check(e, "sweep") {
		return exitUsage
	}
	var (
		plot   *output
		format string
	)
	if *plotPath != "" {
		if format, err = chart.Format(*plotPath); err != nil {
			fmt.Fprintf(e.stderr, "moec sweep: -plot %v\n", err)
			return exitUsage
		}
	}
	if *workers < 1 {
		fmt.Fprintln(e.stderr, "moec sweep: -j must be at least 1")
		return exitUsage
	}
	if *plotPath != "" {
		var status int
		if plot, status = e.createOutput("-plot", *plotPath, append(fs.Args(), *tracePath)...); plot == nil {
			return status
		}
		defer plot.Abort()
	}
	var policies []tune.Policy
	for _, file := range fs.Args() {
		if *policyName != "" {
			spec, status := e.loadPolicy(file, *policyName)
			if spec == nil {
				return status
			}
			policies = append(policies, tune.Policy{Name: spec.Name, Spec: spec})
			continue
		}
		specs, status := e.loadPolicies(file)
		if specs == nil {
			return status
		}
		for _, s := range specs {
			policies = append(policies, tune.Policy{Name: s.Name, Spec: s})
		}
	}
	// Two policies of one name are told apart by their files.
	count := map[string]int{}
	for _, p := range policies {
		count[p.Name]++
	}
	for i, p := range policies {
		if count[p.Name] > 1 {
			policies[i].Name = filepath.Base(p.Spec.Pos.File) + ":" + p.Name
		}
	}

	r, status := e.loadTrace("sweep", *tracePath, *expertBytes, *hardware)
	if r == nil {
		return status
	}
	slots, gpuText, status := gpu.slots(e, r, *expertBytes != "")
	if status != exitOK {
		return status
	}
	if slots > 0 {
		caps = capacitiesAround(slots, r.Shape.Layers*r.Shape.Experts)
		gpuText = fmt.Sprintf("%d slots: %s", slots, gpuText)
	}
	r.Workers = *workers
	bar := progress.New(e.stderr)
	r.Progress = bar.Start
	res, err := r.Sweep(policies, caps)
	bar.Done()
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if *plotPath != "" {
		x := make([]float64, len(caps))
		for i, c := range caps {
			x[i] = float64(c)
		}
		hitRate := chart.Panel{Title: "Hit rate against capacity on " + filepath.Base(*tracePath), YLabel: "hit rate", Fraction: true}
		perToken := chart.Panel{Title: "Modeled time per token against capacity", YLabel: "modeled ms/token"}
		for pi, p := range res.Policies {
			h, t := chart.Series{Name: p.Name}, chart.Series{Name: p.Name}
			for ci, cell := range res.Cells[pi] {
				if cell.Skip == "" {
					h.X, h.Y = append(h.X, x[ci]), append(h.Y, cell.HitRate)
					t.X, t.Y = append(t.X, x[ci]), append(t.Y, cell.MsPerToken)
				}
			}
			hitRate.Series, perToken.Series = append(hitRate.Series, h), append(perToken.Series, t)
		}
		hitRate.Series = append(hitRate.Series, chart.Series{Name: "Belady (optimal, no prefetch)", X: x, Y: res.Belady, Dashed: true})
		data, err := chart.Lines(format, "capacity (expert slots)", hitRate, perToken)
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		if status := e.finish(plot, data); status != exitOK {
			return status
		}
	}
	if *jsonOut {
		return e.printJSON(newSweepJSON(r, res))
	}
	return e.printTo(func(w io.Writer) {
		printSweep(w, r.Trace, r.Shape, hardwareText(*hardware, *hardware, r.Shape.ExpertBytes), gpuText, res)
	})
}

// isSet reports whether the flag called name was given.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// capacitiesAround returns the capacities a sweep around a GPU of n slots
// measures: n/8, 2n/8, ... up to 2n, none above all, the slots of every
// expert of the trace (then all is the last).
func capacitiesAround(n, all int) []int {
	var caps []int
	for i := 1; i <= 16; i++ {
		c := max(1, min(all, (i*n+4)/8))
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	return caps
}

func printSweep(w io.Writer, traceName string, shape rt.Shape, hardware, gpu string, r *tune.SweepResult) {
	fmt.Fprintf(w, "trace     %s: %s\n", traceName, shapeText(shape))
	fmt.Fprintf(w, "hardware  %s\n", hardware)
	if gpu != "" {
		fmt.Fprintf(w, "gpu       %s\n", gpu)
	}
	table := func(title string, withBelady bool, value func(tune.Cell) string) {
		fmt.Fprintf(w, "\n%s\n", title)
		widths := make([]int, len(r.Policies))
		line := "capacity"
		for i, p := range r.Policies {
			widths[i] = max(len(p.Name), 8)
			line += fmt.Sprintf("  %*s", widths[i], p.Name)
		}
		if withBelady {
			line += "  Belady"
		}
		fmt.Fprintln(w, line)
		for ci, c := range r.Caps {
			line := fmt.Sprintf("%8d", c)
			for pi := range r.Policies {
				v := "-"
				if cell := r.Cells[pi][ci]; cell.Skip == "" {
					v = value(cell)
				}
				line += fmt.Sprintf("  %*s", widths[pi], v)
			}
			if withBelady {
				line += fmt.Sprintf("  %6.4f", r.Belady[ci])
			}
			fmt.Fprintln(w, line)
		}
	}
	table("hit rate", true, func(c tune.Cell) string { return fmt.Sprintf("%.4f", c.HitRate) })
	table("modeled ms/token", false, func(c tune.Cell) string { return fmt.Sprintf("%.3f", c.MsPerToken) })
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
}
