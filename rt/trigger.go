package rt

import "math/bits"

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

// Pressed reports whether resident experts press the trigger: whether
// Relieve would fire.
func (t *MemoryTrigger) Pressed(resident int) bool {
	return float64(resident)*t.perExpert >= t.threshold
}

// Relieve runs the memory-pressure trigger t on cache c after an access;
// protect holds the experts of the current dispatch. It is generic so that
// generated code calls it with its concrete cache type.
func Relieve[C Cache](t *MemoryTrigger, c C, protect []Key, fx *Effects) {
	if !t.Pressed(c.Len()) {
		return
	}
	t.count.Fired++
	for float64(c.Len())*t.perExpert > t.headroom && c.EvictOne(protect, fx) {
		t.count.Evicted++
	}
}

// TTLTrigger evicts an expert once ttl other accesses to its cache have
// happened since its own last access. Pinned experts are exempt.
//
// It keeps a queue of (expert, clock) pairs, one per access, in clock
// order: an access appends its pair and takes from the front the pairs
// that are ttl accesses old, dropping those of experts accessed again
// since (their clock is not the expert's last) and keeping the others for
// Expire. Once warm, the queue holds the pairs of the last ttl accesses;
// when its room is less (a ttl above about twice the experts it covers),
// dead pairs are compacted away as it fills, so its memory is bounded
// whatever the ttl.
type TTLTrigger struct {
	x     index
	pins  pinSet
	ttl   int64
	clock int64
	last  []int64   // by index: clock of the last access, 0 if none tracked
	queue []ttlPair // ring, of a power of two length
	mask  int       // len(queue) - 1
	head  int       // front of the ring
	n     int       // pairs in the ring
	due   []ttlPair // taken from the queue, for Expire
	count TriggerCount
}

type ttlPair struct {
	k     Key
	clock int64
}

func newTTL(x index, ttl int, pins []int) *TTLTrigger {
	// The queue holds at most the pairs of the last ttl accesses and the
	// new one or, compacted, one per expert covered: room for the fewer,
	// rounded up to a power of two, keeps its memory small and compaction
	// rare.
	n := 1 << bits.Len(uint(min(ttl, 2*x.size()+1))) // min(ttl+1, 2*size+2) rounded up, without overflow
	return &TTLTrigger{x: x, pins: newPinSet(x, pins), ttl: int64(ttl), last: make([]int64, x.size()),
		queue: make([]ttlPair, n), mask: n - 1}
}

// Access records an access to k.
func (t *TTLTrigger) Access(k Key) {
	t.clock++
	if i := t.x.of(k); !t.pins.is(i) {
		if t.n == len(t.queue) {
			t.compact()
		}
		t.queue[(t.head+t.n)&t.mask] = ttlPair{k, t.clock}
		t.n++
		t.last[i] = t.clock
	}
	// One pair at most falls due: the one from ttl accesses ago, as every
	// access takes off those due.
	if t.n > 0 && t.queue[t.head].clock <= t.clock-t.ttl {
		p := t.queue[t.head]
		t.head = (t.head + 1) & t.mask
		t.n--
		if t.last[t.x.of(p.k)] == p.clock {
			t.due = append(t.due, p)
		}
	}
}

// compact drops the pairs of experts accessed again since, keeping the
// live ones (one per expert) in order.
func (t *TTLTrigger) compact() {
	w := 0
	for j := 0; j < t.n; j++ {
		p := t.queue[(t.head+j)&t.mask]
		if t.last[t.x.of(p.k)] == p.clock {
			t.queue[(t.head+w)&t.mask] = p
			w++
		}
	}
	t.n = w
}

// Due reports whether some expert's last access is ttl accesses old:
// whether Expire has work to do.
func (t *TTLTrigger) Due() bool { return len(t.due) > 0 }

// Expire evicts from c every expert whose last access is t's ttl accesses
// old. As in the reference, it counts a firing even when the stale experts
// were no longer resident. It is generic so that generated code calls it
// with its concrete cache type.
func Expire[C Cache](t *TTLTrigger, c C, fx *Effects) {
	fired := false
	for _, p := range t.due {
		i := t.x.of(p.k)
		if t.last[i] != p.clock {
			continue // accessed again since Access took it
		}
		t.last[i] = 0
		fired = true
		if c.Remove(p.k) {
			fx.Evicted = append(fx.Evicted, p.k)
			t.count.Evicted++
		}
	}
	t.due = t.due[:0]
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
