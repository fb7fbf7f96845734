package rt

import "slices"

// LRUCache evicts the least recently used expert. Pinned experts are resident
// from the start, never victims, and not in the recency list.
type LRUCache struct {
	x     index
	pins  pinSet
	cap   int
	n     int     // experts in the list
	in    []bool  // by index: in the list
	prev  []int32 // doubly linked list by index; the sentinel is at size()
	next  []int32
	nodes int32 // the sentinel's index: front = next[nodes] is the oldest
}

var _ Cache = (*LRUCache)(nil)

// newLRU returns an LRU cache of capacity slots for the keys of x, with
// pins resident in every layer of x.
func newLRU(x index, capacity int, pins []int) *LRUCache {
	n := x.size()
	c := &LRUCache{
		x: x, pins: newPinSet(x, pins), cap: capacity,
		in: make([]bool, n), prev: make([]int32, n+1), next: make([]int32, n+1), nodes: int32(n),
	}
	c.prev[n], c.next[n] = int32(n), int32(n)
	return c
}

// NewLRUCache returns an LRU cache of capacity (layer, expert) slots for every
// layer of shape, pinning the expert ids pins in every layer.
func NewLRUCache(shape Shape, capacity int, pins []int) *LRUCache {
	return newLRU(newIndex(shape), capacity, pins)
}

func (c *LRUCache) unlink(i int32) {
	c.next[c.prev[i]] = c.next[i]
	c.prev[c.next[i]] = c.prev[i]
	c.in[i] = false
	c.n--
}

func (c *LRUCache) pushBack(i int32) {
	last := c.prev[c.nodes]
	c.prev[i], c.next[i] = last, c.nodes
	c.next[last] = i
	c.prev[c.nodes] = i
	c.in[i] = true
	c.n++
}

// Access implements the reference's LRU: a hit becomes the most recent; a
// miss evicts the oldest experts until there is room and is inserted, or
// is not kept when every slot is pinned.
func (c *LRUCache) Access(k Key, _ float32, fx *Effects) bool {
	i := c.x.of(k)
	if c.pins.is(i) {
		return true
	}
	if c.in[i] {
		c.unlink(i)
		c.pushBack(i)
		return true
	}
	for c.Len() >= c.cap && c.EvictOne(nil, fx) {
	}
	if c.Len() < c.cap {
		c.pushBack(i)
	}
	return false
}

func (c *LRUCache) Contains(k Key) bool {
	i := c.x.of(k)
	return c.in[i] || c.pins.is(i)
}

func (c *LRUCache) Warm(k Key, protect []Key, fx *Effects) bool {
	i := c.x.of(k)
	if c.in[i] || c.pins.is(i) {
		return false
	}
	for c.Len() >= c.cap {
		if !c.EvictOne(protect, fx) {
			return false
		}
	}
	c.pushBack(i)
	return true
}

func (c *LRUCache) EvictOne(protect []Key, fx *Effects) bool {
	for i := c.next[c.nodes]; i != c.nodes; i = c.next[i] {
		k := c.x.key(i)
		if slices.Contains(protect, k) {
			continue
		}
		c.unlink(i)
		fx.Evicted = append(fx.Evicted, k)
		return true
	}
	return false
}

func (c *LRUCache) Remove(k Key) bool {
	i := c.x.of(k)
	if !c.in[i] {
		return false
	}
	c.unlink(i)
	return true
}

func (c *LRUCache) Len() int      { return c.n + len(c.pins.keys) }
func (c *LRUCache) Capacity() int { return c.cap }

func (c *LRUCache) SetCapacity(n int, fx *Effects) {
	c.cap = n
	for c.Len() > c.cap && c.EvictOne(nil, fx) {
	}
}

func (c *LRUCache) Residents(dst []Key) []Key {
	for i := c.next[c.nodes]; i != c.nodes; i = c.next[i] {
		dst = append(dst, c.x.key(i))
	}
	return dst
}
