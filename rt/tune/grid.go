package tune

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/internal/spell"
	"github.com/moepolicy/moec/rt"
)

// keys are a grid's keys, in grid order.
var keys = []string{"capacity", "eviction", "lfu_decay", "freq_window_per_expert", "prefetch_budget", "prefetch_strategy", "schedule_mode", "allocation"}

// AllocNone is the allocation of a configuration with one cache for all
// layers.
const AllocNone = "none"

// A Grid is the values of each key of a grid of configurations, and its
// name for reports.
type Grid struct {
	Name     string    `json:"-"`
	Capacity []int     `json:"capacity"`
	Eviction []string  `json:"eviction"`
	Decay    []float64 `json:"lfu_decay"`
	// Windows are the frequency_threshold eviction's windows, in accesses
	// per expert its cache sees (rt.FrequencyOver); none means
	// rt.FreqAccessesPerSlot alone.
	Windows    []int    `json:"freq_window_per_expert"`
	Budget     []int    `json:"prefetch_budget"`
	Strategy   []string `json:"prefetch_strategy"`
	Mode       []string `json:"schedule_mode"`
	Allocation []string `json:"allocation"`
}

// ReferenceGrid returns the reference autotuner's default grid
// (reference §6.3), named "reference".
func ReferenceGrid() Grid {
	return Grid{
		Name:       "reference",
		Capacity:   []int{4, 8, 16, 32},
		Eviction:   []string{"lru", "lfu"},
		Decay:      []float64{0.8, 0.9, 0.95},
		Windows:    []int{rt.FreqAccessesPerSlot},
		Budget:     []int{2, 4, 8},
		Strategy:   []string{"none", "history"},
		Mode:       []string{"gpu_only", "hybrid"},
		Allocation: []string{AllocNone},
	}
}

// DefaultGrid returns the reference's grid with the frequency-threshold
// eviction (over windows of 5 and 40 accesses an expert), every prefetch
// strategy and every allocation, named "default".
func DefaultGrid() Grid {
	g := ReferenceGrid()
	g.Name = "default"
	g.Eviction = append(g.Eviction, rt.FrequencyThreshold.String())
	g.Windows = []int{rt.FreqAccessesPerSlot, 40}
	g.Strategy = rt.PrefetchStrategyWords()
	g.Allocation = append([]string{AllocNone}, rt.AllocationWords()...)
	return g
}

// ParseGrid reads the grid file name from data: a JSON object with any of
// the keys capacity, eviction, lfu_decay, freq_window_per_expert,
// prefetch_budget, prefetch_strategy, schedule_mode and allocation, each a
// non-empty list.
// A key left out takes its default value alone. The grid is named name;
// errors begin with it.
func ParseGrid(name string, data []byte) (Grid, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Grid{}, fmt.Errorf("%s: %v", name, err)
	}
	d := rt.NewSpec("", 0)
	g := Grid{
		Name:       name,
		Capacity:   []int{16},
		Eviction:   []string{d.Cache.Eviction.String()},
		Decay:      []float64{d.Cache.Decay},
		Windows:    []int{rt.FreqAccessesPerSlot},
		Budget:     []int{d.Prefetch.Budget},
		Strategy:   []string{d.Prefetch.Strategy.String()},
		Mode:       []string{d.Schedule.Mode.String()},
		Allocation: []string{AllocNone},
	}
	dsts := map[string]any{
		"capacity": &g.Capacity, "eviction": &g.Eviction, "lfu_decay": &g.Decay, "freq_window_per_expert": &g.Windows, "prefetch_budget": &g.Budget,
		"prefetch_strategy": &g.Strategy, "schedule_mode": &g.Mode, "allocation": &g.Allocation,
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		dst, ok := dsts[k]
		if !ok {
			return Grid{}, fmt.Errorf("%s: unknown key %q%s", name, k, hint(k, keys))
		}
		if err := json.Unmarshal(raw[k], dst); err != nil {
			return Grid{}, fmt.Errorf("%s: %q: want a list of %s", name, k, keyKind(k))
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
		{"freq_window_per_expert", len(g.Windows), nil, nil},
		{"prefetch_budget", len(g.Budget), nil, nil},
		{"prefetch_strategy", len(g.Strategy), rt.PrefetchStrategyWords(), g.Strategy},
		{"schedule_mode", len(g.Mode), rt.ScheduleModeWords(), g.Mode},
		{"allocation", len(g.Allocation), append([]string{AllocNone}, rt.AllocationWords()...), g.Allocation},
	} {
		if c.n == 0 {
			return Grid{}, fmt.Errorf("%s: %q has no values", name, c.key)
		}
		for _, v := range c.vals {
			if !slices.Contains(c.words, v) {
				return Grid{}, fmt.Errorf("%s: %q: unknown value %q%s", name, c.key, v, hint(v, c.words))
			}
		}
	}
	for _, w := range g.Windows {
		if w < 1 {
			return Grid{}, fmt.Errorf("%s: \"freq_window_per_expert\": %d accesses an expert; a window holds at least 1", name, w)
		}
	}
	return g, nil
}

// hint returns ` (did you mean "w"?)` for the word of words closest to
// word, or "" when none is close.
func hint(word string, words []string) string {
	if s := spell.Suggest(word, words); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// keyKind names what the values of key k are.
func keyKind(k string) string {
	switch k {
	case "capacity", "prefetch_budget", "freq_window_per_expert":
		return "integers"
	case "lfu_decay":
		return "numbers"
	}
	return "strings"
}

// A Config is one point of a grid.
type Config struct {
	Capacity   int     `json:"capacity"`
	Eviction   string  `json:"eviction"`
	Decay      float64 `json:"lfu_decay"`
	Budget     int     `json:"prefetch_budget"`
	Strategy   string  `json:"prefetch_strategy"`
	Mode       string  `json:"schedule_mode"`
	Allocation string  `json:"allocation"`

	// PCIeGBps and CPUExpertMS, when above 0, are the hardware's figures
	// that a hybrid configuration decides with (schedule pcie_gbps and
	// cpu_expert_ms): Tune sets them from its cost model, so that hybrid
	// runs a miss on the CPU where that is faster on the hardware at hand.
	PCIeGBps    float64 `json:"pcie_gbps,omitempty"`
	CPUExpertMS float64 `json:"cpu_expert_ms,omitempty"`

	// WindowPerExpert is a frequency_threshold configuration's window in
	// accesses per expert its cache sees (0 for the other evictions).
	// FreqThreshold and FreqWindow, when above 0, are its freq_threshold
	// and freq_window: Tune sizes them for the experts its cache sees
	// (rt.FrequencyOver).
	WindowPerExpert int     `json:"freq_window_per_expert,omitempty"`
	FreqThreshold   float64 `json:"freq_threshold,omitempty"`
	FreqWindow      int     `json:"freq_window,omitempty"`
}

// UsesDecay reports whether the configuration's eviction reads
// frequency_decay.
func (c Config) UsesDecay() bool { return usesDecay(c.Eviction) }

func usesDecay(eviction string) bool { return eviction == "lfu" || eviction == "fallback" }

// Expand returns the grid's configurations in grid order (the Cartesian
// product, keys in the order of Grid's fields, the last varying
// fastest), pruned as the reference prunes: an eviction that does not
// use the decay keeps only the first, strategy none keeps only the first
// budget, and a budget above the capacity is dropped; and an eviction
// other than frequency_threshold keeps only the first window.
func (g Grid) Expand() []Config {
	var out []Config
	for _, c := range g.Capacity {
		for _, ev := range g.Eviction {
			windows := []int{0} // no window
			if ev == rt.FrequencyThreshold.String() {
				windows = g.Windows
				if len(windows) == 0 {
					windows = []int{rt.FreqAccessesPerSlot}
				}
			}
			for di, d := range g.Decay {
				if di > 0 && !usesDecay(ev) {
					continue
				}
				for _, w := range windows {
					for bi, b := range g.Budget {
						for _, s := range g.Strategy {
							if s == "none" && bi > 0 || b > c {
								continue
							}
							for _, m := range g.Mode {
								for _, a := range g.Allocation {
									out = append(out, Config{Capacity: c, Eviction: ev, Decay: d, WindowPerExpert: w,
										Budget: b, Strategy: s, Mode: m, Allocation: a})
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

// whyEmpty says why Expand returns no configuration: a key without values,
// or a prefetch budget above the capacity everywhere, which Expand prunes.
func (g Grid) whyEmpty() string {
	for _, k := range []struct {
		key string
		n   int
	}{
		{"capacity", len(g.Capacity)}, {"eviction", len(g.Eviction)}, {"lfu_decay", len(g.Decay)},
		{"prefetch_budget", len(g.Budget)}, {"prefetch_strategy", len(g.Strategy)},
		{"schedule_mode", len(g.Mode)}, {"allocation", len(g.Allocation)},
	} {
		if k.n == 0 {
			return fmt.Sprintf("%q has no values", k.key)
		}
	}
	return fmt.Sprintf("every prefetch budget exceeds its capacity, as in the first configuration, capacity %d with budget %d (rule 10)",
		g.Capacity[0], g.Budget[0])
}

// Spec returns the configuration as a policy called name, every value it
// does not set at its default. A per-layer configuration splits the
// capacity among the layers (total_budget = capacity, min_capacity = 1).
// PCIeGBps, CPUExpertMS, FreqThreshold and FreqWindow are written where
// above 0.
// The words must be valid, as ParseGrid checks them; the policy is not
// checked.
func (c Config) Spec(name string) *rt.Spec {
	s := rt.NewSpec(name, c.Capacity)
	s.Cache.Eviction, _ = rt.ParseEviction(c.Eviction)
	if s.Cache.Eviction == rt.Fallback {
		s.Cache.Primary, s.Cache.Secondary = rt.LFU, rt.LRU
	}
	if c.UsesDecay() {
		s.Cache.Decay = c.Decay
	}
	if c.FreqThreshold > 0 {
		s.Cache.FreqThreshold = c.FreqThreshold
	}
	if c.FreqWindow > 0 {
		s.Cache.FreqWindow = c.FreqWindow
	}
	s.Prefetch.Strategy, _ = rt.ParsePrefetchStrategy(c.Strategy)
	s.Prefetch.Budget = c.Budget
	if s.Prefetch.Strategy == rt.PrefetchNone {
		// The budget means nothing without prefetch: keep what a policy
		// without a prefetch block has, within the capacity.
		s.Prefetch.Budget = min(rt.DefaultBudget, c.Capacity)
	}
	s.Schedule.Mode, _ = rt.ParseScheduleMode(c.Mode)
	if c.PCIeGBps > 0 {
		s.Schedule.PCIeGBps = c.PCIeGBps
	}
	if c.CPUExpertMS > 0 {
		s.Schedule.CPUExpertMS = c.CPUExpertMS
	}
	if c.Allocation != AllocNone {
		s.PerLayer = rt.DefaultPerLayer()
		s.PerLayer.Allocation, _ = rt.ParseAllocation(c.Allocation)
		s.PerLayer.MinCapacity = 1
		s.PerLayer.TotalBudget = c.Capacity
	}
	return s
}

// String describes the configuration in a few words.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "capacity %d, %s", c.Capacity, c.Eviction)
	if c.UsesDecay() {
		fmt.Fprintf(&b, " %s", strconv.FormatFloat(c.Decay, 'g', -1, 64))
	}
	if c.FreqWindow > 0 {
		fmt.Fprintf(&b, " %s over %d", strconv.FormatFloat(c.FreqThreshold, 'g', -1, 64), c.FreqWindow)
	}
	fmt.Fprintf(&b, ", prefetch %s", c.Strategy)
	if c.Strategy != "none" {
		fmt.Fprintf(&b, " %d", c.Budget)
	}
	fmt.Fprintf(&b, ", %s, allocation %s", c.Mode, c.Allocation)
	return b.String()
}
