package replay

import (
	"fmt"
	"math"

	"github.com/moepolicy/moec/rt"
)

// OptResult is the offline optimum's count of hits and misses.
type OptResult struct {
	Slots  int // the slots, pinned ones included (per layer: their total)
	Count      // every access
	Layers []Count
}

// never is the next use of an expert that is not used again.
const never = math.MaxInt32

// MaxOptAccesses is the most accesses Belady takes: each one's next use is
// an int32.
const MaxOptAccesses = never - 1

// Belady returns the fewest misses any cache of slots (layer, expert) slots
// can have on accesses, the selected experts in replay order (Accesses
// reads them from a Source): Belady's MIN. The cache is demand-only, as a
// policy's is: an accessed expert must be resident when used, so a miss
// loads it, evicting the resident expert whose next use is furthest in the
// future (ties: any). Pinned experts always hit, take their slots, and are
// never evicted; an access when every slot is pinned is a miss that loads
// nothing.
//
// MIN is optimal in fills, not only in misses: a policy on the same slots
// that inserts every miss it takes fills at least MIN's misses (its Loads +
// Prefetches). Such a policy that fills slots only on misses (LRU, LFU or
// score without prefetch, CPU misses included as DESIGN.md inserts them)
// hits at most as often as MIN. One that fills slots otherwise can hit
// more often: a prefetcher, whose prefetches are not misses, or the
// frequency-threshold cache, which admits experts other than the one
// accessed; and one that runs misses without inserting them (the
// mechanism allows it) can beat MIN on both counts.
//
// Cost: one backward pass computes every access's next use, and the
// residents sit in a max-heap keyed by next use, so the time is
// O(n log slots) for n accesses. Memory: 4 bytes per access (the next use,
// an int32, so at most 2^31-2 accesses) besides the caller's 8-byte keys,
// 8 bytes per (layer, expert) up to the largest seen, and 4 per slot.
func Belady(accesses []rt.Key, slots int, pin []rt.Key) (*OptResult, error) {
	if slots < 1 {
		return nil, fmt.Errorf("belady: %d slots, need at least 1", slots)
	}
	return belady(accesses, []int{slots}, false, pin, 0)
}

// BeladyPerLayer is Belady for per-layer caches: capacity[l] slots for
// layer l alone (its pinned experts included), each layer's cache optimal
// on its own accesses. An access to a layer beyond capacity is an error.
func BeladyPerLayer(accesses []rt.Key, capacity []int, pin []rt.Key) (*OptResult, error) {
	if len(capacity) == 0 {
		return nil, fmt.Errorf("belady: no layer capacities")
	}
	for l, c := range capacity {
		if c < 0 {
			return nil, fmt.Errorf("belady: layer %d has capacity %d, need 0 or more", l, c)
		}
	}
	return belady(accesses, capacity, true, pin, 0)
}

// BeladyFor returns Belady's optimum for the slots that spec had in res, a
// replay of it: one cache of its capacity, or, for a per_layer policy,
// each layer's capacity at the end of the replay; its pinned experts
// pinned in every layer. Its Layers has one count per layer of the shape,
// as res.Layers has, whichever layers the accesses reach.
func BeladyFor(accesses []rt.Key, spec *rt.Spec, res *Result) (*OptResult, error) {
	pins := PinnedKeys(res.Shape.Layers, spec.Cache.Pin)
	if spec.PerLayer == nil {
		if c := spec.Cache.Capacity; c < 1 {
			return nil, fmt.Errorf("belady: %d slots, need at least 1", c)
		}
		return belady(accesses, []int{spec.Cache.Capacity}, false, pins, res.Shape.Layers)
	}
	caps := make([]int, len(res.Stats.Layers))
	for l, ls := range res.Stats.Layers {
		caps[l] = ls.Capacity
	}
	return BeladyPerLayer(accesses, caps, pins)
}

// optCache is the state of Belady's simulation: a max-heap of residents
// per group (one group, or one per layer) keyed by next use.
type optCache struct {
	next []int32   // per key: the next use of a resident key
	pos  []int32   // per key: index in its group's heap, -1 when not resident
	heap [][]int32 // per group: resident unpinned keys
	free []int     // per group: unpinned slots still empty
}

// belady is Belady's MIN for one cache of caps[0] slots or, perLayer, one
// cache per layer; its result counts at least minLayers layers.
func belady(acc []rt.Key, caps []int, perLayer bool, pin []rt.Key, minLayers int) (*OptResult, error) {
	if len(acc) >= never {
		return nil, fmt.Errorf("belady: %d accesses, at most %d", len(acc), MaxOptAccesses)
	}
	// The dense key space: layers x experts, as large as the keys need.
	layers, experts := int32(0), int32(0)
	if perLayer {
		layers = int32(len(caps))
	}
	for _, ks := range [2][]rt.Key{acc, pin} {
		for _, k := range ks {
			if k.Layer < 0 || k.Expert < 0 {
				return nil, fmt.Errorf("belady: expert %v is out of range", k)
			}
			if perLayer && k.Layer >= layers {
				return nil, fmt.Errorf("belady: expert %v is in layer %d, capacities cover %d layers", k, k.Layer, layers)
			}
			layers = max(layers, k.Layer+1)
			experts = max(experts, k.Expert+1)
		}
	}
	if int64(layers)*int64(experts) > math.MaxInt32 {
		return nil, fmt.Errorf("belady: %d x %d experts, more than fit a 32-bit index", layers, experts)
	}
	keys := int(layers) * int(experts)
	id := func(k rt.Key) int { return int(k.Layer)*int(experts) + int(k.Expert) }
	group := func(k rt.Key) int {
		if perLayer {
			return int(k.Layer)
		}
		return 0
	}

	r := &OptResult{Layers: make([]Count, max(int(layers), minLayers))}
	for _, c := range caps {
		r.Slots += c
	}
	c := &optCache{
		next: make([]int32, keys),
		pos:  make([]int32, keys),
		heap: make([][]int32, len(caps)),
		free: append([]int(nil), caps...),
	}
	// pos is -2 for a pinned key, -1 for any other until it is resident.
	for i := range c.pos {
		c.pos[i] = -1
	}
	for _, k := range pin {
		i := id(k)
		if c.pos[i] == -2 {
			return nil, fmt.Errorf("belady: expert %v is pinned twice", k)
		}
		c.pos[i] = -2
		g := group(k)
		if c.free[g]--; c.free[g] < 0 {
			if perLayer {
				return nil, fmt.Errorf("belady: the pinned experts of layer %d do not fit its %d slots", g, caps[g])
			}
			return nil, fmt.Errorf("belady: %d pinned experts do not fit %d slots", len(pin), caps[0])
		}
	}
	for g, f := range c.free {
		// No more experts than there are keys are ever resident, however
		// many slots the cache has.
		c.heap[g] = make([]int32, 0, min(f, keys))
	}

	// One backward pass: nextUse[i] is the index of the next access to
	// the same key after i, or never. c.next serves as "last seen".
	nextUse := make([]int32, len(acc))
	for i := range c.next {
		c.next[i] = never
	}
	for i := len(acc) - 1; i >= 0; i-- {
		k := id(acc[i])
		nextUse[i] = c.next[k]
		c.next[k] = int32(i)
	}

	for i, a := range acc {
		k := id(a)
		lc := &r.Layers[a.Layer]
		switch p := c.pos[k]; {
		case p == -2:
			lc.Hits++
		case p >= 0:
			lc.Hits++
			// The key's next use moves from i to a later access: its
			// priority grows, so it can only rise in the max-heap.
			c.next[k] = nextUse[i]
			c.up(c.heap[group(a)], int(p))
		default:
			lc.Misses++
			g := group(a)
			h := c.heap[g]
			c.next[k] = nextUse[i]
			switch {
			case c.free[g] > 0:
				c.free[g]--
				c.pos[k] = int32(len(h))
				h = append(h, int32(k))
				c.heap[g] = h
				c.up(h, len(h)-1)
			case len(h) > 0:
				// Evict the root, the furthest next use; the new key
				// takes its place.
				c.pos[h[0]] = -1
				h[0] = int32(k)
				c.pos[k] = 0
				c.down(h, 0)
			}
		}
	}
	for _, l := range r.Layers {
		r.Hits += l.Hits
		r.Misses += l.Misses
	}
	return r, nil
}

// up moves h[i] toward the root while its next use is later than its
// parent's.
func (c *optCache) up(h []int32, i int) {
	k := h[i]
	for i > 0 {
		parent := (i - 1) / 2
		pk := h[parent]
		if c.next[pk] >= c.next[k] {
			break
		}
		h[i] = pk
		c.pos[pk] = int32(i)
		i = parent
	}
	h[i] = k
	c.pos[k] = int32(i)
}

// down moves h[i] toward the leaves while a child's next use is later.
func (c *optCache) down(h []int32, i int) {
	k := h[i]
	n := len(h)
	for {
		child := 2*i + 1
		if child >= n {
			break
		}
		if r := child + 1; r < n && c.next[h[r]] > c.next[h[child]] {
			child = r
		}
		ck := h[child]
		if c.next[ck] <= c.next[k] {
			break
		}
		h[i] = ck
		c.pos[ck] = int32(i)
		i = child
	}
	h[i] = k
	c.pos[k] = int32(i)
}
