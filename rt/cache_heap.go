package rt

import "slices"

// ordered is the state LFU and score caches share: a value per resident
// expert and a min-heap of the resident experts that are not pinned,
// ordered by (value, insertion sequence), so the victim is the smallest
// value and, among equals, the earliest inserted.
type ordered struct {
	x     index
	pins  pinSet
	cap   int
	pos   []int32     // by index: position in heap, -1 if not there
	heap  []heapEntry // the entries carry their keys, so comparisons stay in the heap's memory
	tick  uint64
	tmp   []heapEntry // scratch for residents
	front []int32     // scratch for evictOne
}

// heapEntry is a resident expert in the heap: its value, its insertion
// sequence number and its index.
type heapEntry struct {
	val float64
	seq uint64
	i   int32
}

func newOrdered(x index, capacity int, pins []int) ordered {
	n := x.size()
	o := ordered{x: x, pins: newPinSet(x, pins), cap: capacity,
		pos: make([]int32, n), heap: make([]heapEntry, 0, min(capacity, n))}
	for i := range o.pos {
		o.pos[i] = -1
	}
	return o
}

func less(a, b *heapEntry) bool {
	return a.val < b.val || a.val == b.val && a.seq < b.seq
}

func (o *ordered) swap(i, j int) {
	h := o.heap
	h[i], h[j] = h[j], h[i]
	o.pos[h[i].i] = int32(i)
	o.pos[h[j].i] = int32(j)
}

// value returns the value of resident i, which must be in the heap.
func (o *ordered) value(i int32) float64 { return o.heap[o.pos[i]].val }

// setValue changes the value of resident i and restores the heap.
func (o *ordered) setValue(i int32, v float64) {
	p := int(o.pos[i])
	up := v < o.heap[p].val
	o.heap[p].val = v
	if up {
		o.up(p)
	} else {
		o.down(p)
	}
}

func (o *ordered) up(j int) {
	h := o.heap
	e := h[j]
	for j > 0 {
		i := (j - 1) / 2
		if !less(&e, &h[i]) {
			break
		}
		h[j] = h[i] // move the parent down into the hole
		o.pos[h[j].i] = int32(j)
		j = i
	}
	h[j] = e
	o.pos[e.i] = int32(j)
}

// down moves the element at i down to its place and reports whether it
// moved.
func (o *ordered) down(i0 int) bool {
	h, pos := o.heap, o.pos
	n, i := uint(len(h)), uint(i0)
	e := h[i]
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		c := &h[j]
		if r := j + 1; r < n && less(&h[r], c) {
			j, c = r, &h[r]
		}
		if !less(c, &e) {
			break
		}
		h[i] = *c // move the smaller child up into the hole
		pos[c.i] = int32(i)
		i = j
	}
	h[i] = e
	pos[e.i] = int32(i)
	return int(i) > i0
}

func (o *ordered) push(i int32, v float64) {
	o.pos[i] = int32(len(o.heap))
	o.heap = append(o.heap, heapEntry{val: v, seq: o.tick, i: i})
	o.tick++
	o.up(len(o.heap) - 1)
}

func (o *ordered) removeAt(p int) heapEntry {
	e := o.heap[p]
	last := len(o.heap) - 1
	if p != last {
		o.swap(p, last)
	}
	o.heap = o.heap[:last]
	o.pos[e.i] = -1
	if p != last && !o.down(p) {
		o.up(p)
	}
	return e
}

// reheap rebuilds the heap after every value changed (a decay: the order of
// values is kept, but rounding can turn two values equal and so hand the
// tie to the insertion order).
func (o *ordered) reheap() {
	for p := len(o.heap)/2 - 1; p >= 0; p-- {
		o.down(p)
	}
}

func (o *ordered) contains(i int32) bool { return o.pos[i] >= 0 || o.pins.is(i) }

// evictOne removes the smallest resident that is not in protect. It
// searches the heap best first from the root: a protected entry's
// children are the next candidates, so the search visits the protected
// entries smaller than the victim and their children, and the heap is
// changed only where the victim leaves it.
func (o *ordered) evictOne(protect []Key, fx *Effects) bool {
	if len(o.heap) == 0 {
		return false
	}
	if len(protect) == 0 || !slices.Contains(protect, o.x.key(o.heap[0].i)) {
		e := o.removeAt(0)
		fx.Evicted = append(fx.Evicted, o.x.key(e.i))
		return true
	}
	front := append(o.front[:0], 0) // heap positions still to look at
	for len(front) > 0 {
		m := 0
		for j := 1; j < len(front); j++ {
			if less(&o.heap[front[j]], &o.heap[front[m]]) {
				m = j
			}
		}
		p := front[m]
		front[m] = front[len(front)-1]
		front = front[:len(front)-1]
		if k := o.x.key(o.heap[p].i); p == 0 || slices.Contains(protect, k) {
			for c := 2*p + 1; c <= 2*p+2 && c < int32(len(o.heap)); c++ {
				front = append(front, c)
			}
			continue
		}
		o.front = front
		e := o.removeAt(int(p))
		fx.Evicted = append(fx.Evicted, o.x.key(e.i))
		return true
	}
	o.front = front
	return false
}

// insert makes room, evicting unprotected victims, and inserts i with value
// v. It reports whether there was room.
func (o *ordered) insert(i int32, v float64, protect []Key, fx *Effects) bool {
	if o.length() == o.cap && len(o.heap) > 0 && (len(protect) == 0 || !slices.Contains(protect, o.x.key(o.heap[0].i))) {
		// Full, and the victim is the root: the new entry takes its
		// place and sifts down, one sift instead of two.
		fx.Evicted = append(fx.Evicted, o.x.key(o.heap[0].i))
		o.pos[o.heap[0].i] = -1
		o.heap[0] = heapEntry{val: v, seq: o.tick, i: i}
		o.tick++
		o.pos[i] = 0
		o.down(0)
		return true
	}
	for o.length() >= o.cap {
		if !o.evictOne(protect, fx) {
			return false
		}
	}
	o.push(i, v)
	return true
}

func (o *ordered) length() int { return len(o.heap) + len(o.pins.keys) }

func (o *ordered) remove(k Key) bool {
	i := o.x.of(k)
	if o.pos[i] < 0 {
		return false
	}
	o.removeAt(int(o.pos[i]))
	return true
}

func (o *ordered) setCapacity(n int, fx *Effects) {
	o.cap = n
	for o.length() > o.cap && o.evictOne(nil, fx) {
	}
}

func (o *ordered) residents(dst []Key) []Key {
	o.tmp = append(o.tmp[:0], o.heap...)
	slices.SortFunc(o.tmp, func(a, b heapEntry) int {
		switch {
		case less(&a, &b):
			return -1
		case less(&b, &a):
			return 1
		}
		return 0
	})
	for _, e := range o.tmp {
		dst = append(dst, o.x.key(e.i))
	}
	return dst
}

// LFUCache evicts the least frequently used expert; ties go to the earliest
// inserted. Every 100 accesses, before the access, every frequency is
// multiplied by the decay.
type LFUCache struct {
	ordered
	decay float64
	tock  int // accesses until the next decay
}

// decayEvery is the number of accesses between decays.
const decayEvery = 100

var _ Cache = (*LFUCache)(nil)

func newLFU(x index, capacity int, pins []int, decay float64) *LFUCache {
	return &LFUCache{ordered: newOrdered(x, capacity, pins), decay: decay, tock: decayEvery}
}

// NewLFUCache returns an LFU cache of capacity (layer, expert) slots for
// every layer of shape, with the given decay, pinning the expert ids pins
// in every layer.
func NewLFUCache(shape Shape, capacity int, pins []int, decay float64) *LFUCache {
	return newLFU(newIndex(shape), capacity, pins, decay)
}

// SetDecay changes the decay factor.
func (c *LFUCache) SetDecay(d float64) { c.decay = d }

func (c *LFUCache) Access(k Key, _ float32, fx *Effects) bool {
	if c.tock--; c.tock == 0 {
		c.tock = decayEvery
		if c.decay < 1 {
			for j := range c.heap {
				c.heap[j].val *= c.decay
			}
			c.reheap()
		}
	}
	i := c.x.of(k)
	if c.pins.is(i) {
		return true
	}
	if p := c.pos[i]; p >= 0 {
		c.heap[p].val++
		c.down(int(p))
		return true
	}
	c.insert(i, 1, nil, fx)
	return false
}

func (c *LFUCache) Contains(k Key) bool { return c.contains(c.x.of(k)) }

func (c *LFUCache) Warm(k Key, protect []Key, fx *Effects) bool {
	i := c.x.of(k)
	if c.contains(i) {
		return false
	}
	return c.insert(i, 1, protect, fx)
}

func (c *LFUCache) EvictOne(protect []Key, fx *Effects) bool { return c.evictOne(protect, fx) }
func (c *LFUCache) Remove(k Key) bool                        { return c.remove(k) }
func (c *LFUCache) Len() int                                 { return c.length() }
func (c *LFUCache) Capacity() int                            { return c.cap }
func (c *LFUCache) SetCapacity(n int, fx *Effects)           { c.setCapacity(n, fx) }
func (c *LFUCache) Residents(dst []Key) []Key                { return c.residents(dst) }

// ScoreCache keeps the experts the router favours: each resident expert
// has an exponential moving average of its gate values (the raw gate on
// insertion), and the lowest average is evicted, ties to the earliest
// inserted.
type ScoreCache struct {
	ordered
	alpha float64
}

var _ Cache = (*ScoreCache)(nil)

func newScore(x index, capacity int, pins []int, alpha float64) *ScoreCache {
	return &ScoreCache{ordered: newOrdered(x, capacity, pins), alpha: alpha}
}

// NewScoreCache returns a score cache of capacity (layer, expert) slots for
// every layer of shape, with EMA weight alpha, pinning the expert ids pins
// in every layer.
func NewScoreCache(shape Shape, capacity int, pins []int, alpha float64) *ScoreCache {
	return newScore(newIndex(shape), capacity, pins, alpha)
}

func (c *ScoreCache) Access(k Key, score float32, fx *Effects) bool {
	i := c.x.of(k)
	if c.pins.is(i) {
		return true
	}
	g := float64(score)
	if c.pos[i] >= 0 {
		c.setValue(i, c.alpha*g+(1-c.alpha)*c.value(i))
		return true
	}
	c.insert(i, g, nil, fx)
	return false
}

func (c *ScoreCache) Contains(k Key) bool { return c.contains(c.x.of(k)) }

// Warm inserts a predicted expert with score 0: the router has not chosen
// it yet, so it is the first to go unless it is used.
func (c *ScoreCache) Warm(k Key, protect []Key, fx *Effects) bool {
	i := c.x.of(k)
	if c.contains(i) {
		return false
	}
	return c.insert(i, 0, protect, fx)
}

func (c *ScoreCache) EvictOne(protect []Key, fx *Effects) bool { return c.evictOne(protect, fx) }
func (c *ScoreCache) Remove(k Key) bool                        { return c.remove(k) }
func (c *ScoreCache) Len() int                                 { return c.length() }
func (c *ScoreCache) Capacity() int                            { return c.cap }
func (c *ScoreCache) SetCapacity(n int, fx *Effects)           { c.setCapacity(n, fx) }
func (c *ScoreCache) Residents(dst []Key) []Key                { return c.residents(dst) }
