package rt

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveCache is the rule an LRU or LFU cache implements, kept the slow,
// obvious way: a list of residents with their values, the victim found by
// a scan.
type naiveCache struct {
	lfu      bool
	cap      int
	pins     []Key
	res      []naiveEntry
	tick     uint64
	decay    float64
	accesses int
}

type naiveEntry struct {
	k   Key
	val float64 // LRU: time of the last access; LFU: frequency
	seq uint64  // LFU: insertion order
}

func (c *naiveCache) find(k Key) int {
	return slices.IndexFunc(c.res, func(e naiveEntry) bool { return e.k == k })
}

func (c *naiveCache) len() int { return len(c.res) + len(c.pins) }

// victim returns the position of the next victim not in protect, or -1.
func (c *naiveCache) victim(protect []Key) int {
	best := -1
	for j, e := range c.res {
		if slices.Contains(protect, e.k) {
			continue
		}
		if b := c.res[max(best, 0)]; best < 0 || e.val < b.val || e.val == b.val && e.seq < b.seq {
			best = j
		}
	}
	return best
}

func (c *naiveCache) evictOne(protect []Key, ev *[]Key) bool {
	j := c.victim(protect)
	if j < 0 {
		return false
	}
	*ev = append(*ev, c.res[j].k)
	c.res = slices.Delete(c.res, j, j+1)
	return true
}

func (c *naiveCache) insert(k Key, protect []Key, ev *[]Key) bool {
	for c.len() >= c.cap {
		if !c.evictOne(protect, ev) {
			return false
		}
	}
	c.tick++
	v := float64(c.tick)
	if c.lfu {
		v = 1
	}
	c.res = append(c.res, naiveEntry{k, v, c.tick})
	return true
}

func (c *naiveCache) access(k Key, ev *[]Key) bool {
	if c.lfu {
		if c.accesses++; c.decay < 1 && c.accesses%100 == 0 {
			for j := range c.res {
				c.res[j].val *= c.decay
			}
		}
	}
	if slices.Contains(c.pins, k) {
		return true
	}
	if j := c.find(k); j >= 0 {
		c.tick++
		if c.lfu {
			c.res[j].val++
		} else {
			c.res[j].val = float64(c.tick)
		}
		return true
	}
	c.insert(k, nil, ev)
	return false
}

// residents lists the residents that are not pinned, the next victim
// first.
func (c *naiveCache) residents() []Key {
	s := slices.Clone(c.res)
	slices.SortFunc(s, func(a, b naiveEntry) int { return cmp.Or(cmp.Compare(a.val, b.val), cmp.Compare(a.seq, b.seq)) })
	var ks []Key
	for _, e := range s {
		ks = append(ks, e.k)
	}
	return ks
}

// TestCachesAgainstNaive drives the LRU and LFU caches and the naive rule
// with the same random operations (accesses, warming and evicting with
// experts protected, removals, capacity changes) and compares every
// answer, every eviction and the residents in victim order.
func TestCachesAgainstNaive(t *testing.T) {
	shape := Shape{Layers: 2, Experts: 12, TopK: 4}
	for _, kind := range []Eviction{LRU, LFU} {
		for seed := range 60 {
			r := rand.New(rand.NewPCG(uint64(seed), 7))
			capacity := 1 + r.IntN(14)
			pins := []int{r.IntN(12)}[:r.IntN(2)]
			var c Cache
			n := &naiveCache{lfu: kind == LFU, cap: capacity, decay: 1}
			for l := range 2 {
				for _, e := range pins {
					n.pins = append(n.pins, Key{Layer: int32(l), Expert: int32(e)})
				}
			}
			if kind == LRU {
				c = NewLRUCache(shape, capacity, pins)
			} else {
				n.decay = []float64{1, 0.9, 0.5}[r.IntN(3)]
				c = NewLFUCache(shape, capacity, pins, n.decay)
			}
			key := func() Key { return Key{Layer: int32(r.IntN(2)), Expert: int32(r.IntN(12))} }
			for step := range 2000 {
				var fx Effects
				var want []Key
				var got, ok bool
				protect := []Key{key(), key(), key()}[:r.IntN(4)]
				op := r.IntN(20)
				switch {
				case op < 14:
					k := key()
					got, ok = c.Access(k, 1, &fx), n.access(k, &want)
				case op < 17:
					k := key()
					present := n.find(k) >= 0 || slices.Contains(n.pins, k)
					got, ok = c.Warm(k, protect, &fx), !present && n.insert(k, protect, &want)
				case op < 18:
					got, ok = c.EvictOne(protect, &fx), n.evictOne(protect, &want)
				case op < 19:
					k := key()
					j := n.find(k)
					if ok = j >= 0; ok {
						n.res = slices.Delete(n.res, j, j+1)
					}
					got = c.Remove(k)
				default:
					n.cap = 1 + r.IntN(14)
					for n.len() > n.cap && n.evictOne(nil, &want) {
					}
					c.SetCapacity(n.cap, &fx)
					got, ok = true, true
				}
				where := fmt.Sprintf("%v seed %d step %d (op %d)", kind, seed, step, op)
				if got != ok || !slices.Equal(fx.Evicted, want) {
					t.Fatalf("%s: answered %v evicting %v, want %v evicting %v", where, got, fx.Evicted, ok, want)
				}
				if res, wantRes := c.Residents(nil), n.residents(); !slices.Equal(res, wantRes) || c.Len() != n.len() {
					t.Fatalf("%s: residents %v (len %d), want %v (len %d)", where, res, c.Len(), wantRes, n.len())
				}
			}
		}
	}
}
