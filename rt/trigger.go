package rt

// MemoryTrigger evicts when the cache fills its memory budget: after every
// access, if resident experts x expert size / budget >= threshold, it
// evicts the cache's own victims until the usage is at most the headroom.
// It never evicts an expert of the current dispatch.
type MemoryTrigger struct {
	threshold, headroom float64
	perExpert           float64 // expert size / budget: the usage of one resident expert
	count               TriggerCount
}

// NewMemoryTrigger returns a memory-pressure trigger for experts of
// expertGB against a budget of budgetGB.
func NewMemoryTrigger(threshold, headroom, budgetGB, expertGB float64) *MemoryTrigger {
	return &MemoryTrigger{threshold: threshold, headroom: headroom, perExpert: expertGB / budgetGB}
}

// Relieve runs the memory-pressure trigger t on cache c after an access;
// protect holds the experts of the current dispatch. It is generic so that
// generated code calls it with its concrete cache type.
func Relieve[C Cache](t *MemoryTrigger, c C, protect []Key, fx *Effects) {
	if float64(c.Len())*t.perExpert < t.threshold {
		return
	}
	t.count.Fired++
	for float64(c.Len())*t.perExpert > t.headroom && c.EvictOne(protect, fx) {
		t.count.Evicted++
	}
}

// TTLTrigger evicts an expert once ttl other accesses to its cache have
// happened since its own last access. Pinned experts are exempt.
type TTLTrigger struct {
	x     index
	pins  pinSet
	ttl   int64
	clock int64
	last  []int64 // by index: clock of the last access
	// A recency list of every accessed expert, resident or not, oldest
	// first; the sentinel is at x.size().
	in         []bool
	prev, next []int32
	count      TriggerCount
}

func newTTL(x index, ttl int, pins []int) *TTLTrigger {
	n := x.size()
	t := &TTLTrigger{x: x, pins: newPinSet(x, pins), ttl: int64(ttl), last: make([]int64, n),
		in: make([]bool, n), prev: make([]int32, n+1), next: make([]int32, n+1)}
	t.prev[n], t.next[n] = int32(n), int32(n)
	return t
}

// Access records an access to k.
func (t *TTLTrigger) Access(k Key) {
	t.clock++
	i := t.x.of(k)
	if t.pins.is(i) {
		return
	}
	if t.in[i] {
		t.next[t.prev[i]] = t.next[i]
		t.prev[t.next[i]] = t.prev[i]
	}
	s := int32(len(t.last))
	last := t.prev[s]
	t.prev[i], t.next[i] = last, s
	t.next[last] = i
	t.prev[s] = i
	t.in[i] = true
	t.last[i] = t.clock
}

// Expire evicts from c every expert whose last access is t's ttl accesses
// old. As in the reference, it counts a firing even when the stale experts
// were no longer resident. It is generic so that generated code calls it
// with its concrete cache type.
func Expire[C Cache](t *TTLTrigger, c C, fx *Effects) {
	s := int32(len(t.last))
	fired := false
	for i := t.next[s]; i != s && t.last[i] <= t.clock-t.ttl; i = t.next[s] {
		t.next[s] = t.next[i]
		t.prev[t.next[i]] = s
		t.in[i] = false
		fired = true
		if k := t.x.key(i); c.Remove(k) {
			fx.Evicted = append(fx.Evicted, k)
			t.count.Evicted++
		}
	}
	if fired {
		t.count.Fired++
	}
}

// Snapshot returns a copy of how often the trigger fired and how many
// experts it evicted.
func (t *MemoryTrigger) Snapshot() *TriggerCount { c := t.count; return &c }

// Snapshot returns a copy of how often the trigger fired and how many
// experts it evicted.
func (t *TTLTrigger) Snapshot() *TriggerCount { c := t.count; return &c }

// SumCounts adds up the counts of one trigger per layer; nil entries (a
// trigger not yet on) count nothing.
func SumCounts[T MemoryTrigger | TTLTrigger](ts []*T) *TriggerCount {
	var n TriggerCount
	for _, t := range ts {
		if t == nil {
			continue
		}
		var c TriggerCount
		switch t := any(t).(type) {
		case *MemoryTrigger:
			c = t.count
		case *TTLTrigger:
			c = t.count
		}
		n.Fired += c.Fired
		n.Evicted += c.Evicted
	}
	return &n
}
