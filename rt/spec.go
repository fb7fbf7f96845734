package rt

import "fmt"

// A Spec is one resolved policy: every default applied, every conditional
// value turned into an adapt rule, everything checked. It is plain data,
// the contract between the front end (package sema, the Go builder) and
// what runs policies (the interpreter, generated code, the replay tools).
//
// Fields that hold a .moe key say so in their comment.
type Spec struct {
	Name   string // the policy's name
	Pos    Pos    // where "policy NAME" is written; zero for Specs built in Go
	Source string // the policy's text as written, "policy NAME { ... }"

	Cache    CacheSpec
	Prefetch PrefetchSpec
	Schedule ScheduleSpec
	Monitor  *MonitorSpec  // nil without a monitor block
	PerLayer *PerLayerSpec // nil without a per_layer block: one cache for all layers
	Adapt    AdaptSpec

	// KeyPos holds where each value was written, by the name of its .moe key
	// inside its block ("cache.capacity", "prefetch.budget"). Generated code
	// cites it; a key that was not written (a default) is absent.
	KeyPos map[string]Pos
}

// Pos is a source position in a .moe file.
type Pos struct {
	File      string
	Line, Col int
}

// IsValid reports whether p is a position.
func (p Pos) IsValid() bool { return p.Line > 0 }

// String returns "file:line:col".
func (p Pos) String() string {
	if !p.IsValid() {
		return "-"
	}
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// CacheSpec is the cache block: which experts stay resident.
type CacheSpec struct {
	Capacity int      // capacity: expert slots, counted as (layer, expert) pairs
	Eviction Eviction // eviction; for Fallback see Primary and Secondary

	// Primary and Secondary are the two tiers of "eviction = A | B" (2/3
	// and 1/3 of the capacity). They are set whenever Eviction is Fallback:
	// "eviction = fallback" alone means lfu | lru.
	Primary, Secondary Eviction

	Pin           []int   // pin: expert ids pinned in every layer
	Decay         float64 // frequency_decay: LFU decay applied every 100 accesses, in (0, 1)
	FreqThreshold float64 // freq_threshold: share of the window an expert needs to stay, in [0, 1]
	FreqWindow    int     // freq_window: accesses the frequency threshold counts over
	ScoreAlpha    float64 // score_ema_alpha: weight of a new router gate in the score EMA, in (0, 1]

	// The memory-pressure trigger: on when MemoryPressure is set, by the
	// memory_threshold key or by an adapt action "trigger memory_pressure".
	MemoryPressure  bool
	MemoryThreshold float64 // memory_threshold: usage share that fires the trigger
	MemoryHeadroom  float64 // memory_headroom: usage share the trigger evicts down to
	MemoryBudgetGB  float64 // memory_budget_gb: GPU memory for experts, in GB
	ExpertSizeGB    float64 // expert_size_gb: used only where Shape.ExpertBytes is 0

	// The TTL trigger: on when TTLSet; an expert not accessed for TTL
	// accesses is evicted.
	TTLSet bool
	TTL    int // ttl
}

// PrefetchSpec is the prefetch block: what to load before it is needed.
type PrefetchSpec struct {
	Strategy          PrefetchStrategy // strategy
	Lookahead         int              // lookahead: layers ahead the lookahead strategy predicts
	Budget            int              // budget: experts prefetched per dispatch at most
	AffinityThreshold float64          // affinity_threshold: P(f | e) needed to predict f
	HistoryWindow     int              // history_window: selections the history strategies remember
}

// ScheduleSpec is the schedule block: where an expert runs on a miss.
type ScheduleSpec struct {
	Mode               ScheduleMode // mode
	OffloadThresholdMS float64      // offload_threshold_ms: hybrid runs a miss on CPU when the transfer would take longer
	Overlap            bool         // overlap: must be true for hybrid
	PriorityRouting    bool         // priority_routing: kept for compatibility; no effect
	PCIeGBps           float64      // pcie_gbps: host-to-GPU bandwidth for the hybrid estimate, GB/s (10^9 bytes)
	CPUExpertMS        float64      // cpu_expert_ms: when > 0, replaces OffloadThresholdMS in the hybrid rule
}

// MonitorSpec is the monitor block: rolling windows of metrics.
type MonitorSpec struct {
	Metrics     []Metric // metrics
	Window      int      // window: accesses in each rolling window
	LogInterval int      // log_interval: accesses between snapshots
}

// PerLayerSpec is the per_layer block: one cache per layer sharing a
// total budget of slots.
type PerLayerSpec struct {
	Allocation        Allocation // allocation: the signal that splits the budget
	EntropyWindow     int        // entropy_window: selections per layer the signal is computed over
	MinCapacity       int        // min_capacity: the least slots a layer gets
	MaxCapacity       int        // max_capacity: the most slots a layer gets
	RebalanceInterval int        // rebalance_interval: dispatches between rebalances; 0: static
	TotalBudget       int        // total_budget: slots in all; 0: layers x cache capacity
}

// AdaptSpec is the adapt block plus the rules made from conditional
// values, which come first.
type AdaptSpec struct {
	Cooldown int // cooldown: dispatches after a rule fires before it is checked again
	Rules    []Rule
}

// A Rule changes the policy while it runs: when Cond has held for Window
// consecutive dispatches, Actions are applied together.
type Rule struct {
	Cond     Cond
	Window   int      // "for N accesses"; 1 without it
	Actions  []Action // applied together, in order
	Implicit bool     // made from a conditional value "D : W when ..."
	Pos      Pos      // where the rule (or the conditional value) is written
}

// Cond is "METRIC OP THRESHOLD".
type Cond struct {
	Metric    Metric
	Op        Op
	Threshold float64
}

// Holds reports whether the condition holds for the metric's value v.
func (c Cond) Holds(v float64) bool {
	switch c.Op {
	case LT:
		return v < c.Threshold
	case GT:
		return v > c.Threshold
	case LE:
		return v <= c.Threshold
	case GE:
		return v >= c.Threshold
	case NE:
		return v != c.Threshold
	}
	return false
}

// String returns the condition as written in .moe.
func (c Cond) String() string {
	return fmt.Sprintf("%s %s %g", c.Metric, c.Op, c.Threshold)
}

// An Action is one change of an adapt rule. Which value field matters
// depends on Target.
type Action struct {
	Target Target
	Pos    Pos // where the action is written

	Eviction Eviction         // SetEviction (Primary and Secondary for Fallback)
	Primary  Eviction         // SetEviction with Eviction == Fallback
	Second   Eviction         // SetEviction with Eviction == Fallback
	Int      int              // SetCapacity, SetBudget
	Float    float64          // SetDecay
	Strategy PrefetchStrategy // SetStrategy
	Mode     ScheduleMode     // SetMode
	Signal   Allocation       // Rebalance
}

// String returns the action as written in .moe, with the .moe key names.
func (a Action) String() string {
	switch a.Target {
	case SetEviction:
		return "eviction = " + a.Eviction.String()
	case SetCapacity:
		return fmt.Sprintf("capacity = %d", a.Int)
	case SetDecay:
		return fmt.Sprintf("frequency_decay = %g", a.Float)
	case SetStrategy:
		return "strategy = " + a.Strategy.String()
	case SetBudget:
		return fmt.Sprintf("budget = %d", a.Int)
	case SetMode:
		return "mode = " + a.Mode.String()
	case TriggerMemoryPressure:
		return "trigger memory_pressure"
	case Rebalance:
		return "rebalance " + a.Signal.String()
	}
	return fmt.Sprintf("action(%d)", a.Target)
}

// Apply returns a copy of s with the action applied: the policy the action
// would switch to. An action "NAME = VALUE" sets its key as writing it in
// .moe does (KeyDef.Set); one whose value its key cannot take (an
// enumeration value out of range) changes nothing. Rebalance changes
// nothing in the Spec (it acts on the running per-layer budgets);
// triggering memory pressure that is already on changes nothing either.
func (a Action) Apply(s *Spec) *Spec {
	t := s.Clone()
	switch a.Target {
	case TriggerMemoryPressure:
		if !t.Cache.MemoryPressure {
			t.Cache.MemoryPressure = true
			t.Cache.MemoryThreshold = DefaultTriggeredMemoryThreshold
		}
	default:
		v, ok := a.Value()
		if k, known := LookupPath(a.Target.Key()); ok && known {
			// An error leaves t as it was.
			_ = k.Set(t, v)
		}
	}
	return t
}

// DefaultTriggeredMemoryThreshold is the memory threshold an adapt action
// "trigger memory_pressure" sets when the policy had none, as in the
// reference.
const DefaultTriggeredMemoryThreshold = 0.9

// Clone returns a deep copy of s.
func (s *Spec) Clone() *Spec {
	t := *s
	t.Cache.Pin = append([]int(nil), s.Cache.Pin...)
	if s.Monitor != nil {
		m := *s.Monitor
		m.Metrics = append([]Metric(nil), s.Monitor.Metrics...)
		t.Monitor = &m
	}
	if s.PerLayer != nil {
		p := *s.PerLayer
		t.PerLayer = &p
	}
	t.Adapt.Rules = make([]Rule, len(s.Adapt.Rules))
	for i, r := range s.Adapt.Rules {
		r.Actions = append([]Action(nil), r.Actions...)
		t.Adapt.Rules[i] = r
	}
	if s.KeyPos != nil {
		t.KeyPos = make(map[string]Pos, len(s.KeyPos))
		for k, v := range s.KeyPos {
			t.KeyPos[k] = v
		}
	}
	return &t
}

// MaxSlots returns the most experts the policy can hold resident at once
// on a model of the given shape, under any configuration its adapt rules
// can switch to: the largest capacity it can have, or for per-layer
// budgets the largest total (every layer gets at least min_capacity). A
// mechanism sizes its device memory by it, plus TopK slots for the
// experts a layer runs without keeping (see Plan).
func (s *Spec) MaxSlots(shape Shape) int {
	c := s.Cache.Capacity
	for _, r := range s.Adapt.Rules {
		for _, a := range r.Actions {
			if a.Target == SetCapacity {
				c = max(c, a.Int)
			}
		}
	}
	if s.PerLayer == nil {
		return c
	}
	total := s.PerLayer.TotalBudget
	if total == 0 {
		total = shape.Layers * c
	}
	return max(total, shape.Layers*s.PerLayer.MinCapacity)
}
