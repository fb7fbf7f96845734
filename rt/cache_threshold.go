package rt

import "slices"

// ThresholdCache keeps the experts that make up at least a threshold share
// of the last window accesses (the reference's frequency_threshold cache).
// After every access the resident set becomes the pinned experts plus the
// qualifying ones, trimmed to the capacity by dropping the lowest counts.
// So a miss is not kept unless it qualifies, and an expert that qualifies
// again is made resident without being accessed (it is reported in
// Effects.Admitted, for the mechanism to copy in the background).
//
// Evictions are counted as the reference counts them: every resident
// expert that stops qualifying, and every qualifying expert the trimming
// drops, resident or not (those that were not resident are
// Effects.Phantom).
type ThresholdCache struct {
	x         index
	pins      pinSet
	cap       int
	threshold float64
	ring      []int32 // the last window accesses, by index
	head      int     // next write position
	filled    int
	counts    []int32 // by index: occurrences in the ring
	in        []bool  // by index: resident and not pinned
	members   []int32 // resident, not pinned, in insertion order

	seen   []uint32 // by index: epoch of the last refresh that saw it
	qual   []uint32 // by index: epoch of the last refresh it qualified in
	epoch  uint32
	cand   []int32 // scratch: qualifying experts in first-appearance order
	keep   []bool  // scratch, parallel to cand
	newMem []int32 // scratch
}

var _ Cache = (*ThresholdCache)(nil)

func newThreshold(x index, capacity int, pins []int, threshold float64, window int) *ThresholdCache {
	n := x.size()
	return &ThresholdCache{
		x: x, pins: newPinSet(x, pins), cap: capacity, threshold: threshold,
		ring: make([]int32, mustWindow("frequency window", window)), counts: make([]int32, n), in: make([]bool, n), seen: make([]uint32, n), qual: make([]uint32, n),
	}
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
	if c.filled == len(c.ring) {
		c.counts[c.ring[c.head]]--
	} else {
		c.filled++
	}
	c.ring[c.head] = i
	c.head = (c.head + 1) % len(c.ring)
	c.counts[i]++
	hit := c.pins.is(i) || c.in[i]
	c.refresh(fx)
	return hit
}

// refresh recomputes the resident set from the window.
func (c *ThresholdCache) refresh(fx *Effects) {
	c.epoch++
	if c.epoch == 0 { // wrapped: forget every mark
		clear(c.seen)
		clear(c.qual)
		c.epoch = 1
	}
	n := float64(c.filled)
	c.cand = c.cand[:0]
	start := (c.head - c.filled + len(c.ring)) % len(c.ring)
	for j := 0; j < c.filled; j++ {
		i := c.ring[(start+j)%len(c.ring)]
		if c.seen[i] == c.epoch || c.pins.is(i) {
			continue
		}
		c.seen[i] = c.epoch
		if float64(c.counts[i])/n >= c.threshold {
			c.cand = append(c.cand, i)
			c.qual[i] = c.epoch
		}
	}
	// Members that stopped qualifying leave.
	for _, i := range c.members {
		if c.qual[i] != c.epoch {
			c.in[i] = false
			fx.Evicted = append(fx.Evicted, c.x.key(i))
		}
	}
	// Trim to the capacity: the lowest count goes, ties to the earliest
	// first appearance in the window.
	c.keep = c.keep[:0]
	for range c.cand {
		c.keep = append(c.keep, true)
	}
	for size := len(c.pins.keys) + len(c.cand); size > c.cap; size-- {
		victim := -1
		for j, i := range c.cand {
			if c.keep[j] && (victim < 0 || c.counts[i] < c.counts[c.cand[victim]]) {
				victim = j
			}
		}
		if victim < 0 {
			break
		}
		c.keep[victim] = false
		if i := c.cand[victim]; c.in[i] {
			c.in[i] = false
			fx.Evicted = append(fx.Evicted, c.x.key(i))
		} else {
			fx.Phantom++
		}
	}
	// The new resident set: old members that stay keep their order, then
	// the experts that join, in first-appearance order.
	c.newMem = c.newMem[:0]
	for _, i := range c.members {
		if c.in[i] {
			c.newMem = append(c.newMem, i)
		}
	}
	last := c.ring[(c.head-1+len(c.ring))%len(c.ring)]
	for j, i := range c.cand {
		if c.keep[j] && !c.in[i] {
			c.in[i] = true
			c.newMem = append(c.newMem, i)
			if i != last {
				fx.Admitted = append(fx.Admitted, c.x.key(i))
			}
		}
	}
	c.members, c.newMem = c.newMem, c.members
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
	c.in[i] = true
	c.members = append(c.members, i)
	return true
}

// EvictOne evicts the resident expert with the fewest occurrences in the
// window, ties to the earliest inserted.
func (c *ThresholdCache) EvictOne(protect []Key, fx *Effects) bool {
	victim := -1
	for j, i := range c.members {
		if slices.Contains(protect, c.x.key(i)) {
			continue
		}
		if victim < 0 || c.counts[i] < c.counts[c.members[victim]] {
			victim = j
		}
	}
	if victim < 0 {
		return false
	}
	i := c.members[victim]
	c.in[i] = false
	c.members = slices.Delete(c.members, victim, victim+1)
	fx.Evicted = append(fx.Evicted, c.x.key(i))
	return true
}

func (c *ThresholdCache) Remove(k Key) bool {
	i := c.x.of(k)
	if !c.in[i] {
		return false
	}
	c.in[i] = false
	c.members = slices.DeleteFunc(c.members, func(j int32) bool { return j == i })
	return true
}

func (c *ThresholdCache) Len() int      { return len(c.members) + len(c.pins.keys) }
func (c *ThresholdCache) Capacity() int { return c.cap }

func (c *ThresholdCache) SetCapacity(n int, fx *Effects) {
	c.cap = n
	for c.Len() > c.cap && c.EvictOne(nil, fx) {
	}
}

func (c *ThresholdCache) Residents(dst []Key) []Key {
	start := len(dst)
	for _, i := range c.members {
		dst = append(dst, c.x.key(i))
	}
	slices.SortStableFunc(dst[start:], func(a, b Key) int {
		return int(c.counts[c.x.of(a)]) - int(c.counts[c.x.of(b)])
	})
	return dst
}
