package rt

import (
	"fmt"
	"slices"
)

// A prefetcher predicts, after each dispatch, experts that will be needed
// soon. Predictions are keys: the prefetcher says which layer, too.
type prefetcher interface {
	// Predict records the dispatch of sel at layer and appends at most
	// budget predicted keys to dst.
	Predict(layer int, sel []int32, budget int, dst []Key) []Key
}

// slider counts experts over a sliding window of the last n selections,
// each of one block (a layer): in how many selections each key (block,
// expert) appears, and where it first appears in the window (oldest
// selection first, then the position inside it). Both make one number per
// key, its rank: the count in the high bits, the first appearance,
// reversed, in the low ones. Per block, the number of keys appearing at
// least c times, for every c, gives by binary search the count a key needs
// to be among the b best, so ranking is a scan of the block's ranks
// against that floor: few keys pass it, and the comparison is rarely
// mispredicted. Pushing a selection costs O(topk).
type slider struct {
	topk   int
	size   int32 // keys per block
	n      int   // selections the window holds
	head   int   // ring slot of the next selection
	count  int   // selections in the window
	seq    int64 // sequence number of the next selection
	origin int64 // position that ranks count from; see rebase
	slots  []sliderSlot
	occ    []sliderOcc // n*topk: the keys of each slot
	key    []sliderKey
	rank   []uint64 // by key
	least  []int32  // by block*(n+1)+c: keys of the block appearing in c selections or more
	best   []int32  // scratch for top
}

// sliderSlot is one selection of the window.
type sliderSlot struct {
	len, block int32
}

// sliderOcc is an occurrence of a key in the window.
type sliderOcc struct {
	key  int32
	next int64 // position of the key's next appearance
}

// sliderKey is the state of one key.
type sliderKey struct {
	cnt   int32 // selections of the window it appears in
	last  int32 // slot*topk+j of its last appearance
	first int64 // seq*topk+j of its first appearance
}

// rankBits is the width of the first-appearance part of a rank.
const rankBits = 40

func newSlider(n, topk, blocks, size int) slider {
	n = max(n, 1)
	keys := blocks * size
	return slider{topk: topk, size: int32(size), n: n,
		slots: make([]sliderSlot, n), occ: make([]sliderOcc, n*topk),
		key: make([]sliderKey, keys), rank: make([]uint64, keys), least: make([]int32, blocks*(n+1))}
}

// rankOf returns the rank of a key in the window: larger ranks first.
func (s *slider) rankOf(k *sliderKey) uint64 {
	return uint64(k.cnt)<<rankBits | (1<<rankBits - 1 - uint64(k.first-s.origin))
}

// rebase moves the origin of ranks to the oldest position in the window
// when positions are about to outgrow rankBits (after 2^39 keys pushed),
// so that ranks stay exact however long the slider runs.
func (s *slider) rebase() {
	s.origin = (s.seq - int64(s.count)) * int64(s.topk)
	for k := range s.key {
		if s.key[k].cnt > 0 {
			s.rank[k] = s.rankOf(&s.key[k])
		}
	}
}

// push adds a selection of experts of block; an expert repeated inside a
// selection counts once.
func (s *slider) push(block int32, sel []int32) {
	if s.count == s.n {
		s.pop()
	}
	if (s.seq+1)*int64(s.topk)-s.origin >= 1<<(rankBits-1) {
		s.rebase()
	}
	slot := s.head
	occs := s.occ[slot*s.topk : (slot+1)*s.topk]
	least := s.least[int(block)*(s.n+1) : int(block+1)*(s.n+1)]
	base := block * s.size
	m := 0
	pos := s.seq * int64(s.topk)
	lo := int32(slot * s.topk) // the occurrences of this selection
	for _, e := range sel[:min(len(sel), s.topk)] {
		k := base + e
		ks := &s.key[k]
		if ks.cnt > 0 && ks.last >= lo && ks.last < lo+int32(m) {
			continue // repeated in the selection
		}
		if ks.cnt > 0 {
			s.occ[ks.last].next = pos
		} else {
			ks.first = pos
		}
		occs[m].key = k
		ks.last = int32(slot*s.topk + m)
		ks.cnt++
		least[ks.cnt]++
		s.rank[k] = s.rankOf(ks)
		m++
		pos++
	}
	s.slots[slot] = sliderSlot{len: int32(m), block: block}
	if s.head++; s.head == s.n {
		s.head = 0
	}
	s.count++
	s.seq++
}

// pop removes the oldest selection.
func (s *slider) pop() {
	slot := s.head - s.count
	if slot < 0 {
		slot += s.n
	}
	sl := s.slots[slot]
	least := s.least[int(sl.block)*(s.n+1) : int(sl.block+1)*(s.n+1)]
	for _, o := range s.occ[slot*s.topk : slot*s.topk+int(sl.len)] {
		ks := &s.key[o.key]
		least[ks.cnt]--
		ks.cnt--
		if ks.cnt > 0 {
			ks.first = o.next
			s.rank[o.key] = s.rankOf(ks)
		} else {
			s.rank[o.key] = 0
		}
	}
	s.count--
}

// top returns up to b experts of block that appear in the window, most
// frequent first, ties to the earliest first appearance, leaving out those
// in skip.
func (s *slider) top(block int32, b int, skip []int32) []int32 {
	s.best = s.best[:0]
	if b <= 0 {
		return s.best
	}
	rank := s.rank[block*s.size : (block+1)*s.size]
	least := s.least[int(block)*(s.n+1) : int(block+1)*(s.n+1)]
	// The keys appearing at least c times can be among the b best: without
	// skip, c is the count of the b-th best, the largest that b keys or
	// more reach (least falls with c); with skip, or with fewer than b
	// keys, c is 1. There are least[c] of them: the scan ends at the last.
	c := 1
	if len(skip) == 0 {
		lo, hi := 0, s.n+1 // least[lo] >= b (or lo is 0), least[hi] < b
		for hi-lo > 1 {
			if m := int(uint(lo+hi) >> 1); int(least[m]) >= b {
				lo = m
			} else {
				hi = m
			}
		}
		c = max(lo, 1)
	}
	floor0 := uint64(c)<<rankBits - 1
	floor, left := floor0, int(least[c])
	for j, r := range rank {
		if r <= floor0 {
			continue
		}
		// A key ranking lower than the b-th of best cannot displace it.
		if e := int32(j); r > floor && (len(skip) == 0 || !slices.Contains(skip, e)) {
			// Insert e into best, kept sorted, at most b long.
			i := len(s.best)
			for i > 0 && r > rank[s.best[i-1]] {
				i--
			}
			if len(s.best) < b {
				s.best = append(s.best, 0)
			}
			for j := len(s.best) - 1; j > i; j-- {
				s.best[j] = s.best[j-1]
			}
			s.best[i] = e
			if len(s.best) == b {
				floor = rank[s.best[b-1]]
			}
		}
		if left--; left == 0 {
			break
		}
	}
	return s.best
}

// window is a ring of the last n selections of one layer.
type window struct {
	lens  []int32
	sel   []int32 // n * topk
	topk  int
	head  int
	count int
}

func newWindow(n, topk int) window {
	n = max(n, 1)
	return window{lens: make([]int32, n), sel: make([]int32, n*topk), topk: topk}
}

func (w *window) push(sel []int32) {
	n := min(len(sel), w.topk)
	w.lens[w.head] = int32(n)
	copy(w.sel[w.head*w.topk:], sel[:n])
	w.head = (w.head + 1) % len(w.lens)
	w.count = min(w.count+1, len(w.lens))
}

// HistoryPrefetcher predicts the experts most often selected, over the
// last history_window dispatches of all layers, at the layer that comes
// next (the layer after this one, or layer 0 of the next token). Ties go
// to the expert that appears first in the window.
type HistoryPrefetcher struct {
	layers, experts int
	win             slider // keys: layer*experts+expert
}

// NewHistoryPrefetcher returns a history prefetcher for shape over the
// last n dispatches. It panics unless 1 <= n <= MaxWindow.
func NewHistoryPrefetcher(shape Shape, n int) *HistoryPrefetcher {
	return &HistoryPrefetcher{layers: shape.Layers, experts: shape.Experts,
		win: newSlider(mustWindow("history window", n), shape.TopK, shape.Layers, shape.Experts)}
}

func (h *HistoryPrefetcher) Predict(layer int, sel []int32, budget int, dst []Key) []Key {
	h.win.push(int32(layer), sel)
	next := int32((layer + 1) % h.layers)
	var skip []int32
	if int(next) == layer {
		skip = sel // selected now: no need to predict it
	}
	for _, e := range h.win.top(next, budget, skip) {
		dst = append(dst, Key{Layer: next, Expert: e})
	}
	return dst
}

// LookaheadPrefetcher keeps the last history_window selections of every
// layer and predicts, for each of the next lookahead layers in turn, that
// layer's most often selected experts, ties to the first appearance. It
// does not wrap around to the next token's first layers.
type LookaheadPrefetcher struct {
	ahead, experts int
	wins           []slider // by layer; keys: experts
}

// NewLookaheadPrefetcher returns a lookahead prefetcher for shape that
// looks ahead layers, remembering n selections per layer. It panics
// unless 1 <= n <= MaxWindow.
func NewLookaheadPrefetcher(shape Shape, ahead, n int) *LookaheadPrefetcher {
	mustWindow("history window", n)
	p := &LookaheadPrefetcher{ahead: ahead, experts: shape.Experts, wins: make([]slider, shape.Layers)}
	for l := range p.wins {
		p.wins[l] = newSlider(n, shape.TopK, 1, shape.Experts)
	}
	return p
}

func (p *LookaheadPrefetcher) Predict(layer int, sel []int32, budget int, dst []Key) []Key {
	p.wins[layer].push(0, sel)
	n := 0
	for d := 1; d <= p.ahead && layer+d < len(p.wins) && n < budget; d++ {
		for _, e := range p.wins[layer+d].top(0, budget-n, nil) {
			dst = append(dst, Key{Layer: int32(layer + d), Expert: e})
			n++
		}
	}
	return dst
}

// AffinityPrefetcher learns, online, how often expert f of layer L+1
// follows expert e of layer L, and after a dispatch at layer L predicts
// every f with P(f | e) >= threshold for the selected experts e, most
// likely first. A transition is learnt when a dispatch at layer L+1
// directly follows one at layer L (one token going through the layers).
type AffinityPrefetcher struct {
	layers    int
	experts   int
	threshold float64
	trans     []int32 // [layer][e][f]: times f at layer+1 followed e at layer
	from      []int32 // [layer][e]: times e at layer was followed by a dispatch at layer+1
	prevLayer int
	prev      []int32 // the previous dispatch's selection
	cands     []affinityCand
}

type affinityCand struct {
	expert int32
	count  int32
}

// maxAffinityCounts bounds the affinity table: 2^28 counts are 1 GiB, and
// a model of 64 layers of 1,024 experts needs 66 M.
const maxAffinityCounts = 1 << 28

// affinityCounts returns the size of the affinity table for shape: a
// count for every pair of experts of adjacent layers. Shape.Validate keeps
// layers x experts within 2^31, so it does not overflow.
func affinityCounts(shape Shape) int64 {
	return int64(max(shape.Layers-1, 0)) * int64(shape.Experts) * int64(shape.Experts)
}

// NewAffinityPrefetcher returns an affinity prefetcher for shape that
// predicts transitions of probability at least threshold. It panics when
// its table would hold more than 2^28 counts (Spec.Fits says so first).
func NewAffinityPrefetcher(shape Shape, threshold float64) *AffinityPrefetcher {
	if n := affinityCounts(shape); n > maxAffinityCounts {
		panic(fmt.Sprintf("rt: an affinity table for %d layers of %d experts holds %d counts, more than %d", shape.Layers, shape.Experts, n, maxAffinityCounts))
	}
	l, e := max(shape.Layers-1, 0), shape.Experts
	return &AffinityPrefetcher{
		layers: shape.Layers, experts: e, threshold: threshold,
		trans: make([]int32, l*e*e), from: make([]int32, l*e),
		prevLayer: -1, prev: make([]int32, 0, shape.TopK),
	}
}

func (p *AffinityPrefetcher) Predict(layer int, sel []int32, budget int, dst []Key) []Key {
	e := p.experts
	if p.prevLayer >= 0 && p.prevLayer+1 == layer {
		base := p.prevLayer * e
		for _, a := range p.prev {
			p.from[base+int(a)]++
			row := (base + int(a)) * e
			for _, b := range sel {
				p.trans[row+int(b)]++
			}
		}
	}
	p.prevLayer = layer
	p.prev = append(p.prev[:0], sel...)
	if layer+1 >= p.layers || budget <= 0 {
		return dst
	}
	n := 0
	for _, a := range sel {
		from := p.from[layer*e+int(a)]
		if from == 0 {
			continue
		}
		row := (layer*e + int(a)) * e
		p.cands = p.cands[:0]
		for f := 0; f < e; f++ {
			c := p.trans[row+f]
			if c > 0 && float64(c)/float64(from) >= p.threshold {
				p.cands = append(p.cands, affinityCand{int32(f), c})
			}
		}
		slices.SortStableFunc(p.cands, func(x, y affinityCand) int { return int(y.count) - int(x.count) })
		for _, c := range p.cands {
			if n == budget {
				return dst
			}
			k := Key{Layer: int32(layer + 1), Expert: c.expert}
			if !slices.Contains(dst[len(dst)-n:], k) {
				dst = append(dst, k)
				n++
			}
		}
	}
	return dst
}
