package rt

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewSpecIsValid(t *testing.T) {
	for _, c := range []int{4, 16, MaxCapacity} {
		s := NewSpec("p", c)
		if v := s.Check(); v != nil {
			t.Errorf("NewSpec(p, %d).Check() = %v, want none", c, v)
		}
	}
	s := NewSpec("p", 16)
	s.Monitor = DefaultMonitor()
	s.PerLayer = DefaultPerLayer()
	if v := s.Check(); v != nil {
		t.Errorf("defaults with monitor and per_layer: Check() = %v, want none", v)
	}
}

func TestNewSpecDefaults(t *testing.T) {
	want := &Spec{
		Name: "p",
		Cache: CacheSpec{
			Capacity: 8, Eviction: LRU, Decay: 0.95, FreqThreshold: 0.05, FreqWindow: 100,
			ScoreAlpha: 0.3, MemoryHeadroom: 0.7, MemoryBudgetGB: 16, ExpertSizeGB: 1.2,
		},
		Prefetch: PrefetchSpec{Strategy: PrefetchNone, Lookahead: 1, Budget: 4, AffinityThreshold: 0.3, HistoryWindow: 50},
		Schedule: ScheduleSpec{Mode: GPUOnly, OffloadThresholdMS: 50, Overlap: true, PCIeGBps: 25},
		Adapt:    AdaptSpec{Cooldown: 50},
	}
	if diff := cmp.Diff(want, NewSpec("p", 8)); diff != "" {
		t.Errorf("NewSpec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&MonitorSpec{Metrics: []Metric{HitRate}, Window: 100, LogInterval: 50}, DefaultMonitor()); diff != "" {
		t.Errorf("DefaultMonitor (-want +got):\n%s", diff)
	}
	wantPL := &PerLayerSpec{Allocation: Uniform, EntropyWindow: 200, MinCapacity: 2, MaxCapacity: 64, RebalanceInterval: 500}
	if diff := cmp.Diff(wantPL, DefaultPerLayer()); diff != "" {
		t.Errorf("DefaultPerLayer (-want +got):\n%s", diff)
	}
}

// v is a violation without its message, for comparing.
type v struct {
	Rule   string
	Fields []string
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		edit func(s *Spec)
		want []v
	}{
		// Rule 1.
		{"R1 capacity 1 with budget 1", func(s *Spec) { s.Cache.Capacity = 1; s.Prefetch.Budget = 1 }, nil},
		{"R1 capacity at the bound", func(s *Spec) { s.Cache.Capacity = MaxCapacity }, nil},
		{"R1 capacity 0", func(s *Spec) { s.Cache.Capacity = 0 }, []v{
			{"R1", []string{"cache.capacity"}}, {"R10", []string{"prefetch.budget", "cache.capacity"}}}},
		{"R1 capacity above the bound", func(s *Spec) { s.Cache.Capacity = MaxCapacity + 1 }, []v{{"R1", []string{"cache.capacity"}}}},
		// Rule 2.
		{"R2 pins 0 and 511", func(s *Spec) { s.Cache.Pin = []int{0, 511} }, nil},
		{"R2 pin 512", func(s *Spec) { s.Cache.Pin = []int{1, 512, 600} }, []v{{"R2", []string{"cache.pin"}}}},
		{"R2 pin negative", func(s *Spec) { s.Cache.Pin = []int{-1} }, []v{{"R2", []string{"cache.pin"}}}},
		// Rule 3: duplicates count.
		{"R3 as many pins as slots", func(s *Spec) { s.Cache.Capacity = 4; s.Cache.Pin = []int{1, 1, 1, 1} }, nil},
		{"R3 more pins than slots", func(s *Spec) { s.Cache.Capacity = 4; s.Cache.Pin = []int{1, 1, 1, 1, 1} }, []v{
			{"R3", []string{"cache.pin", "cache.capacity"}}}},
		// Rule 4 holds whatever the eviction.
		{"R4 decay 0.5", func(s *Spec) { s.Cache.Decay = 0.5 }, nil},
		{"R4 decay 1", func(s *Spec) { s.Cache.Decay = 1 }, []v{{"R4", []string{"cache.frequency_decay"}}}},
		{"R4 decay 0", func(s *Spec) { s.Cache.Decay = 0 }, []v{{"R4", []string{"cache.frequency_decay"}}}},
		// Rule 5.
		{"R5 threshold 0 and 1", func(s *Spec) { s.Cache.FreqThreshold = 1 }, nil},
		{"R5 threshold 1.5", func(s *Spec) { s.Cache.FreqThreshold = 1.5 }, []v{{"R5", []string{"cache.freq_threshold"}}}},
		{"R5 threshold negative", func(s *Spec) { s.Cache.FreqThreshold = -0.1 }, []v{{"R5", []string{"cache.freq_threshold"}}}},
		// Rule 6.
		{"R6 window 1", func(s *Spec) { s.Cache.FreqWindow = 1 }, nil},
		{"R6 window 0", func(s *Spec) { s.Cache.FreqWindow = 0 }, []v{{"R6", []string{"cache.freq_window"}}}},
		// Rule 7.
		{"R7 alpha 1", func(s *Spec) { s.Cache.ScoreAlpha = 1 }, nil},
		{"R7 alpha 0", func(s *Spec) { s.Cache.ScoreAlpha = 0 }, []v{{"R7", []string{"cache.score_ema_alpha"}}}},
		{"R7 alpha 1.1", func(s *Spec) { s.Cache.ScoreAlpha = 1.1 }, []v{{"R7", []string{"cache.score_ema_alpha"}}}},
		// Rule 8.
		{"R8 lookahead 1", func(s *Spec) { s.Prefetch.Lookahead = 1 }, nil},
		{"R8 lookahead 0", func(s *Spec) { s.Prefetch.Lookahead = 0 }, []v{{"R8", []string{"prefetch.lookahead"}}}},
		// Rule 9 (budget 0 is within the capacity, so rule 10 holds).
		{"R9 budget 1", func(s *Spec) { s.Prefetch.Budget = 1 }, nil},
		{"R9 budget 0", func(s *Spec) { s.Prefetch.Budget = 0 }, []v{{"R9", []string{"prefetch.budget"}}}},
		// Rule 10 holds whatever the strategy.
		{"R10 budget equals capacity", func(s *Spec) { s.Prefetch.Budget = 16 }, nil},
		{"R10 budget above capacity", func(s *Spec) { s.Prefetch.Budget = 17 }, []v{{"R10", []string{"prefetch.budget", "cache.capacity"}}}},
		{"R10 default budget, capacity 2", func(s *Spec) { s.Cache.Capacity = 2 }, []v{{"R10", []string{"prefetch.budget", "cache.capacity"}}}},
		// Rule 11.
		{"R11 affinity 0", func(s *Spec) { s.Prefetch.AffinityThreshold = 0 }, nil},
		{"R11 affinity 2", func(s *Spec) { s.Prefetch.AffinityThreshold = 2 }, []v{{"R11", []string{"prefetch.affinity_threshold"}}}},
		// Rule 12.
		{"R12 history 1", func(s *Spec) { s.Prefetch.HistoryWindow = 1 }, nil},
		{"R12 history 0", func(s *Spec) { s.Prefetch.HistoryWindow = 0 }, []v{{"R12", []string{"prefetch.history_window"}}}},
		// Rule 13.
		{"R13 threshold 0.001", func(s *Spec) { s.Schedule.OffloadThresholdMS = 0.001 }, nil},
		{"R13 threshold 0", func(s *Spec) { s.Schedule.OffloadThresholdMS = 0 }, []v{{"R13", []string{"schedule.offload_threshold_ms"}}}},
		// Rule 14.
		{"R14 hybrid with overlap", func(s *Spec) { s.Schedule.Mode = Hybrid }, nil},
		{"R14 no overlap outside hybrid", func(s *Spec) { s.Schedule.Mode = CPUFallback; s.Schedule.Overlap = false }, nil},
		{"R14 hybrid without overlap", func(s *Spec) { s.Schedule.Mode = Hybrid; s.Schedule.Overlap = false }, []v{
			{"R14", []string{"schedule.overlap", "schedule.mode"}}}},
		// Rule 15, not looking inside a fallback.
		{"R15 score with affinity", func(s *Spec) { s.Cache.Eviction = Score; s.Prefetch.Strategy = Affinity }, nil},
		{"R15 score tier of a fallback", func(s *Spec) {
			s.Cache.Eviction, s.Cache.Primary, s.Cache.Secondary = Fallback, Score, LRU
		}, nil},
		{"R15 score without prefetch", func(s *Spec) { s.Cache.Eviction = Score }, []v{{"R15", []string{"cache.eviction", "prefetch.strategy"}}}},
		// Rules 16-18 only with memory pressure on.
		{"R16-18 off", func(s *Spec) { s.Cache.MemoryThreshold = 5; s.Cache.MemoryHeadroom = 5; s.Cache.MemoryBudgetGB = 0 }, nil},
		{"R16 threshold 1", func(s *Spec) { s.Cache.MemoryPressure = true; s.Cache.MemoryThreshold = 1 }, nil},
		{"R16 threshold 0", func(s *Spec) { s.Cache.MemoryPressure = true; s.Cache.MemoryThreshold = 0 }, []v{
			{"R16", []string{"cache.memory_threshold"}},
			{"R17", []string{"cache.memory_headroom", "cache.memory_threshold"}}}},
		{"R16 threshold 1.5", func(s *Spec) { s.Cache.MemoryPressure = true; s.Cache.MemoryThreshold = 1.5 }, []v{
			{"R16", []string{"cache.memory_threshold"}}}},
		{"R17 headroom equals threshold", func(s *Spec) {
			s.Cache.MemoryPressure = true
			s.Cache.MemoryThreshold, s.Cache.MemoryHeadroom = 0.8, 0.8
		}, nil},
		{"R17 headroom above threshold", func(s *Spec) {
			s.Cache.MemoryPressure = true
			s.Cache.MemoryThreshold, s.Cache.MemoryHeadroom = 0.8, 0.9
		}, []v{{"R17", []string{"cache.memory_headroom", "cache.memory_threshold"}}}},
		{"R17 headroom 0", func(s *Spec) {
			s.Cache.MemoryPressure = true
			s.Cache.MemoryThreshold, s.Cache.MemoryHeadroom = 0.8, 0
		}, []v{{"R17", []string{"cache.memory_headroom", "cache.memory_threshold"}}}},
		{"R18 budget 0.5", func(s *Spec) {
			s.Cache.MemoryPressure, s.Cache.MemoryThreshold, s.Cache.MemoryBudgetGB = true, 0.9, 0.5
		}, nil},
		{"R18 budget 0", func(s *Spec) {
			s.Cache.MemoryPressure, s.Cache.MemoryThreshold, s.Cache.MemoryBudgetGB = true, 0.9, 0
		}, []v{{"R18", []string{"cache.memory_budget_gb"}}}},
		// Rule 19 always.
		{"R19 size 0.1", func(s *Spec) { s.Cache.ExpertSizeGB = 0.1 }, nil},
		{"R19 size 0", func(s *Spec) { s.Cache.ExpertSizeGB = 0 }, []v{{"R19", []string{"cache.expert_size_gb"}}}},
		// Rule 20 only when set.
		{"R20 ttl unset", func(s *Spec) { s.Cache.TTL = 0 }, nil},
		{"R20 ttl 1", func(s *Spec) { s.Cache.TTLSet, s.Cache.TTL = true, 1 }, nil},
		{"R20 ttl 0", func(s *Spec) { s.Cache.TTLSet, s.Cache.TTL = true, 0 }, []v{{"R20", []string{"cache.ttl"}}}},

		// M1.
		{"M1 lfu | lru", func(s *Spec) { s.Cache.Eviction, s.Cache.Primary, s.Cache.Secondary = Fallback, LFU, LRU }, nil},
		{"M1 lfu | fallback", func(s *Spec) {
			s.Cache.Eviction, s.Cache.Primary, s.Cache.Secondary = Fallback, LFU, Fallback
		}, []v{{"M1", []string{"cache.eviction"}}}},
		{"M1 fallback | lru", func(s *Spec) {
			s.Cache.Eviction, s.Cache.Primary, s.Cache.Secondary = Fallback, Fallback, LRU
		}, []v{{"M1", []string{"cache.eviction"}}}},
		// M6.
		{"M6 window 1", func(s *Spec) { s.Adapt.Rules = []Rule{{Window: 1}, {Window: 100}} }, nil},
		{"M6 window 0", func(s *Spec) { s.Adapt.Rules = []Rule{{Window: 1}, {Window: 0}} }, []v{{"M6", []string{"adapt.rules[1].window"}}}},
		// M7, M8.
		{"M7 M8 window and interval 1", func(s *Spec) { s.Monitor = &MonitorSpec{Window: 1, LogInterval: 1} }, nil},
		{"M7 M8 without a monitor", func(s *Spec) { s.Monitor = nil }, nil},
		{"M7 window 0", func(s *Spec) { s.Monitor = &MonitorSpec{Window: 0, LogInterval: 1} }, []v{{"M7", []string{"monitor.window"}}}},
		{"M8 interval 0", func(s *Spec) { s.Monitor = &MonitorSpec{Window: 1, LogInterval: 0} }, []v{{"M8", []string{"monitor.log_interval"}}}},
		// M9, M10.
		{"M9 ones and zeros", func(s *Spec) {
			s.PerLayer = &PerLayerSpec{EntropyWindow: 1, MinCapacity: 1, MaxCapacity: 1}
		}, nil},
		{"M9 zeros", func(s *Spec) { s.PerLayer = &PerLayerSpec{} }, []v{
			{"M9", []string{"per_layer.entropy_window"}},
			{"M9", []string{"per_layer.min_capacity"}},
			{"M9", []string{"per_layer.max_capacity"}}}},
		{"M9 negative interval and budget", func(s *Spec) {
			s.PerLayer = DefaultPerLayer()
			s.PerLayer.RebalanceInterval, s.PerLayer.TotalBudget = -1, -1
		}, []v{{"M9", []string{"per_layer.rebalance_interval"}}, {"M9", []string{"per_layer.total_budget"}}}},
		{"M10 min equals max", func(s *Spec) {
			s.PerLayer = DefaultPerLayer()
			s.PerLayer.MinCapacity, s.PerLayer.MaxCapacity = 8, 8
		}, nil},
		{"M10 min above max", func(s *Spec) {
			s.PerLayer = DefaultPerLayer()
			s.PerLayer.MinCapacity, s.PerLayer.MaxCapacity = 50, 2
		}, []v{{"M10", []string{"per_layer.min_capacity", "per_layer.max_capacity"}}}},
		{"M10 not on top of M9", func(s *Spec) {
			s.PerLayer = DefaultPerLayer()
			s.PerLayer.MaxCapacity = 0
		}, []v{{"M9", []string{"per_layer.max_capacity"}}}},
		// M11.
		{"M11 bandwidth and cpu time", func(s *Spec) { s.Schedule.PCIeGBps, s.Schedule.CPUExpertMS = 0.5, 2 }, nil},
		{"M11 bandwidth 0", func(s *Spec) { s.Schedule.PCIeGBps = 0 }, []v{{"M11", []string{"schedule.pcie_gbps"}}}},
		{"M11 negative cpu time", func(s *Spec) { s.Schedule.CPUExpertMS = -1 }, []v{{"M11", []string{"schedule.cpu_expert_ms"}}}},
		// M12: every window up to the bound, at the values of issue 12
		// (which crashed the runtime) above it; below 1 is rule 6, 12, M7, M9.
		{"M12 windows at the bound", func(s *Spec) {
			s.Cache.FreqWindow, s.Prefetch.HistoryWindow = MaxWindow, MaxWindow
			s.Monitor, s.PerLayer = DefaultMonitor(), DefaultPerLayer()
			s.Monitor.Window, s.PerLayer.EntropyWindow = MaxWindow, MaxWindow
		}, nil},
		{"M12 windows above the bound", func(s *Spec) {
			s.Cache.FreqWindow, s.Prefetch.HistoryWindow = MaxWindow+1, 9223372036854775807
			s.Monitor, s.PerLayer = DefaultMonitor(), DefaultPerLayer()
			s.Monitor.Window, s.PerLayer.EntropyWindow = 4000000000, 9223372036854775807
		}, []v{
			{"M12", []string{"cache.freq_window"}},
			{"M12", []string{"prefetch.history_window"}},
			{"M12", []string{"monitor.window"}},
			{"M12", []string{"per_layer.entropy_window"}}}},
		{"M12 not on top of rule 12", func(s *Spec) { s.Prefetch.HistoryWindow = -9223372036854775808 }, []v{
			{"R12", []string{"prefetch.history_window"}}}},

		// Every rule is evaluated, and reported in rule order (V21 of the
		// reference's conformance table).
		{"V21", func(s *Spec) {
			s.Cache.Capacity, s.Cache.Eviction = 0, Score
			s.Prefetch.Budget, s.Prefetch.Lookahead = 0, 0
			s.Schedule.Mode, s.Schedule.Overlap, s.Schedule.OffloadThresholdMS = Hybrid, false, 0
		}, []v{
			{"R1", []string{"cache.capacity"}},
			{"R8", []string{"prefetch.lookahead"}},
			{"R9", []string{"prefetch.budget"}},
			{"R13", []string{"schedule.offload_threshold_ms"}},
			{"R14", []string{"schedule.overlap", "schedule.mode"}},
			{"R15", []string{"cache.eviction", "prefetch.strategy"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSpec("p", 16)
			tt.edit(s)
			var got []v
			for _, x := range s.Check() {
				got = append(got, v{x.Rule, x.Fields})
				number := strings.TrimPrefix(x.Rule, "R")
				if !strings.HasSuffix(x.Msg, "(rule "+number+")") {
					t.Errorf("%s message %q does not name its rule", x.Rule, x.Msg)
				}
				if x.Error() != x.Msg {
					t.Errorf("Error() = %q, want %q", x.Error(), x.Msg)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	s := NewSpec("p", 4)
	s.Prefetch.Budget = 6
	s.Cache.Decay = 1
	s.Cache.Pin = []int{3, 700, 900}
	s.Cache.Eviction, s.Cache.Primary, s.Cache.Secondary = Fallback, LFU, Fallback
	s.Cache.MemoryPressure, s.Cache.MemoryThreshold, s.Cache.MemoryHeadroom = true, 0.9, 0.95
	s.Prefetch.HistoryWindow = 4000000000
	var got []string
	for _, x := range s.Check() {
		got = append(got, x.Msg)
	}
	want := []string{
		"pinned expert 700 is out of range [0, 511] (rule 2)",
		"cache frequency_decay 1 is out of range (0, 1) (rule 4)",
		"prefetch budget 6 exceeds cache capacity 4 (rule 10)",
		"cache memory_headroom 0.95 is out of range (0, memory_threshold 0.9] (rule 17)",
		"cache eviction lfu | fallback uses fallback as a tier (rule M1)",
		"prefetch history_window 4000000000 is out of range [1, 65536] (rule M12)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// Check must not depend on anything but the Spec: a Spec Apply produces
// is checked like any other.
func TestCheckAfterApply(t *testing.T) {
	s := NewSpec("p", 16)
	got := Action{Target: SetCapacity, Int: 2}.Apply(s).Check()
	want := []Violation{{Rule: "R10", Fields: []string{"prefetch.budget", "cache.capacity"},
		Msg: "prefetch budget 4 exceeds cache capacity 2 (rule 10)"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Check() (-want +got):\n%s", diff)
	}
	if v := s.Check(); v != nil {
		t.Errorf("Apply changed the original: %v", v)
	}
}

// TestApplyActions checks the one apply-then-check: the actions applied
// together, each violation blamed on the action that set the value it
// names first, the known ones left out, M5 for a rebalance without a
// per_layer block, and the policy itself returned when only rebalances
// fire.
func TestApplyActions(t *testing.T) {
	s := NewSpec("p", 16)
	actions := []Action{{Target: SetEviction, Eviction: Score}, {Target: SetCapacity, Int: 2}, {Target: Rebalance, Signal: Gini}}
	next, got := ApplyActions(s, actions, nil)
	want := []ActionViolation{
		{Violation{Rule: "R10", Fields: []string{"prefetch.budget", "cache.capacity"},
			Msg: "prefetch budget 4 exceeds cache capacity 2 (rule 10)"}, 1},
		{Violation{Rule: "R15", Fields: []string{"cache.eviction", "prefetch.strategy"},
			Msg: "cache eviction score requires a prefetch strategy other than none (rule 15)"}, 0},
		{Violation{Rule: "M5", Msg: ReasonNoPerLayer}, 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	if next.Cache.Capacity != 2 || next.Cache.Eviction != Score || s.Cache.Capacity != 16 {
		t.Errorf("applied: capacity %d, eviction %v; original capacity %d", next.Cache.Capacity, next.Cache.Eviction, s.Cache.Capacity)
	}

	// What the policy already breaks is not blamed on an action.
	s.Cache.Capacity = 2
	known := s.Check()
	if _, got := ApplyActions(s, []Action{{Target: SetBudget, Int: 0}}, known); len(got) != 1 || got[0].Rule != "R9" {
		t.Errorf("budget 0 on capacity 2: %v, want R9", got)
	}
	if _, got := ApplyActions(s, []Action{{Target: SetCapacity, Int: 3}}, known); got != nil {
		t.Errorf("capacity 3 with the known R10: %v", got)
	}

	s = NewSpec("p", 16)
	s.PerLayer = DefaultPerLayer()
	if next, got := ApplyActions(s, []Action{{Target: Rebalance, Signal: KL}}, nil); next != s || got != nil {
		t.Errorf("a rebalance alone: %p (policy %p), %v", next, s, got)
	}
}

// A window out of range is an error from rt.New, before anything is
// sized by it (issue 12: history_window = 2^63-1 panicked in makeslice,
// 4000000000 ran out of memory), and a panic that names it from the
// constructors that Go code may call with its own number.
func TestWindowsBounded(t *testing.T) {
	shape := Shape{Layers: 4, Experts: 16, TopK: 2}
	for _, n := range []int{9223372036854775807, 4000000000, MaxWindow + 1} {
		for _, set := range []func(*Spec){
			func(s *Spec) { s.Prefetch.Strategy, s.Prefetch.HistoryWindow = History, n },
			func(s *Spec) { s.Prefetch.Strategy, s.Prefetch.HistoryWindow = Lookahead, n },
			func(s *Spec) { s.Cache.Eviction, s.Cache.FreqWindow = FrequencyThreshold, n },
			func(s *Spec) { s.Monitor = DefaultMonitor(); s.Monitor.Window = n },
			func(s *Spec) { s.PerLayer = DefaultPerLayer(); s.PerLayer.EntropyWindow = n },
		} {
			s := NewSpec("p", 16)
			set(s)
			if _, err := New(s, shape); err == nil || !strings.Contains(err.Error(), "(rule M12)") {
				t.Errorf("window %d: New err = %v, want rule M12", n, err)
			}
		}
	}
	for _, tt := range []struct {
		want string
		new  func()
	}{
		{"rt: history window 4000000000 is out of range [1, 65536]", func() { NewHistoryPrefetcher(shape, 4000000000) }},
		{"rt: history window 0 is out of range [1, 65536]", func() { NewLookaheadPrefetcher(shape, 1, 0) }},
		{"rt: frequency window 9223372036854775807 is out of range [1, 65536]", func() {
			NewThresholdCache(shape, 8, nil, 0.1, 9223372036854775807)
		}},
		{"rt: monitor window 65537 is out of range [1, 65536]", func() { NewLedger(shape, &MonitorSpec{Window: 65537}) }},
		{"rt: entropy window -1 is out of range [1, 65536]", func() { NewBudgets(PerLayerSpec{EntropyWindow: -1}, shape, 8) }},
	} {
		func() {
			defer func() {
				if r := recover(); r != tt.want {
					t.Errorf("panic %v, want %q", r, tt.want)
				}
			}()
			tt.new()
		}()
	}
}

// The affinity table counts every pair of experts of adjacent layers: a
// shape that would make it too large for memory is an error from rt.New,
// whether the policy prefetches by affinity as written or after a rule.
func TestAffinityTableBounded(t *testing.T) {
	shape := Shape{Layers: 2, Experts: 1 << 15, TopK: 2}
	written := NewSpec("p", 16)
	written.Prefetch.Strategy = Affinity
	later := NewSpec("p", 16)
	later.Adapt.Rules = []Rule{{Cond: Cond{Metric: HitRate, Op: LT, Threshold: 0.5}, Window: 1,
		Actions: []Action{{Target: SetStrategy, Strategy: Affinity}}}}
	for _, s := range []*Spec{written, later} {
		if _, err := New(s, shape); err == nil || !strings.Contains(err.Error(), "more than 268435456") {
			t.Errorf("New = %v, want the affinity table refused", err)
		}
	}
	if _, err := New(NewSpec("p", 16), shape); err != nil {
		t.Errorf("without affinity: %v", err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "rt: an affinity table for 2 layers of 32768 experts") {
			t.Errorf("NewAffinityPrefetcher panicked with %v", r)
		}
	}()
	NewAffinityPrefetcher(shape, 0.3)
}
