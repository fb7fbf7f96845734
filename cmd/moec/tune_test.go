package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

const sharedTrace = "../../testdata/traces/qwen15moe-gsm8k-5layer.jsonl"

// smallTrace returns the first rows of the shared trace: enough for the
// policies to differ, few enough to replay a grid quickly.
func smallTrace(t *testing.T, rows int) *loadedTrace {
	t.Helper()
	tr, err := readTraceRows(sharedTrace)
	if err != nil {
		t.Fatal(err)
	}
	tr.rows = tr.rows[:rows]
	return tr
}

func TestGridSize(t *testing.T) {
	// Reference §6.3: the reference autotuner's default grid has 120
	// configurations after pruning.
	if n := len(referenceGrid().expand()); n != 120 {
		t.Errorf("reference grid: %d configurations, want 120", n)
	}
	// With four strategies, capacity 4 keeps budgets 2 and 4, the others
	// all three: 4 eviction-decay pairs x (1 + 3 strategies x budgets) x 2
	// modes = 56 + 3 x 80 = 296, times 7 allocations.
	if n := len(defaultGrid().expand()); n != 2072 {
		t.Errorf("default grid: %d configurations, want 2072", n)
	}
}

func TestGridPruning(t *testing.T) {
	g := referenceGrid()
	seen := map[tuneConfig]bool{}
	for _, c := range g.expand() {
		if seen[c] {
			t.Errorf("%v appears twice", c)
		}
		seen[c] = true
		if c.Eviction != "lfu" && c.Decay != g.Decay[0] {
			t.Errorf("%v: a non-LFU eviction keeps only the first decay", c)
		}
		if c.Strategy == "none" && c.Budget != g.Budget[0] {
			t.Errorf("%v: strategy none keeps only the first budget", c)
		}
		if c.Budget > c.Capacity {
			t.Errorf("%v: budget above capacity", c)
		}
	}
	// Grid order: the Cartesian product, the last key fastest.
	got := g.expand()[:3]
	want := []tuneConfig{
		{4, "lru", 0.8, 2, "none", "gpu_only", "none"},
		{4, "lru", 0.8, 2, "none", "hybrid", "none"},
		{4, "lru", 0.8, 2, "history", "gpu_only", "none"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(tuneConfig{})); diff != "" {
		t.Errorf("first configurations (-want +got):\n%s", diff)
	}
	// A small grid counted by hand: capacity 2 drops budget 4; lru keeps
	// one decay; none keeps one budget.
	small := tuneGrid{
		Capacity: []int{2, 8}, Eviction: []string{"lru", "lfu"}, Decay: []float64{0.5, 0.9},
		Budget: []int{1, 4}, Strategy: []string{"none", "affinity"}, Mode: []string{"gpu_only"},
		Allocation: []string{"none", "kl"},
	}
	// capacity 2: (lru 1 + lfu 2) x (none 1 + affinity 1) = 6; capacity
	// 8: 3 x (1 + 2) = 9; x 2 allocations = 30.
	if n := len(small.expand()); n != 30 {
		t.Errorf("small grid: %d configurations, want 30", n)
	}
}

func TestParseGrid(t *testing.T) {
	g, err := parseGrid("g.json", []byte(`{"capacity": [8, 16], "allocation": ["none", "gini"]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := tuneGrid{
		Capacity: []int{8, 16}, Eviction: []string{"lru"}, Decay: []float64{0.95},
		Budget: []int{4}, Strategy: []string{"none"}, Mode: []string{"gpu_only"},
		Allocation: []string{"none", "gini"},
	}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("grid (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ src, err string }{
		{`[1]`, "g.json: json: cannot unmarshal array"},
		{`{"strategy": ["none"]}`, `g.json: unknown key "strategy"`},
		{`{"schedule_mode": ["hybird"]}`, `g.json: "schedule_mode": unknown value "hybird" (did you mean "hybrid"?)`},
		{`{"allocation": []}`, `g.json: "allocation" has no values`},
		{`{"capacity": [1.5]}`, `g.json: "capacity": want a list of integers`},
	} {
		_, err := parseGrid("g.json", []byte(tc.src))
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("parseGrid(%s): %v, want %q", tc.src, err, tc.err)
		}
	}
}

func tuneSmall(t *testing.T, tr *loadedTrace, grid tuneGrid, objective string, workers int) *tuneReport {
	t.Helper()
	shape, err := tr.shape("", rt.DefaultExpertSizeGB)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tune(tr, tuneOptions{grid: grid, gridName: "test", objective: objective, shape: shape, model: replay.DefaultCostModel(), workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestTuneObjective(t *testing.T) {
	tr := smallTrace(t, 3000)
	for _, objective := range []string{"hit_rate", "time"} {
		rep := tuneSmall(t, tr, referenceGrid(), objective, 4)
		if rep.Replayed != 120 || len(rep.Results) != 120 {
			t.Fatalf("%s: %d replayed, want 120", objective, rep.Replayed)
		}
		distinct := map[float64]bool{}
		for i, r := range rep.Results {
			distinct[r.HitRate] = true
			if r.Rank != i+1 {
				t.Errorf("%s: result %d has rank %d", objective, i, r.Rank)
			}
			if i == 0 {
				continue
			}
			p := rep.Results[i-1]
			var worse, tie bool
			if objective == "time" {
				worse, tie = r.perToken > p.perToken, r.perToken == p.perToken
			} else {
				worse, tie = r.HitRate < p.HitRate, r.HitRate == p.HitRate
			}
			if !worse && !(tie && r.Index > p.Index) {
				t.Errorf("%s: rank %d (config %d, %.4f, %v) after rank %d (config %d, %.4f, %v)",
					objective, r.Rank, r.Index, r.HitRate, r.perToken, p.Rank, p.Index, p.HitRate, p.perToken)
			}
		}
		if len(distinct) < 10 {
			t.Errorf("%s: only %d distinct hit rates: the configurations do not differ", objective, len(distinct))
		}
	}
}

// TestTuneParallel checks that replaying on many workers gives exactly
// what one worker gives.
func TestTuneParallel(t *testing.T) {
	tr := smallTrace(t, 1500)
	grid := defaultGrid()
	grid.Capacity = []int{8, 32}
	one := tuneSmall(t, tr, grid, "hit_rate", 1)
	many := tuneSmall(t, tr, grid, "hit_rate", 16)
	if one.Replayed < 100 {
		t.Fatalf("%d replayed: grid too small to test", one.Replayed)
	}
	opts := cmp.Options{cmp.AllowUnexported(tuneResult{}), cmp.Comparer(func(a, b *rt.Spec) bool { return a.Name == b.Name }),
		cmp.Comparer(func(a, b *replay.Result) bool { return cmp.Equal(a.Count, b.Count) && cmp.Equal(a.Stats, b.Stats) })}
	if diff := cmp.Diff(one, many, opts); diff != "" {
		t.Errorf("1 worker vs 16 (-1 +16):\n%s", diff)
	}
}

// TestTunedSource checks that every configuration of the default grid
// written as .moe text parses, checks clean, formats to itself and
// resolves to the Spec that was replayed.
func TestTunedSource(t *testing.T) {
	rep := &tuneReport{Trace: "t.jsonl", Grid: "default", Objective: "hit_rate", Configurations: 1}
	ignore := cmp.Options{cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".Pos", ".Source", ".KeyPos":
			return true
		}
		return false
	}, cmp.Ignore()), cmpopts.EquateEmpty()}
	grid := defaultGrid()
	grid.Capacity = append([]int{1, 2, 3}, grid.Capacity...)
	grid.Budget = append([]int{1}, grid.Budget...)
	grid.Eviction = rt.EvictionWords()
	grid.Mode = rt.ScheduleModeWords()
	for i, c := range grid.expand() {
		want := c.spec("tuned")
		if len(want.Check()) > 0 {
			continue
		}
		src, err := tunedSource("tuned", rep, tuneResult{Index: i + 1, Config: c, HitRate: 0.5, MsPerToken: 1, Belady: 0.6})
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		specs, diags := checkSource("best.moe", src)
		if len(diags) > 0 {
			t.Fatalf("%v:\n%s\n%v", c, src, diags)
		}
		if diff := cmp.Diff(want, specs[0], ignore); diff != "" {
			t.Fatalf("%v: spec (-replayed +written):\n%s", c, diff)
		}
		f, _ := parser.ParseFile("best.moe", src)
		if got := ast.Format(f); string(got) != string(src) {
			t.Fatalf("%v: the text is not formatted:\n%s\nformatted:\n%s", c, src, got)
		}
	}
}
