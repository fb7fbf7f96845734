package rt

import (
	"cmp"
	"slices"
)

// ThresholdCache keeps the experts that make up at least a threshold share
// of the last window accesses (the reference's frequency_threshold cache).
// After every access the resident set becomes the pinned experts plus the
// qualifying ones, trimmed to the capacity by dropping the lowest counts
// (ties: the earliest first appearance in the window). So a miss is not
// kept unless it qualifies, and an expert that qualifies again is made
// resident without being accessed (it is reported in Effects.Admitted,
// for the mechanism to copy in the background).
//
// Evictions are counted as the reference counts them: every resident
// expert that stops qualifying, and every qualifying expert the trimming
// drops, resident or not (those that were not resident are
// Effects.Phantom).
//
// The reference recomputes all of that from the whole window at every
// access. Here an access changes the counts of two experts (the one
// accessed, the one whose access leaves the window), so the qualifying
// experts are kept split in two heaps, the kept ones (as many as the
// slots left by the pins) and the trimmed ones, and an access moves a few
// experts between them: O(log experts), not O(window).
type ThresholdCache struct {
	x         index
	pins      pinSet
	cap       int
	threshold float64

	// The window: the last accesses by index, each with its number, and
	// for each the ring position of the next access to its expert (-1:
	// none).
	ring   []int32
	seqAt  []uint64
	next   []int32
	head   int
	filled int
	seq    uint64 // accesses so far

	counts   []int32  // by index: accesses in the window
	last     []int32  // by index: ring position of its newest access, -1 when absent
	firstSeq []uint64 // by index: number of its oldest access in the window
	least    int32    // the count that qualifies over the window, at least 1
	sized    int      // the window length least was worked out for

	// The qualifying experts (not pinned, count >= least), split: kept,
	// the best max(0, cap - pins) by count, then the later first
	// appearance (the worst on top), and trimmed, the others (the best on
	// top).
	kept, trimmed rankHeap
	qual          []bool // by index

	// The resident experts that are not pinned, in insertion order: a
	// doubly linked list by index.
	in         []bool // by index
	prev, succ []int32
	front      int32
	back       int32
	stamp      []uint64 // by index: when it joined, for the list's order
	stamps     uint64
	size       int

	// The experts whose residence or kept state may differ from the last
	// refresh's: what the next refresh reports on.
	dirty []int32
	mark  []bool // by index: in dirty

	scratch []int32
}

var _ Cache = (*ThresholdCache)(nil)

// A rankHeap holds indexes of a ThresholdCache in a binary heap by rank
// (count, then first appearance in the window, later is better): the
// worst on top, or the best.
type rankHeap struct {
	items []int32
	at    []int32 // by index: position in items, -1 when absent
	best  bool    // the best on top
}

func newRankHeap(n int, best bool) rankHeap {
	h := rankHeap{at: make([]int32, n), best: best}
	for i := range h.at {
		h.at[i] = -1
	}
	return h
}

func newThreshold(x index, capacity int, pins []int, threshold float64, window int) *ThresholdCache {
	n := x.size()
	w := mustWindow("frequency window", window)
	c := &ThresholdCache{
		x: x, pins: newPinSet(x, pins), cap: capacity, threshold: threshold,
		ring: make([]int32, w), seqAt: make([]uint64, w), next: make([]int32, w),
		counts: make([]int32, n), last: make([]int32, n), firstSeq: make([]uint64, n), least: 1,
		kept: newRankHeap(n, false), trimmed: newRankHeap(n, true), qual: make([]bool, n),
		in: make([]bool, n), prev: make([]int32, n), succ: make([]int32, n), front: -1, back: -1,
		stamp: make([]uint64, n), mark: make([]bool, n),
	}
	for i := range c.last {
		c.last[i] = -1
	}
	return c
}

// NewThresholdCache returns a frequency-threshold cache of capacity (layer,
// expert) slots for every layer of shape, counting over the last window
// accesses, pinning the expert ids pins in every layer. It panics unless
// 1 <= window <= MaxWindow.
func NewThresholdCache(shape Shape, capacity int, pins []int, threshold float64, window int) *ThresholdCache {
	return newThreshold(newIndex(shape), capacity, pins, threshold, window)
}

func (c *ThresholdCache) Access(k Key, _ float32, fx *Effects) bool {
	i := c.x.of(k)
	// The two experts whose rank changes leave the heaps while it does.
	left := int32(-1)
	if c.filled == len(c.ring) {
		left = c.ring[c.head]
		c.unrank(left)
	}
	c.unrank(i)
	c.push(i)
	hit := c.pins.is(i) || c.in[i]
	if c.filled != c.sized {
		c.resize()
	}
	if left >= 0 && left != i {
		c.requalify(left)
	}
	c.requalify(i)
	c.rebalance()
	c.report(i, fx)
	return hit
}

// push records an access to index i in the window.
func (c *ThresholdCache) push(i int32) {
	h := int32(c.head)
	if c.filled == len(c.ring) { // the oldest access leaves
		left := c.ring[h]
		c.counts[left]--
		if nx := c.next[h]; nx >= 0 {
			c.firstSeq[left] = c.seqAt[nx]
		} else {
			c.last[left] = -1
		}
	} else {
		c.filled++
	}
	c.seq++
	c.ring[h], c.seqAt[h], c.next[h] = i, c.seq, -1
	if l := c.last[i]; l >= 0 {
		c.next[l] = h
	} else {
		c.firstSeq[i] = c.seq
	}
	c.last[i] = h
	c.head = (c.head + 1) % len(c.ring)
	c.counts[i]++
}

// unrank takes index i out of its heap, keeping it qualified: requalify
// puts it back by its new rank.
func (c *ThresholdCache) unrank(i int32) {
	switch {
	case c.kept.at[i] >= 0:
		c.kept.remove(c, i)
	case c.trimmed.at[i] >= 0:
		c.trimmed.remove(c, i)
	}
}

// resize works out the least qualifying count for the window's length,
// as the reference tests it (count/length >= threshold), and drops the
// experts that no longer reach it: the count only grows with the length,
// which grows only while the window fills.
func (c *ThresholdCache) resize() {
	n := float64(c.filled)
	c.sized = c.filled
	least := c.least
	for least <= int32(c.filled) && float64(least)/n < c.threshold {
		least++
	}
	if least == c.least {
		return
	}
	c.least = least
	for i := range c.qual {
		if c.qual[i] && c.counts[i] < least {
			c.requalify(int32(i))
		}
	}
}

// requalify brings index i's place in the heaps up to date with its count
// and first appearance.
func (c *ThresholdCache) requalify(i int32) {
	q := c.counts[i] >= c.least && !c.pins.is(i)
	switch {
	case q && c.kept.at[i] < 0 && c.trimmed.at[i] < 0: // (back) in, trimmed until rebalance says
		if c.qual[i] != q || c.in[i] {
			c.touch(i)
		}
		c.qual[i] = true
		c.trimmed.push(c, i)
	case !q && c.qual[i]:
		c.qual[i] = false
		c.unrank(i)
		c.touch(i)
	}
}

// rebalance keeps the best max(0, cap - pins) qualifying experts in kept.
func (c *ThresholdCache) rebalance() {
	want := max(0, c.cap-len(c.pins.keys))
	for len(c.kept.items) > want {
		c.move(&c.kept, &c.trimmed)
	}
	for len(c.kept.items) < want && len(c.trimmed.items) > 0 {
		c.move(&c.trimmed, &c.kept)
	}
	for len(c.kept.items) > 0 && len(c.trimmed.items) > 0 && c.better(c.trimmed.items[0], c.kept.items[0]) {
		c.move(&c.trimmed, &c.kept)
		c.move(&c.kept, &c.trimmed)
	}
}

// move moves the top of from to to.
func (c *ThresholdCache) move(from, to *rankHeap) {
	i := from.items[0]
	from.remove(c, i)
	to.push(c, i)
	c.touch(i)
}

// better reports whether index a ranks above b: more accesses in the
// window, or as many and a later first appearance.
func (c *ThresholdCache) better(a, b int32) bool {
	if c.counts[a] != c.counts[b] {
		return c.counts[a] > c.counts[b]
	}
	return c.firstSeq[a] > c.firstSeq[b]
}

// report turns the differences between the kept experts and the resident
// ones into the reference's effects: the residents that stopped
// qualifying leave first, in insertion order, then the trimmed ones,
// lowest rank first; the kept experts that were not resident join in
// first-appearance order, reported as admitted unless accessed is the
// one. Every qualifying expert trimmed that was not resident counts as a
// phantom eviction. Only the dirty experts can differ.
func (c *ThresholdCache) report(accessed int32, fx *Effects) {
	d := c.dirty
	c.dirty = c.dirty[:0]
	var trimmedResidents int64
	// Residents that stopped qualifying, in insertion order.
	out := c.scratch[:0]
	for _, i := range d {
		if c.in[i] && !c.qual[i] {
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b int32) int { return cmp.Compare(c.stamp[a], c.stamp[b]) })
	n := len(out)
	// Residents trimmed, lowest rank first.
	for _, i := range d {
		if c.in[i] && c.qual[i] && c.kept.at[i] < 0 {
			out = append(out, i)
		}
	}
	slices.SortFunc(out[n:], func(a, b int32) int {
		if c.better(a, b) {
			return 1
		}
		return -1
	})
	trimmedResidents = int64(len(out) - n)
	for _, i := range out {
		c.unlink(i)
		fx.Evicted = append(fx.Evicted, c.x.key(i))
	}
	// Kept experts that join, in first-appearance order.
	out = out[:0]
	for _, i := range d {
		c.mark[i] = false
		if !c.in[i] && c.kept.at[i] >= 0 {
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b int32) int { return cmp.Compare(c.firstSeq[a], c.firstSeq[b]) })
	for _, i := range out {
		c.link(i)
		if i != accessed {
			fx.Admitted = append(fx.Admitted, c.x.key(i))
		}
	}
	fx.Phantom += int64(len(c.trimmed.items)) - trimmedResidents
	c.scratch = out[:0]
}

// touch records that index i's state changed since the last refresh.
func (c *ThresholdCache) touch(i int32) {
	if !c.mark[i] {
		c.mark[i] = true
		c.dirty = append(c.dirty, i)
	}
}

// link appends index i to the residents.
func (c *ThresholdCache) link(i int32) {
	c.in[i] = true
	c.stamps++
	c.stamp[i] = c.stamps
	c.prev[i], c.succ[i] = c.back, -1
	if c.back >= 0 {
		c.succ[c.back] = i
	} else {
		c.front = i
	}
	c.back = i
	c.size++
}

// unlink drops index i from the residents.
func (c *ThresholdCache) unlink(i int32) {
	c.in[i] = false
	p, s := c.prev[i], c.succ[i]
	if p >= 0 {
		c.succ[p] = s
	} else {
		c.front = s
	}
	if s >= 0 {
		c.prev[s] = p
	} else {
		c.back = p
	}
	c.size--
}

func (c *ThresholdCache) Contains(k Key) bool {
	i := c.x.of(k)
	return c.in[i] || c.pins.is(i)
}

func (c *ThresholdCache) Warm(k Key, protect []Key, fx *Effects) bool {
	i := c.x.of(k)
	if c.in[i] || c.pins.is(i) {
		return false
	}
	for c.Len() >= c.cap {
		if !c.EvictOne(protect, fx) {
			return false
		}
	}
	c.link(i)
	c.touch(i)
	return true
}

// EvictOne evicts the resident expert with the fewest occurrences in the
// window, ties to the earliest inserted.
func (c *ThresholdCache) EvictOne(protect []Key, fx *Effects) bool {
	victim := int32(-1)
	for i := c.front; i >= 0; i = c.succ[i] {
		if slices.Contains(protect, c.x.key(i)) {
			continue
		}
		if victim < 0 || c.counts[i] < c.counts[victim] {
			victim = i
		}
	}
	if victim < 0 {
		return false
	}
	c.unlink(victim)
	c.touch(victim)
	fx.Evicted = append(fx.Evicted, c.x.key(victim))
	return true
}

func (c *ThresholdCache) Remove(k Key) bool {
	i := c.x.of(k)
	if !c.in[i] {
		return false
	}
	c.unlink(i)
	c.touch(i)
	return true
}

func (c *ThresholdCache) Len() int      { return c.size + len(c.pins.keys) }
func (c *ThresholdCache) Capacity() int { return c.cap }

func (c *ThresholdCache) SetCapacity(n int, fx *Effects) {
	c.cap = n
	for c.Len() > c.cap && c.EvictOne(nil, fx) {
	}
}

func (c *ThresholdCache) Residents(dst []Key) []Key {
	start := len(dst)
	for i := c.front; i >= 0; i = c.succ[i] {
		dst = append(dst, c.x.key(i))
	}
	slices.SortStableFunc(dst[start:], func(a, b Key) int {
		return int(c.counts[c.x.of(a)]) - int(c.counts[c.x.of(b)])
	})
	return dst
}

// above reports whether index a belongs nearer h's top than b.
func (h *rankHeap) above(c *ThresholdCache, a, b int32) bool {
	if h.best {
		return c.better(a, b)
	}
	return c.better(b, a)
}

func (h *rankHeap) push(c *ThresholdCache, i int32) {
	h.items = append(h.items, i)
	h.at[i] = int32(len(h.items) - 1)
	h.up(c, len(h.items)-1)
}

func (h *rankHeap) remove(c *ThresholdCache, i int32) {
	j := int(h.at[i])
	n := len(h.items) - 1
	if j != n {
		h.swap(j, n)
	}
	h.items = h.items[:n]
	h.at[i] = -1
	if j != n {
		h.fix(c, int32(j))
	}
}

// fix restores the heap after the rank of the item at position j changed.
func (h *rankHeap) fix(c *ThresholdCache, j int32) {
	if !h.down(c, int(j)) {
		h.up(c, int(j))
	}
}

func (h *rankHeap) swap(a, b int) {
	h.items[a], h.items[b] = h.items[b], h.items[a]
	h.at[h.items[a]], h.at[h.items[b]] = int32(a), int32(b)
}

func (h *rankHeap) up(c *ThresholdCache, j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !h.above(c, h.items[j], h.items[p]) {
			return
		}
		h.swap(j, p)
		j = p
	}
}

// down sinks the item at position j and reports whether it moved.
func (h *rankHeap) down(c *ThresholdCache, j int) bool {
	j0, n := j, len(h.items)
	for {
		l := 2*j + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.above(c, h.items[r], h.items[l]) {
			m = r
		}
		if !h.above(c, h.items[m], h.items[j]) {
			break
		}
		h.swap(j, m)
		j = m
	}
	return j != j0
}
