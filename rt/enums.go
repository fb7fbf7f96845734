package rt

// Each enumeration has one table of the words that spell it in .moe; the
// String methods, the parse functions and the front end's "did you mean"
// hints all read the same table, so a hint can never name a word the
// checker would reject.

// Eviction is a cache eviction order.
type Eviction uint8

// The eviction orders.
const (
	LRU Eviction = iota
	LFU
	Score
	FrequencyThreshold
	Fallback // A | B: two tiers
)

var evictionWords = [...]string{LRU: "lru", LFU: "lfu", Score: "score", FrequencyThreshold: "frequency_threshold", Fallback: "fallback"}

func (e Eviction) String() string { return word(evictionWords[:], int(e)) }

// PrefetchStrategy is how experts are predicted ahead of need.
type PrefetchStrategy uint8

// The prefetch strategies.
const (
	PrefetchNone PrefetchStrategy = iota
	Affinity
	History
	Lookahead
)

var strategyWords = [...]string{PrefetchNone: "none", Affinity: "affinity", History: "history", Lookahead: "lookahead"}

func (s PrefetchStrategy) String() string { return word(strategyWords[:], int(s)) }

// ScheduleMode is where an expert runs on a cache miss.
type ScheduleMode uint8

// The schedule modes.
const (
	GPUOnly ScheduleMode = iota
	CPUFallback
	Hybrid
)

var modeWords = [...]string{GPUOnly: "gpu_only", CPUFallback: "cpu_fallback", Hybrid: "hybrid"}

func (m ScheduleMode) String() string { return word(modeWords[:], int(m)) }

// Allocation is the signal that splits a per-layer budget among layers.
type Allocation uint8

// The allocation signals (reference §4.9). Every signal but Uniform gives
// more slots to layers whose routing is spread out.
const (
	Uniform  Allocation = iota
	Entropy             // Shannon entropy of the layer's expert frequencies
	TopKMass            // inverse share of the k most used experts
	Variance            // inverse variance of the frequencies
	KL                  // inverse KL divergence from uniform
	Gini                // inverse Gini coefficient
)

var allocationWords = [...]string{Uniform: "uniform", Entropy: "entropy", TopKMass: "topk_mass", Variance: "variance", KL: "kl", Gini: "gini"}

func (a Allocation) String() string { return word(allocationWords[:], int(a)) }

// Metric is a quantity a rule condition or a monitor watches.
type Metric uint8

// The metrics. The first six may be used in rule conditions; Latency and
// Memory only in a monitor.
const (
	HitRate          Metric = iota // cache hits per expert access
	EvictionRate                   // evictions per expert access
	MissRate                       // cache misses per expert access
	PrefetchAccuracy               // useful prefetches per prefetch issued
	TransferRate                   // demand transfers per expert access
	CPURate                        // experts run on CPU per expert access
	Latency                        // monitor only
	Memory                         // monitor only
)

var metricWords = [...]string{
	HitRate: "hit_rate", EvictionRate: "eviction_rate", MissRate: "miss_rate",
	PrefetchAccuracy: "prefetch_accuracy", TransferRate: "transfer_rate", CPURate: "cpu_rate",
	Latency: "latency", Memory: "memory",
}

func (m Metric) String() string { return word(metricWords[:], int(m)) }

// RuleMetric reports whether m may be used in a rule condition.
func (m Metric) RuleMetric() bool { return m <= CPURate }

// Op is a comparison operator of a rule condition.
type Op uint8

// The comparison operators.
const (
	LT Op = iota // <
	GT           // >
	LE           // <=
	GE           // >=
	NE           // !=
)

var opWords = [...]string{LT: "<", GT: ">", LE: "<=", GE: ">=", NE: "!="}

func (o Op) String() string { return word(opWords[:], int(o)) }

// Target is what an adapt action changes.
type Target uint8

// The adapt action targets.
const (
	SetEviction           Target = iota // eviction = WORD
	SetCapacity                         // capacity = INT
	SetDecay                            // frequency_decay (lfu_decay) = NUMBER
	SetStrategy                         // strategy (prefetch_strategy) = WORD
	SetBudget                           // budget (prefetch_budget) = INT
	SetMode                             // mode (schedule_mode) = WORD
	TriggerMemoryPressure               // trigger memory_pressure
	Rebalance                           // rebalance SIGNAL
)

func word(table []string, i int) string {
	if 0 <= i && i < len(table) {
		return table[i]
	}
	return "?"
}

func lookup[T ~uint8](table []string, s string) (T, bool) {
	for i, w := range table {
		if w == s {
			return T(i), true
		}
	}
	return 0, false
}

// ParseEviction returns the eviction order spelled s.
func ParseEviction(s string) (Eviction, bool) { return lookup[Eviction](evictionWords[:], s) }

// ParsePrefetchStrategy returns the prefetch strategy spelled s.
func ParsePrefetchStrategy(s string) (PrefetchStrategy, bool) {
	return lookup[PrefetchStrategy](strategyWords[:], s)
}

// ParseScheduleMode returns the schedule mode spelled s.
func ParseScheduleMode(s string) (ScheduleMode, bool) { return lookup[ScheduleMode](modeWords[:], s) }

// ParseAllocation returns the allocation signal spelled s.
func ParseAllocation(s string) (Allocation, bool) { return lookup[Allocation](allocationWords[:], s) }

// ParseMetric returns the metric spelled s.
func ParseMetric(s string) (Metric, bool) { return lookup[Metric](metricWords[:], s) }

// EvictionWords returns the words that spell eviction orders.
func EvictionWords() []string { return append([]string(nil), evictionWords[:]...) }

// PrefetchStrategyWords returns the words that spell prefetch strategies.
func PrefetchStrategyWords() []string { return append([]string(nil), strategyWords[:]...) }

// ScheduleModeWords returns the words that spell schedule modes.
func ScheduleModeWords() []string { return append([]string(nil), modeWords[:]...) }

// AllocationWords returns the words that spell allocation signals.
func AllocationWords() []string { return append([]string(nil), allocationWords[:]...) }

// MetricWords returns the words that spell metrics; the first six are the
// ones rule conditions accept.
func MetricWords() []string { return append([]string(nil), metricWords[:]...) }
