package rt

import (
	"fmt"
	"strconv"
)

// The defaults of every value a policy may leave out (reference §3.1, with
// moec's additions: allocation defaults to uniform, pcie_gbps to the
// reference's fixed 25 GB/s, cooldown to the reference's fixed 50). The
// front end and the Go builder both start from NewSpec, so a default is
// written down in one place only.
const (
	DefaultEviction          = LRU
	DefaultDecay             = 0.95
	DefaultFreqThreshold     = 0.05
	DefaultFreqWindow        = 100
	DefaultScoreAlpha        = 0.3
	DefaultMemoryHeadroom    = 0.7
	DefaultMemoryBudgetGB    = 16.0
	DefaultExpertSizeGB      = 1.2
	DefaultStrategy          = PrefetchNone
	DefaultLookahead         = 1
	DefaultBudget            = 4
	DefaultAffinityThreshold = 0.3
	DefaultHistoryWindow     = 50
	DefaultMode              = GPUOnly
	DefaultOffloadMS         = 50.0
	DefaultOverlap           = true
	DefaultPriorityRouting   = false
	DefaultPCIeGBps          = 25.0
	DefaultCooldown          = 50

	DefaultMonitorWindow      = 100
	DefaultMonitorLogInterval = 50

	DefaultAllocation        = Uniform
	DefaultEntropyWindow     = 200
	DefaultMinCapacity       = 2
	DefaultMaxCapacity       = 64
	DefaultRebalanceInterval = 500
)

// MaxCapacity is the largest cache capacity rule 1 allows (the reference
// allows 512; moec's slots are (layer, expert) pairs, so a real model needs
// thousands).
const MaxCapacity = 65536

// MaxWindow is the largest window rule M12 allows: freq_window,
// history_window, the monitor's window and entropy_window. The runtime
// keeps each window's accesses or selections in memory it allocates up
// front, the lookahead prefetcher and per-layer budgets one window per
// layer, so a window is bounded like the capacity is.
const MaxWindow = 65536

// mustWindow returns n, a window that a constructor sizes memory by,
// and panics, naming what, when n is outside [1, MaxWindow]. rt.New and
// generated constructors check a Spec's windows before they build
// anything (Spec.Fits), so only Go code that calls a constructor with
// its own number can get here.
func mustWindow(what string, n int) int {
	if n < 1 || n > MaxWindow {
		panic(fmt.Sprintf("rt: %s %d is out of range [1, %d]", what, n, MaxWindow))
	}
	return n
}

// MaxExpertID is the largest expert id a pin may name (rule 2).
const MaxExpertID = 511

// NewSpec returns the policy called name with a cache of capacity slots and
// every other value at its default: LRU eviction, no prefetch, every miss
// run on the GPU, no triggers, no monitor, no per-layer budgets, no adapt
// rules. KeyPos is nil: nothing was written.
func NewSpec(name string, capacity int) *Spec {
	return &Spec{
		Name: name,
		Cache: CacheSpec{
			Capacity:       capacity,
			Eviction:       DefaultEviction,
			Decay:          DefaultDecay,
			FreqThreshold:  DefaultFreqThreshold,
			FreqWindow:     DefaultFreqWindow,
			ScoreAlpha:     DefaultScoreAlpha,
			MemoryHeadroom: DefaultMemoryHeadroom,
			MemoryBudgetGB: DefaultMemoryBudgetGB,
			ExpertSizeGB:   DefaultExpertSizeGB,
		},
		Prefetch: PrefetchSpec{
			Strategy:          DefaultStrategy,
			Lookahead:         DefaultLookahead,
			Budget:            DefaultBudget,
			AffinityThreshold: DefaultAffinityThreshold,
			HistoryWindow:     DefaultHistoryWindow,
		},
		Schedule: ScheduleSpec{
			Mode:               DefaultMode,
			OffloadThresholdMS: DefaultOffloadMS,
			Overlap:            DefaultOverlap,
			PriorityRouting:    DefaultPriorityRouting,
			PCIeGBps:           DefaultPCIeGBps,
		},
		Adapt: AdaptSpec{Cooldown: DefaultCooldown},
	}
}

// DefaultMonitor returns the monitor of a "monitor" block that sets
// nothing: the hit rate over windows of 100 accesses, a snapshot every 50.
func DefaultMonitor() *MonitorSpec {
	return &MonitorSpec{
		Metrics:     []Metric{HitRate},
		Window:      DefaultMonitorWindow,
		LogInterval: DefaultMonitorLogInterval,
	}
}

// DefaultPerLayer returns the budgets of a "per_layer" block that sets
// nothing: a uniform split of layers x capacity slots, 2 to 64 per layer.
// The reference's default allocation is entropy, but it never used it;
// moec defaults to uniform, as the seed README does.
func DefaultPerLayer() *PerLayerSpec {
	return &PerLayerSpec{
		Allocation:        DefaultAllocation,
		EntropyWindow:     DefaultEntropyWindow,
		MinCapacity:       DefaultMinCapacity,
		MaxCapacity:       DefaultMaxCapacity,
		RebalanceInterval: DefaultRebalanceInterval,
		TotalBudget:       0,
	}
}

// FrequencyFor returns a frequency_threshold cache's freq_threshold and
// freq_window sized for a model of slots (layer, expert) slots, as moec
// auto writes them: FrequencyOver(slots, FreqAccessesPerSlot). The
// defaults, 0.05 over 100, suit a few dozen experts; Mixtral-8x7B's 256
// get 0.0029 over 1,280.
func FrequencyFor(slots int) (threshold float64, window int) {
	return FrequencyOver(slots, FreqAccessesPerSlot)
}

// FreqAccessesPerSlot is the window FrequencyFor counts over, in accesses
// a slot: the one the H200 measured (Mixtral-8x7B at 24 GiB, 4.59 tok/s).
const FreqAccessesPerSlot = 5

// FrequencyOver returns a frequency_threshold cache's freq_threshold and
// freq_window for slots (layer, expert) slots over the last perSlot
// accesses a slot: three quarters of an even share of the accesses (to
// two significant digits) over a window of perSlot x slots, at most
// MaxWindow.
func FrequencyOver(slots, perSlot int) (threshold float64, window int) {
	slots, perSlot = max(slots, 1), max(perSlot, 1)
	threshold, _ = strconv.ParseFloat(strconv.FormatFloat(0.75/float64(slots), 'g', 2, 64), 64)
	return threshold, min(min(perSlot, MaxWindow)*min(slots, MaxWindow), MaxWindow)
}
