package replay_test

import (
	"math/rand/v2"
	"slices"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

// randomRows returns n dispatches in trace order (token by token, layer by
// layer), each selecting shape.TopK distinct experts drawn with a skew:
// expert e is drawn with probability falling like 1/(e+1), shuffled per
// layer so that every layer has its own favourites.
func randomRows(rng *rand.Rand, shape rt.Shape, n int) []replay.Row {
	perm := make([][]int32, shape.Layers)
	for l := range perm {
		perm[l] = make([]int32, shape.Experts)
		for e := range perm[l] {
			perm[l][e] = int32(e)
		}
		rng.Shuffle(len(perm[l]), func(i, j int) { perm[l][i], perm[l][j] = perm[l][j], perm[l][i] })
	}
	// Cumulative weights of 1/(e+1).
	cum := make([]float64, shape.Experts)
	total := 0.0
	for e := range cum {
		total += 1 / float64(e+1)
		cum[e] = total
	}
	rows := make([]replay.Row, n)
	for i := range rows {
		layer := i % shape.Layers
		experts := make([]int32, 0, shape.TopK)
		scores := make([]float32, 0, shape.TopK)
		for len(experts) < shape.TopK {
			x := rng.Float64() * total
			r, _ := slices.BinarySearch(cum, x)
			e := perm[layer][min(r, shape.Experts-1)]
			if !slices.Contains(experts, e) {
				experts = append(experts, e)
				scores = append(scores, float32(1/float64(len(experts)+1)))
			}
		}
		rows[i] = replay.Row{Layer: layer, Experts: experts, Scores: scores}
	}
	return rows
}

// keysOf flattens rows into the accesses Belady takes.
func keysOf(rows []replay.Row) []rt.Key {
	var keys []rt.Key
	for _, r := range rows {
		for _, e := range r.Experts {
			keys = append(keys, rt.Key{Layer: int32(r.Layer), Expert: e})
		}
	}
	return keys
}

// recorder wraps a policy and keeps a copy of every plan it made.
type recorder struct {
	rt.Policy
	plans []rt.Plan
}

func (r *recorder) Dispatch(layer int, experts []int32, scores []float32, p *rt.Plan) {
	r.Policy.Dispatch(layer, experts, scores, p)
	r.plans = append(r.plans, rt.Plan{
		Layer:    p.Layer,
		Hit:      slices.Clone(p.Hit),
		Device:   slices.Clone(p.Device),
		Load:     slices.Clone(p.Load),
		Prefetch: slices.Clone(p.Prefetch),
		Evict:    slices.Clone(p.Evict),
	})
}

// fastLRU is an LRU over one flat cache as a real policy would write it:
// dense arrays and an intrusive doubly linked list, nothing allocated per
// dispatch. It stands in for rt's LRU in benchmarks, and a differential
// test holds it to rttest.LRU.
type fastLRU struct {
	experts    int
	free       int     // unpinned slots still empty
	state      []uint8 // 1 resident, 2 pinned
	prev, next []int32 // list of unpinned residents; index n is the sentinel
	hits, miss int64
}

func newFastLRU(shape rt.Shape, capacity int, pin []rt.Key) *fastLRU {
	n := shape.Layers * shape.Experts
	f := &fastLRU{
		experts: shape.Experts,
		free:    capacity - len(pin),
		state:   make([]uint8, n),
		prev:    make([]int32, n+1),
		next:    make([]int32, n+1),
	}
	f.prev[n], f.next[n] = int32(n), int32(n)
	for _, k := range pin {
		f.state[int(k.Layer)*shape.Experts+int(k.Expert)] = 3
	}
	return f
}

func (f *fastLRU) Name() string { return "fast_lru" }

func (f *fastLRU) Stats() rt.Stats {
	return rt.Stats{Name: f.Name(), Cache: rt.CacheStats{Hits: f.hits, Misses: f.miss}}
}

func (f *fastLRU) unlink(i int32) {
	p, n := f.prev[i], f.next[i]
	f.next[p], f.prev[n] = n, p
}

// pushNewest links i just before the sentinel (the newest end).
func (f *fastLRU) pushNewest(i int32) {
	s := int32(len(f.state))
	p := f.prev[s]
	f.next[p], f.prev[i], f.next[i], f.prev[s] = i, p, s, i
}

func (f *fastLRU) Dispatch(layer int, experts []int32, scores []float32, p *rt.Plan) {
	p.Reset(layer, experts)
	base := layer * f.experts
	for j, e := range experts {
		i := int32(base + int(e))
		switch f.state[i] {
		case 3:
			p.Hit[j] = true
			f.hits++
			continue
		case 1:
			p.Hit[j] = true
			f.hits++
			f.unlink(i)
			f.pushNewest(i)
			continue
		}
		f.miss++
		if f.free == 0 {
			v := f.next[len(f.state)] // the oldest
			f.unlink(v)
			f.state[v] = 0
			p.Evict = append(p.Evict, rt.Key{Layer: v / int32(f.experts), Expert: v % int32(f.experts)})
		} else {
			f.free--
		}
		f.state[i] = 1
		f.pushNewest(i)
		p.Load = append(p.Load, rt.Key{Layer: int32(layer), Expert: e})
	}
}
