package rt

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

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

	// The ring's first occurrences: first has a bit set at each ring
	// position that holds its expert's oldest occurrence, so that the
	// experts of the window are visited in first-appearance order without
	// reading the whole ring; next links each position to the next
	// occurrence of its expert (-1: none) and last gives each expert's
	// newest position (-1: not in the window).
	first []uint64
	next  []int32
	last  []int32

	qual   []uint32 // by index: epoch of the last refresh it qualified in
	epoch  uint32
	cand   []int32 // scratch: qualifying experts in first-appearance order
	keep   []bool  // scratch, parallel to cand
	newMem []int32 // scratch
	hist   []int32 // scratch, by count: qualifying experts with that count
	out    []int32 // scratch: the trimmed members, as positions in cand
}

var _ Cache = (*ThresholdCache)(nil)

func newThreshold(x index, capacity int, pins []int, threshold float64, window int) *ThresholdCache {
	n := x.size()
	w := mustWindow("frequency window", window)
	c := &ThresholdCache{
		x: x, pins: newPinSet(x, pins), cap: capacity, threshold: threshold,
		ring: make([]int32, w), counts: make([]int32, n), in: make([]bool, n), qual: make([]uint32, n),
		first: make([]uint64, (w+63)/64), next: make([]int32, w), last: make([]int32, n),
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
	c.push(i)
	hit := c.pins.is(i) || c.in[i]
	c.refresh(fx)
	return hit
}

// push records an access to index i in the window.
func (c *ThresholdCache) push(i int32) {
	h := int32(c.head)
	if c.filled == len(c.ring) { // the oldest access leaves: it is its expert's first
		e := c.ring[h]
		c.counts[e]--
		c.first[h/64] &^= 1 << (h % 64)
		if nx := c.next[h]; nx >= 0 {
			c.first[nx/64] |= 1 << (nx % 64)
		} else {
			c.last[e] = -1
		}
	} else {
		c.filled++
	}
	c.ring[h] = i
	c.next[h] = -1
	if l := c.last[i]; l >= 0 {
		c.next[l] = h
	} else {
		c.first[h/64] |= 1 << (h % 64)
	}
	c.last[i] = h
	c.head = (c.head + 1) % len(c.ring)
	c.counts[i]++
}

// firsts appends to dst the experts of the window, each once, in order of
// their first appearance (oldest first).
func (c *ThresholdCache) firsts(dst []int32) []int32 {
	start := (c.head - c.filled + len(c.ring)) % len(c.ring)
	end := start + c.filled
	dst = c.firstsIn(dst, start, min(end, len(c.ring)))
	if end > len(c.ring) {
		dst = c.firstsIn(dst, 0, end-len(c.ring))
	}
	return dst
}

// firstsIn appends the experts whose first occurrence is in ring
// positions [from, to), in ring order.
func (c *ThresholdCache) firstsIn(dst []int32, from, to int) []int32 {
	for w := from / 64; w*64 < to; w++ {
		word := c.first[w]
		if lo := from - w*64; lo > 0 {
			word &^= 1<<lo - 1
		}
		if hi := to - w*64; hi < 64 {
			word &= 1<<hi - 1
		}
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &= word - 1
			dst = append(dst, c.ring[w*64+b])
		}
	}
	return dst
}

// refresh recomputes the resident set from the window: O(window/64 +
// the experts in the window), where the reference reads the whole window
// and trims one lowest count at a time.
func (c *ThresholdCache) refresh(fx *Effects) {
	c.epoch++
	if c.epoch == 0 { // wrapped: forget every mark
		clear(c.qual)
		c.epoch = 1
	}
	n := float64(c.filled)
	c.cand = c.firsts(c.cand[:0])
	q := c.cand[:0]
	for _, i := range c.cand {
		if !c.pins.is(i) && float64(c.counts[i])/n >= c.threshold {
			q = append(q, i)
			c.qual[i] = c.epoch
		}
	}
	c.cand = q
	// Members that stopped qualifying leave.
	for _, i := range c.members {
		if c.qual[i] != c.epoch {
			c.in[i] = false
			fx.Evicted = append(fx.Evicted, c.x.key(i))
		}
	}
	c.keep = c.keep[:0]
	for range c.cand {
		c.keep = append(c.keep, true)
	}
	c.trim(fx)
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

// trim drops qualifying experts until they and the pins fit the capacity,
// as the reference does one at a time: the lowest count goes first, ties
// to the earliest first appearance. The dropped ones are the first of cand
// sorted stably by count; a count histogram finds them in one pass. Each
// dropped member is evicted, in the order it went; the others count as
// phantom evictions.
func (c *ThresholdCache) trim(fx *Effects) {
	excess := min(len(c.pins.keys)+len(c.cand)-c.cap, len(c.cand))
	if excess <= 0 {
		return
	}
	lo, hi := int32(math.MaxInt32), int32(0)
	for _, i := range c.cand {
		lo, hi = min(lo, c.counts[i]), max(hi, c.counts[i])
	}
	if int(hi) >= len(c.hist) {
		c.hist = make([]int32, hi+1)
	}
	for _, i := range c.cand {
		c.hist[c.counts[i]]++
	}
	// Every expert with a count under cut goes, and the first take of
	// those with count cut.
	cut, take := lo, int32(excess)
	for ; take > c.hist[cut]; cut++ {
		take -= c.hist[cut]
	}
	for _, i := range c.cand {
		c.hist[c.counts[i]] = 0
	}
	c.out = c.out[:0]
	for j, i := range c.cand {
		n := c.counts[i]
		if n > cut || n == cut && take == 0 {
			continue
		}
		if n == cut {
			take--
		}
		c.keep[j] = false
		if c.in[i] {
			c.in[i] = false
			c.out = append(c.out, int32(j))
		} else {
			fx.Phantom++
		}
	}
	slices.SortFunc(c.out, func(a, b int32) int { // by count, then first appearance
		if d := cmp.Compare(c.counts[c.cand[a]], c.counts[c.cand[b]]); d != 0 {
			return d
		}
		return cmp.Compare(a, b)
	})
	for _, j := range c.out {
		fx.Evicted = append(fx.Evicted, c.x.key(c.cand[j]))
	}
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
