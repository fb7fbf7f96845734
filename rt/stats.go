package rt

import "math"

// Stats is a snapshot of a policy's counters, with the reference's
// sections and field names (reference §4.10) and moec's additions: bytes
// moved, and hits, misses and capacity per layer. Totals never reset, not
// even when an adapt rule swaps the policy.
type Stats struct {
	Name      string         `json:"name"`
	Steps     int64          `json:"steps"` // dispatches
	Cache     CacheStats     `json:"cache"`
	Prefetch  PrefetchStats  `json:"prefetch"`
	Scheduler SchedulerStats `json:"scheduler"`
	Triggers  *TriggerStats  `json:"triggers,omitempty"` // nil when the policy has no trigger
	Adapt     *AdaptStats    `json:"adapt,omitempty"`    // nil when the policy has no adapt rule
	Monitor   *MonitorStats  `json:"monitor,omitempty"`  // nil without a monitor block
	Transfer  TransferStats  `json:"transfer"`
	Layers    []LayerStats   `json:"layers"`
}

// CacheStats counts expert accesses.
type CacheStats struct {
	Hits      int64   `json:"hits"`
	Misses    int64   `json:"misses"`
	Evictions int64   `json:"evictions"`
	HitRate   float64 `json:"hit_rate"`
}

// PrefetchStats counts prefetch loads and those that were used.
type PrefetchStats struct {
	Issued   int64   `json:"issued"`
	Useful   int64   `json:"useful"`
	Accuracy float64 `json:"accuracy"`
}

// SchedulerStats counts where selected experts ran.
type SchedulerStats struct {
	GPU       int64 `json:"gpu"`
	CPU       int64 `json:"cpu"`
	Transfers int64 `json:"transfers"` // demand transfers: misses run on the GPU
}

// TriggerStats counts the triggers' work; a trigger the policy does not
// have is nil.
type TriggerStats struct {
	MemoryPressure *TriggerCount `json:"memory_pressure"`
	TTL            *TriggerCount `json:"ttl"`
}

// TriggerCount is how often a trigger fired and how many experts it
// evicted.
type TriggerCount struct {
	Fired   int64 `json:"fired"`
	Evicted int64 `json:"evicted"`
}

// AdaptStats is the log of the swaps adapt rules made.
type AdaptStats struct {
	Adaptations int64          `json:"adaptations"`
	Skipped     int64          `json:"skipped"`
	Log         []AdaptEntry   `json:"log"`
	SkippedLog  []SkippedEntry `json:"skipped_log"`
}

// AdaptEntry is one applied swap: at which dispatch, which rule (counted
// from 0, implicit rules first), and what it changed.
type AdaptEntry struct {
	Step    int64  `json:"step"`
	Rule    int    `json:"rule"`
	Actions string `json:"actions"`
}

// SkippedEntry is a rule that fired but whose policy was invalid.
type SkippedEntry struct {
	Step    int64  `json:"step"`
	Rule    int    `json:"rule"`
	Actions string `json:"actions"`
	Reason  string `json:"reason"`
}

// TransferStats counts the bytes the plans asked to move: copies times
// Shape.ExpertBytes (see Bytes), saturating at math.MaxInt64.
type TransferStats struct {
	DemandBytes   int64 `json:"demand_bytes"`   // Plan.Load
	PrefetchBytes int64 `json:"prefetch_bytes"` // Plan.Prefetch
}

// Bytes returns the bytes that copies copies of size bytes each move
// (neither negative), or math.MaxInt64 when that does not fit an int64: a
// byte total saturates rather than wraps to a wrong, even negative, number
// (a model's expert_bytes comes from a file or a flag).
func Bytes(copies, size int64) int64 {
	if size > 0 && copies > math.MaxInt64/size {
		return math.MaxInt64
	}
	return copies * size
}

// LayerStats is one layer's share.
type LayerStats struct {
	Hits     int64   `json:"hits"`
	Misses   int64   `json:"misses"`
	HitRate  float64 `json:"hit_rate"`
	Capacity int     `json:"capacity"` // slots of the layer's own cache; 0 with a shared cache
}

// MonitorStats is what a monitor block watches: its metrics over the last
// Window expert accesses now, and snapshots taken every log_interval
// accesses (the most recent 64).
type MonitorStats struct {
	Window  int               `json:"window"`
	Current MonitorSnapshot   `json:"current"`
	History []MonitorSnapshot `json:"history"`
}

// MonitorSnapshot holds the windowed metrics at one access. Latency is
// not measured by the policy (it never sees time), so it is absent.
type MonitorSnapshot struct {
	Access       int64   `json:"access"`
	HitRate      float64 `json:"hit_rate"`
	MissRate     float64 `json:"miss_rate"`
	EvictionRate float64 `json:"eviction_rate"`
	TransferRate float64 `json:"transfer_rate"`
	CPURate      float64 `json:"cpu_rate"`
	MemoryGB     float64 `json:"memory_gb,omitempty"` // resident expert bytes, in the current snapshot only
}
