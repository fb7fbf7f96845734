package rt

import "slices"

// LRUCache evicts the least recently used expert. Pinned experts are resident
// from the start, never victims, and not in the recency list.
type LRUCache struct {
	x     index
	pins  pinSet
	cap   int
	n     int       // experts in the list
	node  []lruNode // by index; the sentinel is at size()
	nodes int32     // the sentinel's index: front = node[nodes].next is the oldest
}

// lruNode is an expert's place in the recency list, with its key and
// whether it is resident, so that an access touches one entry.
type lruNode struct {
	prev, next int32
	key        Key
	in, pinned bool
}

var _ Cache = (*LRUCache)(nil)

// newLRU returns an LRU cache of capacity slots for the keys of x, with
// pins resident in every layer of x.
func newLRU(x index, capacity int, pins []int) *LRUCache {
	n := x.size()
	c := &LRUCache{x: x, pins: newPinSet(x, pins), cap: capacity, node: make([]lruNode, n+1), nodes: int32(n)}
	for i := range n {
		c.node[i].key = x.key(int32(i))
		c.node[i].pinned = c.pins.is(int32(i))
	}
	c.node[n].prev, c.node[n].next = int32(n), int32(n)
	return c
}

// NewLRUCache returns an LRU cache of capacity (layer, expert) slots for every
// layer of shape, pinning the expert ids pins in every layer.
func NewLRUCache(shape Shape, capacity int, pins []int) *LRUCache {
	return newLRU(newIndex(shape), capacity, pins)
}

func (c *LRUCache) unlink(nd *lruNode) {
	node := c.node // one load: the stores below could be to c
	prev, next := nd.prev, nd.next
	node[prev].next = next
	node[next].prev = prev
	nd.in = false
	c.n--
}

func (c *LRUCache) pushBack(i int32, nd *lruNode) {
	node, sentinel := c.node, c.nodes
	s := &node[sentinel]
	last := s.prev
	node[last].next = i
	nd.prev, nd.next, nd.in = last, sentinel, true
	s.prev = i
	c.n++
}

// Access implements the reference's LRU: a hit becomes the most recent; a
// miss evicts the oldest experts until there is room and is inserted, or
// is not kept when every slot is pinned.
func (c *LRUCache) Access(k Key, _ float32, fx *Effects) bool {
	i := c.x.of(k)
	nd := &c.node[i]
	if nd.pinned {
		return true
	}
	if nd.in {
		c.unlink(nd)
		c.pushBack(i, nd)
		return true
	}
	if v := c.makeRoom(); v >= 0 {
		fx.Evicted = append(fx.Evicted, c.node[v].key)
	}
	c.insert(i, nd)
	return false
}

// makeRoom evicts the oldest expert when the cache is full and returns
// its node, or -1. One eviction always makes room unless every slot is
// pinned: the cache holds more than its capacity only when every resident
// is pinned (SetCapacity evicts the rest).
func (c *LRUCache) makeRoom() int32 {
	if c.Len() < c.cap || c.n == 0 {
		return -1
	}
	v := c.node[c.nodes].next
	c.unlink(&c.node[v])
	return v
}

// insert makes node i the most recent if there is room, reporting
// whether there was.
func (c *LRUCache) insert(i int32, nd *lruNode) bool {
	if c.Len() >= c.cap {
		return false
	}
	c.pushBack(i, nd)
	return true
}

func (c *LRUCache) Contains(k Key) bool {
	nd := &c.node[c.x.of(k)]
	return nd.in || nd.pinned
}

func (c *LRUCache) Warm(k Key, protect []Key, fx *Effects) bool {
	i := c.x.of(k)
	nd := &c.node[i]
	if nd.in || nd.pinned {
		return false
	}
	for c.Len() >= c.cap {
		if !c.EvictOne(protect, fx) {
			return false
		}
	}
	c.pushBack(i, nd)
	return true
}

func (c *LRUCache) EvictOne(protect []Key, fx *Effects) bool {
	for i := c.node[c.nodes].next; i != c.nodes; i = c.node[i].next {
		nd := &c.node[i]
		if slices.Contains(protect, nd.key) {
			continue
		}
		c.unlink(nd)
		fx.Evicted = append(fx.Evicted, nd.key)
		return true
	}
	return false
}

func (c *LRUCache) Remove(k Key) bool {
	nd := &c.node[c.x.of(k)]
	if !nd.in {
		return false
	}
	c.unlink(nd)
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
	for i := c.node[c.nodes].next; i != c.nodes; i = c.node[i].next {
		dst = append(dst, c.node[i].key)
	}
	return dst
}
