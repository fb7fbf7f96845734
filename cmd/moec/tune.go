package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/internal/progress"
	"github.com/moepolicy/moec/policy"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/tune"
)

var tuneCommand = &command{
	name:      "tune",
	usageLine: "-trace file [-capacity n | " + gpuUsage + "] [-grid file|default|reference] [-objective time|hit_rate] [-top n] [-json] [-o file] [-name name] [-expert-bytes size] [-j n] " + hardwareUsage,
	short:     "search a grid of policies for the best on a trace",
	long: `Tune replays every policy of a grid of configurations over a routing
trace and ranks them at equal memory: each configuration against those
of the same capacity, since a larger cache always hits more. It ranks by
the modeled time per token of the replay's cost model (lowest first, see
"moec help replay"), or with -objective hit_rate by hit rate (highest
first). Ties keep grid order. The trace is read once into memory and the
configurations are replayed in parallel, one worker per core.

The capacity is the GPU's: -capacity n slots, or what -config and -vram
make of a model and a GPU as moec auto does. Either replaces the grid's
capacities with that one. Without them the grid's capacities are ranked
apart, and -o needs one.

A configuration sets seven values, the reference autotuner's six and the
per-layer allocation:

	capacity           cache capacity, in (layer, expert) slots
	eviction           cache eviction (lru, lfu, score, ...)
	lfu_decay          cache frequency_decay, used by lfu and fallback
	prefetch_budget    prefetch budget
	prefetch_strategy  prefetch strategy (none, history, affinity, lookahead)
	schedule_mode      schedule mode (gpu_only, cpu_fallback, hybrid)
	allocation         "none" for one cache shared by all layers, or a
	                   per_layer allocation signal (uniform, entropy,
	                   topk_mass, variance, kl, gini)

A per-layer configuration splits the same number of slots among the
layers as the flat cache of its capacity holds (total_budget =
capacity, min_capacity = 1), so the two compare; one with fewer slots
than the trace has layers is skipped. Everything else keeps its default.

The grid is the Cartesian product of the values, keys in the order
above, the last varying fastest, pruned as the reference prunes: an
eviction other than lfu and fallback keeps only the first lfu_decay,
strategy none keeps only the first prefetch_budget, and a budget above
the capacity is dropped. A configuration that the checker rejects
(eviction score without a prefetch strategy, say) is skipped and
counted.

A frequency_threshold configuration keeps the experts with at least three
quarters of an even share of the last n x experts accesses, not the
defaults' 0.05 of 100: the experts of every layer for a flat cache, of
one layer for a per-layer one, and n the grid's freq_window_per_expert
(5 is what moec auto writes; a longer window admits fewer experts, so a
hybrid schedule copies fewer of those it runs on the CPU). The table's
window column gives the window in accesses.

A hybrid configuration decides with the hardware figures below (its
pcie_gbps and cpu_expert_ms are theirs): it shares a layer's misses
between the link and the CPU, each going to whichever would finish it
first. Where one is so much faster that every miss of a layer goes to
it, hybrid plans as gpu_only or cpu_fallback does; where the grid has
that mode, those hybrid configurations are skipped rather than listed
twice.

The grids:

	reference
		The reference autotuner's: capacity 4, 8, 16, 32; eviction lru,
		lfu; lfu_decay 0.8, 0.9, 0.95; prefetch_budget 2, 4, 8;
		prefetch_strategy none, history; schedule_mode gpu_only, hybrid;
		allocation none. 120 configurations after pruning.
	default
		The reference's grid with the frequency_threshold eviction
		too, over windows of 5 and 40 accesses an expert
		(freq_window_per_expert), every prefetch strategy (none,
		history, affinity, lookahead) and every allocation (none and the
		six signals): 3,108 configurations after pruning.
	file
		A JSON object with any of the eight keys, each a list of values:
		{"capacity": [8, 16], "eviction": ["lru", "lfu"]}. A key left out
		takes its default (allocation: none; freq_window_per_expert: 5).

The table shows the top configurations of each capacity with their hit
rate, Belady's optimal hit rate for the same slots (for context: the
best a cache without prefetch can do; a policy that prefetches can beat
it), and the modeled time per token.

The flags are:

	-trace file
		The routing trace, in moec's JSONL trace format.
	-capacity n
		The cache's capacity in (layer, expert) slots: the GPU's room
		for experts.
` + gpuHelp + `
	-grid file|default|reference
		The grid to search; default by default.
	-objective time|hit_rate
		What to rank by; time by default.
	-top n
		How many configurations of each capacity to show; 0 shows
		all.
	-json
		Print the results as one JSON object instead of a table.
	-o file
		Write the winner as a formatted .moe file, with a comment naming
		the trace and its score. The grid must have one capacity. An
		interrupted search writes none.
	-name name
		The winner's policy name in -o's file; tuned by default.
	-expert-bytes size
		The bytes of one expert, as for replay. Without it, the size of
		the trace's model if moec knows it, else 1.2GB.
	-j n
		Replay n configurations at a time; the number of cores by
		default.
` + hardwareHelp,
	run: runTune,
}

func runTune(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	tracePath := fs.String("trace", "", "routing trace file")
	capacity := fs.Int("capacity", 0, "the cache's capacity in slots")
	gpu := addGPUFlags(fs.FlagSet)
	gridFlag := fs.String("grid", "default", "grid: a JSON file, default or reference")
	objective := fs.String("objective", string(tune.Time), "time or hit_rate")
	top := fs.Int("top", 5, "configurations to show; 0: all")
	jsonOut := fs.Bool("json", false, "print JSON")
	out := fs.String("o", "", "write the winner to this .moe file")
	name := fs.String("name", "tuned", "the winner's policy name")
	expertBytes := fs.String("expert-bytes", "", "bytes of one expert")
	workers := fs.Int("j", runtime.GOMAXPROCS(0), "configurations replayed at a time")
	hardware := hardwareFlags(fs.FlagSet)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *tracePath == "" || fs.NArg() != 0 {
		return e.usageError(c)
	}
	if o := tune.Objective(*objective); o != tune.HitRate && o != tune.Time {
		fmt.Fprintf(e.stderr, "moec tune: -objective %q: want time or hit_rate\n", *objective)
		return exitUsage
	}
	switch {
	case *capacity < 0:
		fmt.Fprintf(e.stderr, "moec tune: -capacity %d: want at least 1 slot\n", *capacity)
		return exitUsage
	case *capacity > 0 && gpu.given():
		fmt.Fprintln(e.stderr, "moec tune: give -capacity, or -config and -vram, not both")
		return exitUsage
	case !gpu.check(e, "tune"):
		return exitUsage
	}
	if *top < 0 || *workers < 1 {
		fmt.Fprintln(e.stderr, "moec tune: -top must not be negative and -j must be at least 1")
		return exitUsage
	}
	if !isPolicyName(*name) {
		fmt.Fprintf(e.stderr, "moec tune: -name %q is not a policy name\n", *name)
		return exitUsage
	}
	gridFile := *gridFlag
	if gridFile == "default" || gridFile == "reference" {
		gridFile = ""
	}
	o, status := e.createOutput("-o", *out, *tracePath, gridFile)
	if o == nil {
		return status
	}
	defer o.Abort()
	var grid tune.Grid
	switch *gridFlag {
	case "default":
		grid = tune.DefaultGrid()
	case "reference":
		grid = tune.ReferenceGrid()
	default:
		data, err := os.ReadFile(*gridFlag)
		if err == nil {
			grid, err = tune.ParseGrid(*gridFlag, data)
		}
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
	}
	if caps := distinct(grid.Capacity); *out != "" && *capacity == 0 && !gpu.given() && len(caps) > 1 {
		fmt.Fprintf(e.stderr, "moec tune: -o writes the best configuration of one capacity, and grid %s has %d (%s): give -capacity n, or -config and -vram\n",
			grid.Name, len(caps), joinInts(caps))
		return exitUsage
	}
	r, status := e.loadTrace("tune", *tracePath, *expertBytes, *hardware)
	if r == nil {
		return status
	}
	slots, gpuText, status := gpu.slots(e, r, *expertBytes != "")
	if status != exitOK {
		return status
	}
	var capText string
	switch {
	case slots > 0:
		grid.Capacity, capText = []int{slots}, fmt.Sprintf("%d slots: %s", slots, gpuText)
	case *capacity > 0:
		grid.Capacity, capText = []int{*capacity}, fmt.Sprintf("%d slots (-capacity)", *capacity)
	case len(distinct(grid.Capacity)) == 1:
		capText = fmt.Sprintf("%d slots, the grid's", grid.Capacity[0])
	case *gridFlag == "default" || *gridFlag == "reference":
		capText = fmt.Sprintf("%s slots, the %s grid's, ranked apart; give -capacity n, or -config and -vram, for a GPU's", joinInts(distinct(grid.Capacity)), grid.Name)
	default:
		capText = fmt.Sprintf("%s slots, the grid's, ranked apart", joinInts(distinct(grid.Capacity)))
	}
	r.Workers = *workers
	bar := progress.New(e.stderr)
	r.Progress = bar.Start
	r.Stop = e.stopOnInterrupt()
	rep, err := r.Tune(grid, tune.Objective(*objective), *top)
	bar.Done()
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if rep.Interrupted {
		return e.tuneInterrupted(rep, r.Shape, hardwareText(*hardware, *hardware, r.Shape.ExpertBytes), capText, *jsonOut)
	}
	if *out != "" {
		if status := e.writeTuned(o, *name, rep, rep.Results[0]); status != exitOK {
			return status
		}
	}
	if *jsonOut {
		return e.printJSON(rep)
	}
	return e.printTo(func(w io.Writer) {
		printTuneTable(w, rep, r.Shape, hardwareText(*hardware, *hardware, r.Shape.ExpertBytes), capText)
	})
}

// distinct returns ns without repeats, in order.
func distinct(ns []int) []int {
	var out []int
	for _, n := range ns {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// joinInts writes ns as "4, 8, 16".
func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// isPolicyName reports whether s can be written as a policy name.
func isPolicyName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

func printTuneTable(w io.Writer, rep *tune.Report, shape rt.Shape, hardware, capacity string) {
	fmt.Fprintf(w, "trace      %s: %s\n", rep.Trace, shapeText(shape))
	fmt.Fprintf(w, "hardware   %s\n", hardware)
	fmt.Fprintf(w, "capacity   %s\n", capacity)
	skipped, interrupted := 0, ""
	for _, s := range rep.Skipped {
		skipped += s.Count
	}
	if rep.Interrupted {
		interrupted = " before the interrupt"
	}
	fmt.Fprintf(w, "grid       %s: %d configurations, %d replayed%s, %d skipped\n",
		rep.Grid, rep.Configurations, rep.Replayed, interrupted, skipped)
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "           %d skipped: %s\n", s.Count, s.Reason)
	}
	by := "hit rate, highest first"
	if rep.Objective == tune.Time {
		by = "modeled time per token, lowest first"
	}
	fmt.Fprintf(w, "objective  %s, at equal capacity\n\n", by)
	ew := len("eviction") // frequency_threshold widens the column
	for _, r := range rep.Results {
		ew = max(ew, len(r.Config.Eviction))
	}
	fmt.Fprintf(w, "rank  config  capacity  %-*s  decay  window  strategy   budget  mode      allocation  hit rate  Belady  ms/token\n", ew, "eviction")
	for i, r := range rep.Results {
		c := r.Config
		if i > 0 && r.Rank == 1 {
			fmt.Fprintln(w)
		}
		decay, window, budget := "-", "-", "-"
		if c.UsesDecay() {
			decay = num(c.Decay)
		}
		if c.FreqWindow > 0 {
			window = strconv.Itoa(c.FreqWindow)
		}
		if c.Strategy != "none" {
			budget = strconv.Itoa(c.Budget)
		}
		fmt.Fprintf(w, "%4d  %6d  %8d  %-*s  %5s  %6s  %-9s  %6s  %-8s  %-10s  %8.4f  %6.4f  %8.3f\n",
			r.Rank, r.Index, c.Capacity, ew, c.Eviction, decay, window, c.Strategy, budget, c.Mode, c.Allocation, r.HitRate, r.Belady, r.MsPerToken)
	}
}

// tunedSource returns the .moe text of the winner, r, with a comment
// naming the trace and the score. It writes the values the grid chose
// even where they are the defaults, and only the prefetch budget where
// the strategy is none, which keeps it within the capacity.
func tunedSource(name string, rep *tune.Report, r tune.Result) ([]byte, error) {
	c := r.Config
	header := []string{
		fmt.Sprintf("Found by moec tune on %s, grid %s (%d configurations),", rep.Trace, rep.Grid, rep.Configurations),
		fmt.Sprintf("objective %s: configuration %d, hit rate %.4f, %.3f ms/token modeled", rep.Objective, r.Index, r.HitRate, r.MsPerToken),
	}
	if r.Belady > 0 {
		header[1] += ","
		header = append(header, fmt.Sprintf("Belady's optimum for the same slots %.4f", r.Belady))
	}
	header[len(header)-1] += "."
	keep := []string{"cache.eviction", "schedule.mode", "per_layer.allocation"}
	if c.UsesDecay() {
		keep = append(keep, "cache.frequency_decay")
	}
	if c.Strategy != "none" {
		keep = append(keep, "prefetch.budget")
	}
	return policy.Format(c.Spec(name), &policy.FormatOptions{Header: header, Keep: keep})
}

// writeTuned writes the winner to o, replacing its file only when all of
// it could be written.
func (e *env) writeTuned(o *output, name string, rep *tune.Report, r tune.Result) int {
	src, err := tunedSource(name, rep, r)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return e.finish(o, src)
}

// tuneInterrupted prints the ranking of the configurations replayed
// before an interrupt, says on standard error that tune was interrupted,
// and returns the interrupt's exit status. The -o file is not written:
// the winner of part of the grid is not the grid's.
func (e *env) tuneInterrupted(rep *tune.Report, shape rt.Shape, hardware, capacity string, jsonOut bool) int {
	if jsonOut {
		e.printJSON(rep)
	} else {
		e.printTo(func(w io.Writer) { printTuneTable(w, rep, shape, hardware, capacity) })
	}
	fmt.Fprintf(e.stderr, "moec tune: interrupted after %d configurations: the ranking is of those\n", rep.Replayed)
	return e.interruptedStatus()
}
