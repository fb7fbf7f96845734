package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moepolicy/moec/internal/spell"
	"github.com/moepolicy/moec/policy"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/trace"
)

var tuneCommand = &command{
	name:      "tune",
	usageLine: "-trace file [-grid file|default|reference] [-objective hit_rate|time] [-top n] [-json] [-o file] [-expert-bytes size]",
	short:     "search a grid of policies for the best on a trace",
	long: `Tune replays every policy of a grid of configurations over a routing
trace and ranks them: by hit rate (highest first), or with -objective
time by the modeled time per token of the replay's cost model (lowest
first, see "moec help replay"). Ties keep grid order. The trace is read
once into memory and the configurations are replayed in parallel, one
worker per core.

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

The grids:

	reference
		The reference autotuner's: capacity 4, 8, 16, 32; eviction lru,
		lfu; lfu_decay 0.8, 0.9, 0.95; prefetch_budget 2, 4, 8;
		prefetch_strategy none, history; schedule_mode gpu_only, hybrid;
		allocation none. 120 configurations after pruning.
	default
		The reference's grid with every prefetch strategy (none,
		history, affinity, lookahead) and every allocation (none and the
		six signals): 2,072 configurations after pruning.
	file
		A JSON object with any of the seven keys, each a list of values:
		{"capacity": [8, 16], "eviction": ["lru", "lfu"]}. A key left out
		takes its default (allocation: none).

The table shows the top configurations with their hit rate, Belady's
optimal hit rate for the same slots (for context: the best a cache
without prefetch can do; a policy that prefetches can beat it), and the
modeled time per token.

The flags are:

	-trace file
		The routing trace, in moec's JSONL trace format.
	-grid file|default|reference
		The grid to search; default by default.
	-objective hit_rate|time
		What to rank by.
	-top n
		How many configurations to show; 0 shows all.
	-json
		Print the results as one JSON object instead of a table.
	-o file
		Write the winner as a formatted .moe file, with a comment naming
		the trace and its score.
	-name name
		The winner's policy name in -o's file; tuned by default.
	-expert-bytes size
		The bytes of one expert, as for replay. Without it, the size of
		the trace's model if moec knows it, else 1.2GB.
	-j n
		Replay n configurations at a time; the number of cores by
		default.`,
	run: runTune,
}

// tuneKeys are a grid's keys, in grid order.
var tuneKeys = []string{"capacity", "eviction", "lfu_decay", "prefetch_budget", "prefetch_strategy", "schedule_mode", "allocation"}

// allocNone is the allocation of a configuration with one cache for all
// layers.
const allocNone = "none"

// A tuneGrid is the values of each key of a grid.
type tuneGrid struct {
	Capacity   []int     `json:"capacity"`
	Eviction   []string  `json:"eviction"`
	Decay      []float64 `json:"lfu_decay"`
	Budget     []int     `json:"prefetch_budget"`
	Strategy   []string  `json:"prefetch_strategy"`
	Mode       []string  `json:"schedule_mode"`
	Allocation []string  `json:"allocation"`
}

// referenceGrid returns the reference autotuner's default grid
// (reference §6.3).
func referenceGrid() tuneGrid {
	return tuneGrid{
		Capacity:   []int{4, 8, 16, 32},
		Eviction:   []string{"lru", "lfu"},
		Decay:      []float64{0.8, 0.9, 0.95},
		Budget:     []int{2, 4, 8},
		Strategy:   []string{"none", "history"},
		Mode:       []string{"gpu_only", "hybrid"},
		Allocation: []string{allocNone},
	}
}

// defaultGrid returns the reference's grid with every prefetch strategy
// and every allocation.
func defaultGrid() tuneGrid {
	g := referenceGrid()
	g.Strategy = rt.PrefetchStrategyWords()
	g.Allocation = append([]string{allocNone}, rt.AllocationWords()...)
	return g
}

// parseGrid reads a grid from JSON: an object with any of tuneKeys, each
// a non-empty list. A key left out takes its default value alone.
func parseGrid(name string, data []byte) (tuneGrid, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return tuneGrid{}, fmt.Errorf("%s: %v", name, err)
	}
	d := rt.NewSpec("", 0)
	g := tuneGrid{
		Capacity:   []int{16},
		Eviction:   []string{d.Cache.Eviction.String()},
		Decay:      []float64{d.Cache.Decay},
		Budget:     []int{d.Prefetch.Budget},
		Strategy:   []string{d.Prefetch.Strategy.String()},
		Mode:       []string{d.Schedule.Mode.String()},
		Allocation: []string{allocNone},
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var dst any
		switch k {
		case "capacity":
			dst = &g.Capacity
		case "eviction":
			dst = &g.Eviction
		case "lfu_decay":
			dst = &g.Decay
		case "prefetch_budget":
			dst = &g.Budget
		case "prefetch_strategy":
			dst = &g.Strategy
		case "schedule_mode":
			dst = &g.Mode
		case "allocation":
			dst = &g.Allocation
		default:
			msg := fmt.Sprintf("%s: unknown key %q", name, k)
			if s := spell.Suggest(k, tuneKeys); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return tuneGrid{}, fmt.Errorf("%s", msg)
		}
		if err := json.Unmarshal(raw[k], dst); err != nil {
			return tuneGrid{}, fmt.Errorf("%s: %q: want a list of %s", name, k, keyKind(k))
		}
	}
	for _, c := range []struct {
		key   string
		n     int
		words []string
		vals  []string
	}{
		{"capacity", len(g.Capacity), nil, nil},
		{"eviction", len(g.Eviction), rt.EvictionWords(), g.Eviction},
		{"lfu_decay", len(g.Decay), nil, nil},
		{"prefetch_budget", len(g.Budget), nil, nil},
		{"prefetch_strategy", len(g.Strategy), rt.PrefetchStrategyWords(), g.Strategy},
		{"schedule_mode", len(g.Mode), rt.ScheduleModeWords(), g.Mode},
		{"allocation", len(g.Allocation), append([]string{allocNone}, rt.AllocationWords()...), g.Allocation},
	} {
		if c.n == 0 {
			return tuneGrid{}, fmt.Errorf("%s: %q has no values", name, c.key)
		}
		for _, v := range c.vals {
			if !slices.Contains(c.words, v) {
				msg := fmt.Sprintf("%s: %q: unknown value %q", name, c.key, v)
				if s := spell.Suggest(v, c.words); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				return tuneGrid{}, fmt.Errorf("%s", msg)
			}
		}
	}
	return g, nil
}

func keyKind(k string) string {
	switch k {
	case "capacity", "prefetch_budget":
		return "integers"
	case "lfu_decay":
		return "numbers"
	}
	return "strings"
}

// A tuneConfig is one point of a grid.
type tuneConfig struct {
	Capacity   int     `json:"capacity"`
	Eviction   string  `json:"eviction"`
	Decay      float64 `json:"lfu_decay"`
	Budget     int     `json:"prefetch_budget"`
	Strategy   string  `json:"prefetch_strategy"`
	Mode       string  `json:"schedule_mode"`
	Allocation string  `json:"allocation"`
}

// usesDecay reports whether an eviction reads frequency_decay.
func usesDecay(eviction string) bool { return eviction == "lfu" || eviction == "fallback" }

// expand returns the grid's configurations in grid order (the Cartesian
// product, keys in tuneKeys order, the last varying fastest), pruned as
// the reference prunes.
func (g tuneGrid) expand() []tuneConfig {
	var out []tuneConfig
	for _, c := range g.Capacity {
		for _, ev := range g.Eviction {
			for di, d := range g.Decay {
				if di > 0 && !usesDecay(ev) {
					continue
				}
				for bi, b := range g.Budget {
					for _, s := range g.Strategy {
						if s == "none" && bi > 0 || b > c {
							continue
						}
						for _, m := range g.Mode {
							for _, a := range g.Allocation {
								out = append(out, tuneConfig{c, ev, d, b, s, m, a})
							}
						}
					}
				}
			}
		}
	}
	return out
}

// spec returns the configuration as a policy called name. The words were
// checked when the grid was read.
func (c tuneConfig) spec(name string) *rt.Spec {
	s := rt.NewSpec(name, c.Capacity)
	s.Cache.Eviction, _ = rt.ParseEviction(c.Eviction)
	if s.Cache.Eviction == rt.Fallback {
		s.Cache.Primary, s.Cache.Secondary = rt.LFU, rt.LRU
	}
	if usesDecay(c.Eviction) {
		s.Cache.Decay = c.Decay
	}
	s.Prefetch.Strategy, _ = rt.ParsePrefetchStrategy(c.Strategy)
	s.Prefetch.Budget = c.Budget
	if s.Prefetch.Strategy == rt.PrefetchNone {
		// The budget means nothing without prefetch: keep what a policy
		// without a prefetch block has, within the capacity.
		s.Prefetch.Budget = min(rt.DefaultBudget, c.Capacity)
	}
	s.Schedule.Mode, _ = rt.ParseScheduleMode(c.Mode)
	if c.Allocation != allocNone {
		s.PerLayer = rt.DefaultPerLayer()
		s.PerLayer.Allocation, _ = rt.ParseAllocation(c.Allocation)
		s.PerLayer.MinCapacity = 1
		s.PerLayer.TotalBudget = c.Capacity
	}
	return s
}

// String describes the configuration in a few words.
func (c tuneConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "capacity %d, %s", c.Capacity, c.Eviction)
	if usesDecay(c.Eviction) {
		fmt.Fprintf(&b, " %s", num(c.Decay))
	}
	fmt.Fprintf(&b, ", prefetch %s", c.Strategy)
	if c.Strategy != "none" {
		fmt.Fprintf(&b, " %d", c.Budget)
	}
	fmt.Fprintf(&b, ", %s, allocation %s", c.Mode, c.Allocation)
	return b.String()
}

// A replayJob is one policy to replay; an outcome is what came of it.
type replayJob struct {
	spec *rt.Spec
}

type outcome struct {
	res  *replay.Result
	cost replay.Cost
	err  error
}

// replayAll replays every job over rows with the given number of workers
// (at least one), each over its own source, and returns the outcomes in
// job order. done, when not nil, is called from the calling goroutine
// with the number of jobs finished.
func replayAll(jobs []replayJob, rows []replay.Row, shape rt.Shape, model replay.CostModel, workers int, done func(int64)) []outcome {
	out := make([]outcome, len(jobs))
	next := make(chan int)
	finished := make(chan int)
	workers = max(1, min(workers, len(jobs)))
	for range workers {
		go func() {
			for i := range next {
				out[i] = replayOne(jobs[i].spec, rows, shape, model)
				finished <- i
			}
		}()
	}
	go func() {
		for i := range jobs {
			next <- i
		}
		close(next)
	}()
	for n := range len(jobs) {
		<-finished
		if done != nil {
			done(int64(n + 1))
		}
	}
	return out
}

func replayOne(spec *rt.Spec, rows []replay.Row, shape rt.Shape, model replay.CostModel) outcome {
	p, err := rt.New(spec, shape)
	if err != nil {
		return outcome{err: err}
	}
	res, err := replay.Run(p, replay.NewSliceSource(rows), replay.Options{
		Shape:  shape,
		Slots:  spec.MaxSlots(shape),
		Pinned: replay.PinnedKeys(shape.Layers, spec.Cache.Pin),
	})
	if err != nil {
		return outcome{err: err}
	}
	return outcome{res: res, cost: model.Cost(res)}
}

// loadedTrace is a trace read into memory.
type loadedTrace struct {
	name   string
	header trace.Header
	rows   []replay.Row
}

// loadTrace reads the trace of command name into memory with the model's
// shape, -expert-bytes applied; on failure it reports and returns nil with
// the exit status.
func (e *env) loadTrace(name, path, expertBytes string) (*loadedTrace, rt.Shape, int) {
	t, err := readTraceRows(path)
	if err != nil {
		e.errorf("%v", err)
		return nil, rt.Shape{}, exitError
	}
	shape, err := t.shape(expertBytes, rt.DefaultExpertSizeGB)
	if err != nil {
		fmt.Fprintf(e.stderr, "moec %s: %v\n", name, err)
		return nil, rt.Shape{}, exitUsage
	}
	return t, shape, exitOK
}

func readTraceRows(path string) (*loadedTrace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := trace.NewReader(f, path)
	if err != nil {
		return nil, err
	}
	t := &loadedTrace{name: path, header: r.Header()}
	t.rows = make([]replay.Row, 0, max(0, t.header.Entries))
	for row, err := range r.All() {
		if err != nil {
			return nil, err
		}
		t.rows = append(t.rows, replay.Row{
			Layer:   row.Layer,
			Experts: slices.Clone(row.Experts),
			Scores:  slices.Clone(row.Scores),
		})
	}
	return t, nil
}

// accesses returns every selected expert of the trace in order, for
// Belady.
func (t *loadedTrace) accesses() []rt.Key {
	var keys []rt.Key
	for _, r := range t.rows {
		for _, e := range r.Experts {
			keys = append(keys, rt.Key{Layer: int32(r.Layer), Expert: e})
		}
	}
	return keys
}

// shape returns the trace's shape with the expert size of the
// -expert-bytes flag (flag), the trace's model, or fallbackGB.
func (t *loadedTrace) shape(flag string, fallbackGB float64) (rt.Shape, error) {
	s := t.header.Shape()
	switch {
	case flag != "":
		b, err := parseBytes(flag)
		if err != nil {
			return s, fmt.Errorf("-expert-bytes: %v", err)
		}
		s.ExpertBytes = b
	case s.ExpertBytes == 0:
		s.ExpertBytes = int64(fallbackGB * 1e9)
	}
	return s, nil
}

// A tuneResult is one replayed configuration.
type tuneResult struct {
	Rank       int        `json:"rank"`
	Index      int        `json:"index"` // in grid order, from 1
	Config     tuneConfig `json:"config"`
	HitRate    float64    `json:"hit_rate"`
	Hits       int64      `json:"hits"`
	Misses     int64      `json:"misses"`
	Loads      int64      `json:"loads"`
	Prefetches int64      `json:"prefetches"`
	Evictions  int64      `json:"evictions"`
	MsPerToken float64    `json:"modeled_ms_per_token"`
	Belady     float64    `json:"belady_hit_rate"`

	perToken time.Duration
	spec     *rt.Spec
	res      *replay.Result
}

// A tuneSkip counts the configurations skipped for one reason.
type tuneSkip struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
}

// tuneReport is what tune found; -json prints it.
type tuneReport struct {
	Trace          string       `json:"trace"`
	Grid           string       `json:"grid"`
	Objective      string       `json:"objective"`
	Configurations int          `json:"configurations"`
	Replayed       int          `json:"replayed"`
	Skipped        []tuneSkip   `json:"skipped"`
	Results        []tuneResult `json:"results"`
}

// tuneOptions are tune's inputs besides the trace.
type tuneOptions struct {
	grid      tuneGrid
	gridName  string
	objective string
	shape     rt.Shape
	model     replay.CostModel
	workers   int
	progress  func(total int) func(int64) // makes the progress callback; may be nil
}

// tune replays every valid configuration of the grid over t and returns
// all results, ranked.
func tune(t *loadedTrace, o tuneOptions) (*tuneReport, error) {
	configs := o.grid.expand()
	rep := &tuneReport{Trace: t.name, Grid: o.gridName, Objective: o.objective, Configurations: len(configs), Skipped: []tuneSkip{}}
	skip := func(reason string) {
		for i := range rep.Skipped {
			if rep.Skipped[i].Reason == reason {
				rep.Skipped[i].Count++
				return
			}
		}
		rep.Skipped = append(rep.Skipped, tuneSkip{reason, 1})
	}
	var (
		jobs    []replayJob
		results []tuneResult
	)
	for i, c := range configs {
		s := c.spec(fmt.Sprintf("config%d", i+1))
		if v := s.Check(); len(v) > 0 {
			skip(v[0].Msg)
			continue
		}
		if s.PerLayer != nil && c.Capacity < o.shape.Layers {
			skip(fmt.Sprintf("per-layer budget of fewer slots than the %d layers", o.shape.Layers))
			continue
		}
		jobs = append(jobs, replayJob{s})
		results = append(results, tuneResult{Index: i + 1, Config: c, spec: s})
	}
	var done func(int64)
	if o.progress != nil {
		done = o.progress(len(jobs))
	}
	outs := replayAll(jobs, t.rows, o.shape, o.model, o.workers, done)
	for i, out := range outs {
		if out.err != nil {
			return nil, fmt.Errorf("configuration %d (%s): %v", results[i].Index, results[i].Config, out.err)
		}
		r := &results[i]
		r.res = out.res
		r.HitRate, r.Hits, r.Misses = out.res.HitRate(), out.res.Hits, out.res.Misses
		r.Loads, r.Prefetches, r.Evictions = out.res.Loads, out.res.Prefetches, out.res.Evictions
		r.perToken = out.cost.PerToken
		r.MsPerToken = ms(out.cost.PerToken)
	}
	sortResults(results, o.objective)
	for i := range results {
		results[i].Rank = i + 1
	}
	rep.Replayed, rep.Results = len(results), results
	return rep, nil
}

// sortResults ranks results by the objective; ties keep grid order.
func sortResults(rs []tuneResult, objective string) {
	slices.SortStableFunc(rs, func(a, b tuneResult) int {
		var c int
		if objective == "time" {
			c = cmpInt(int64(a.perToken), int64(b.perToken))
		} else {
			c = cmp.Compare(b.HitRate, a.HitRate)
		}
		if c != 0 {
			return c
		}
		return a.Index - b.Index
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addBelady fills in Belady's hit rate for the first n results: the
// optimum for the same slots (one cache of the capacity, or each layer's
// final capacity).
func addBelady(t *loadedTrace, rs []tuneResult) error {
	acc := t.accesses()
	flat := map[int]float64{}
	for i := range rs {
		r := &rs[i]
		if r.spec.PerLayer == nil {
			if h, ok := flat[r.Config.Capacity]; ok {
				r.Belady = h
				continue
			}
		}
		opt, err := belady(acc, r.spec, r.res)
		if err != nil {
			return err
		}
		r.Belady = opt.Count.HitRate()
		if r.spec.PerLayer == nil {
			flat[r.Config.Capacity] = r.Belady
		}
	}
	return nil
}

func runTune(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	tracePath := fs.String("trace", "", "routing trace file")
	gridFlag := fs.String("grid", "default", "grid: a JSON file, default or reference")
	objective := fs.String("objective", "hit_rate", "hit_rate or time")
	top := fs.Int("top", 5, "configurations to show; 0: all")
	jsonOut := fs.Bool("json", false, "print JSON")
	out := fs.String("o", "", "write the winner to this .moe file")
	name := fs.String("name", "tuned", "the winner's policy name")
	expertBytes := fs.String("expert-bytes", "", "bytes of one expert")
	workers := fs.Int("j", runtime.GOMAXPROCS(0), "configurations replayed at a time")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *tracePath == "" || fs.NArg() != 0 {
		return e.usageError(c)
	}
	if *objective != "hit_rate" && *objective != "time" {
		fmt.Fprintf(e.stderr, "moec tune: -objective %q: want hit_rate or time\n", *objective)
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
	var grid tuneGrid
	switch *gridFlag {
	case "default":
		grid = defaultGrid()
	case "reference":
		grid = referenceGrid()
	default:
		data, err := os.ReadFile(*gridFlag)
		if err == nil {
			grid, err = parseGrid(*gridFlag, data)
		}
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
	}
	t, shape, status := e.loadTrace("tune", *tracePath, *expertBytes)
	if t == nil {
		return status
	}
	bar := &lateProgress{w: e.stderr}
	rep, err := tune(t, tuneOptions{
		grid: grid, gridName: *gridFlag, objective: *objective,
		shape: shape, model: replay.DefaultCostModel(), workers: *workers,
		progress: bar.start,
	})
	bar.done()
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if len(rep.Results) == 0 {
		var why []string
		for _, s := range rep.Skipped {
			why = append(why, fmt.Sprintf("%d skipped: %s", s.Count, s.Reason))
		}
		e.errorf("no configuration of the grid is valid (%s)", strings.Join(why, "; "))
		return exitError
	}
	shown := rep.Results
	if *top > 0 && *top < len(shown) {
		shown = shown[:*top]
	}
	if err := addBelady(t, shown); err != nil {
		e.errorf("optimum: %v", err)
		return exitError
	}
	if *out != "" {
		if status := e.writeTuned(*out, *name, rep, shown[0]); status != exitOK {
			return status
		}
	}
	if *jsonOut {
		full := *rep
		full.Results = shown
		b, err := json.MarshalIndent(full, "", "  ")
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		if !e.writeAll(e.stdout, append(b, '\n')) {
			return exitError
		}
		return exitOK
	}
	printTuneTable(e.stdout, rep, shape, shown)
	return exitOK
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

func printTuneTable(w io.Writer, rep *tuneReport, shape rt.Shape, shown []tuneResult) {
	fmt.Fprintf(w, "trace      %s: %d layers x %d experts, top-%d, %s per expert\n",
		rep.Trace, shape.Layers, shape.Experts, shape.TopK, formatBytes(shape.ExpertBytes))
	fmt.Fprintf(w, "grid       %s: %d configurations, %d replayed, %d skipped\n",
		rep.Grid, rep.Configurations, rep.Replayed, rep.Configurations-rep.Replayed)
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "           %d skipped: %s\n", s.Count, s.Reason)
	}
	by := "hit rate, highest first"
	if rep.Objective == "time" {
		by = "modeled time per token, lowest first"
	}
	fmt.Fprintf(w, "objective  %s\n\n", by)
	fmt.Fprintln(w, "rank  config  capacity  eviction  decay  strategy   budget  mode      allocation  hit rate  Belady  ms/token")
	for _, r := range shown {
		c := r.Config
		decay, budget := "-", "-"
		if usesDecay(c.Eviction) {
			decay = num(c.Decay)
		}
		if c.Strategy != "none" {
			budget = strconv.Itoa(c.Budget)
		}
		fmt.Fprintf(w, "%4d  %6d  %8d  %-8s  %5s  %-9s  %6s  %-8s  %-10s  %8.4f  %6.4f  %8.3f\n",
			r.Rank, r.Index, c.Capacity, c.Eviction, decay, c.Strategy, budget, c.Mode, c.Allocation, r.HitRate, r.Belady, r.MsPerToken)
	}
}

// tunedSource returns the .moe text of the winner, r, with a comment
// naming the trace and the score. It writes the values the grid chose
// even where they are the defaults, and only the prefetch budget where
// the strategy is none, which keeps it within the capacity.
func tunedSource(name string, rep *tuneReport, r tuneResult) ([]byte, error) {
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
	if usesDecay(c.Eviction) {
		keep = append(keep, "cache.frequency_decay")
	}
	if c.Strategy != "none" {
		keep = append(keep, "prefetch.budget")
	}
	return policy.Format(c.spec(name), &policy.FormatOptions{Header: header, Keep: keep})
}

// writeTuned writes the winner to path, replacing path only when all of
// it could be written.
func (e *env) writeTuned(path, name string, rep *tuneReport, r tuneResult) int {
	src, err := tunedSource(name, rep, r)
	if err == nil {
		err = writeFileAtomic(path, src)
	}
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}
