package tune

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGridSize(t *testing.T) {
	// Reference §6.3: the reference autotuner's default grid has 120
	// configurations after pruning.
	if n := len(ReferenceGrid().Expand()); n != 120 {
		t.Errorf("reference grid: %d configurations, want 120", n)
	}
	// With four strategies, capacity 4 keeps budgets 2 and 4, the others
	// all three: 6 eviction-decay-window triples (lru, lfu x 3 decays,
	// frequency_threshold x 2 windows) x (1 + 3 strategies x budgets) x 2
	// modes = 84 + 3 x 120 = 444, times 7 allocations.
	if n := len(DefaultGrid().Expand()); n != 3108 {
		t.Errorf("default grid: %d configurations, want 3108", n)
	}
}

func TestGridPruning(t *testing.T) {
	g := ReferenceGrid()
	seen := map[Config]bool{}
	for _, c := range g.Expand() {
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
	got := g.Expand()[:3]
	want := []Config{
		{4, "lru", 0.8, 2, "none", "gpu_only", "none", 0, 0, 0, 0, 0},
		{4, "lru", 0.8, 2, "none", "hybrid", "none", 0, 0, 0, 0, 0},
		{4, "lru", 0.8, 2, "history", "gpu_only", "none", 0, 0, 0, 0, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first configurations (-want +got):\n%s", diff)
	}
	// A small grid counted by hand: capacity 2 drops budget 4; lru keeps
	// one decay; none keeps one budget.
	small := Grid{
		Capacity: []int{2, 8}, Eviction: []string{"lru", "lfu"}, Decay: []float64{0.5, 0.9},
		Budget: []int{1, 4}, Strategy: []string{"none", "affinity"}, Mode: []string{"gpu_only"},
		Allocation: []string{"none", "kl"},
	}
	// capacity 2: (lru 1 + lfu 2) x (none 1 + affinity 1) = 6; capacity
	// 8: 3 x (1 + 2) = 9; x 2 allocations = 30.
	if n := len(small.Expand()); n != 30 {
		t.Errorf("small grid: %d configurations, want 30", n)
	}
	// Windows multiply only frequency_threshold's configurations, and only
	// theirs carry one.
	small.Eviction = append(small.Eviction, "frequency_threshold")
	small.Windows = []int{5, 40}
	// frequency_threshold: 2 windows x (capacity 2: 2, capacity 8: 3) x 2
	// allocations = 20, beside the 30.
	var windows []int
	for _, c := range small.Expand() {
		if (c.WindowPerExpert != 0) != (c.Eviction == "frequency_threshold") {
			t.Errorf("%v: window %d", c, c.WindowPerExpert)
		}
		if c.WindowPerExpert != 0 {
			windows = append(windows, c.WindowPerExpert)
		}
	}
	if len(windows) != 20 || windows[0] != 5 || windows[len(windows)-1] != 40 {
		t.Errorf("small grid with windows: frequency_threshold's %v, want 20, from 5 to 40", windows)
	}
}

func TestParseGrid(t *testing.T) {
	g, err := ParseGrid("g.json", []byte(`{"capacity": [8, 16], "allocation": ["none", "gini"]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Grid{
		Name:     "g.json",
		Capacity: []int{8, 16}, Eviction: []string{"lru"}, Decay: []float64{0.95}, Windows: []int{5},
		Budget: []int{4}, Strategy: []string{"none"}, Mode: []string{"gpu_only"},
		Allocation: []string{"none", "gini"},
	}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("grid (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ src, err string }{
		{`[1]`, "g.json: json: cannot unmarshal array"},
		{`{"strategy": ["none"]}`, `g.json: unknown key "strategy"`},
		{`{"capacty": [4]}`, `g.json: unknown key "capacty" (did you mean "capacity"?)`},
		{`{"schedule_mode": ["hybird"]}`, `g.json: "schedule_mode": unknown value "hybird" (did you mean "hybrid"?)`},
		{`{"allocation": []}`, `g.json: "allocation" has no values`},
		{`{"capacity": [1.5]}`, `g.json: "capacity": want a list of integers`},
		{`{"freq_window_per_expert": [5, 0]}`, `g.json: "freq_window_per_expert": 0 accesses an expert; a window holds at least 1`},
		{`{"freq_window_per_expert": ["long"]}`, `g.json: "freq_window_per_expert": want a list of integers`},
	} {
		_, err := ParseGrid("g.json", []byte(tc.src))
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("ParseGrid(%s): %v, want %q", tc.src, err, tc.err)
		}
	}
}

// TestConfigString checks the few words that name a configuration in
// errors.
func TestConfigString(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{8, "lru", 0.9, 4, "none", "gpu_only", "none", 0, 0, 0, 0, 0}, "capacity 8, lru, prefetch none, gpu_only, allocation none"},
		{Config{16, "lfu", 0.95, 4, "history", "hybrid", "kl", 52.5, 2.1, 0, 0, 0}, "capacity 16, lfu 0.95, prefetch history 4, hybrid, allocation kl"},
		{Config{56, "frequency_threshold", 0.9, 4, "none", "hybrid", "none", 0, 0, 5, 0.0029, 1280}, "capacity 56, frequency_threshold 0.0029 over 1280, prefetch none, hybrid, allocation none"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%#v: %q, want %q", tc.c, got, tc.want)
		}
	}
}
