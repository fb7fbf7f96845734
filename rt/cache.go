package rt

// The caches hold (layer, expert) slots. Each is a concrete type with the
// same method set, so generated code calls them directly and the
// interpreter through the cache interface. State lives in dense arrays
// indexed by layer*Experts+expert: no maps, nothing allocated per access.

// Effects collects what one cache operation did besides answering: the
// slots it released, the experts it made resident on its own, and the
// evictions the reference counts that released nothing. The interpreter
// turns it into Plan entries and statistics.
type Effects struct {
	Evicted  []Key // released, in order; each was resident
	Admitted []Key // made resident without being accessed or warmed (frequency_threshold)
	Phantom  int64 // evictions counted, as the reference does, of experts that were not resident
}

// Reset empties e, keeping its storage.
func (e *Effects) Reset() {
	e.Evicted = e.Evicted[:0]
	e.Admitted = e.Admitted[:0]
	e.Phantom = 0
}

// Cache is the method set every cache kind has. Generated code holds the
// concrete types; the interpreter and the two-tier cache use this.
type Cache interface {
	// Access looks k up with the router's gate score, updates the cache's
	// state as the reference does and, on a miss, inserts k, evicting by
	// the cache's rule (never a pinned expert). It reports a hit.
	Access(k Key, score float32, fx *Effects) bool
	// Contains reports whether k is resident.
	Contains(k Key) bool
	// Warm makes k resident ahead of need, evicting a victim that is
	// neither pinned nor in protect. It reports whether k was inserted.
	Warm(k Key, protect []Key, fx *Effects) bool
	// EvictOne evicts the cache's own next victim that is not in protect.
	EvictOne(protect []Key, fx *Effects) bool
	// Remove drops k if it is resident and not pinned, reporting whether
	// it did. It records nothing in Effects: the caller does.
	Remove(k Key) bool
	// Len returns the number of resident experts, pins included.
	Len() int
	// Capacity returns the number of slots.
	Capacity() int
	// SetCapacity changes the number of slots, evicting by the cache's
	// rule when it shrinks.
	SetCapacity(n int, fx *Effects)
	// Residents appends the resident experts that are not pinned, the
	// cache's next victim first.
	Residents(dst []Key) []Key
}

// index maps the keys of some layers to dense array positions.
type index struct {
	experts int32
	base    int32 // first layer
	layers  int32 // number of layers
}

func newIndex(s Shape) index { return index{experts: int32(s.Experts), layers: int32(s.Layers)} }

// layerIndex is the index of one layer's keys.
func layerIndex(s Shape, layer int) index {
	return index{experts: int32(s.Experts), base: int32(layer), layers: 1}
}

func (x index) size() int       { return int(x.layers) * int(x.experts) }
func (x index) of(k Key) int32  { return (k.Layer-x.base)*x.experts + k.Expert }
func (x index) key(i int32) Key { return Key{Layer: x.base + i/x.experts, Expert: i % x.experts} }

// pinSet is the set of pinned keys of a cache.
type pinSet struct {
	pinned []bool // by index
	keys   []Key  // in pin order
}

// newPinSet pins ids in every layer of x.
func newPinSet(x index, ids []int) pinSet {
	p := pinSet{pinned: make([]bool, x.size())}
	for l := x.base; l < x.base+x.layers; l++ {
		for _, e := range ids {
			if e < 0 || e >= int(x.experts) {
				continue
			}
			k := Key{Layer: l, Expert: int32(e)}
			if !p.pinned[x.of(k)] {
				p.pinned[x.of(k)] = true
				p.keys = append(p.keys, k)
			}
		}
	}
	return p
}

func (p *pinSet) is(i int32) bool { return p.pinned[i] }
