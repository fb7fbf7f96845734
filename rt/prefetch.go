package rt

import "slices"

// A prefetcher predicts, after each dispatch, experts that will be needed
// soon. Predictions are keys: the prefetcher says which layer, too.
type prefetcher interface {
	// Predict records the dispatch of sel at layer and appends at most
	// budget predicted keys to dst.
	Predict(layer int, sel []int32, budget int, dst []Key) []Key
}

// slider counts keys over a sliding window of the last n selections, in
// how many of them each key appears, and remembers where each key first
// appears in the window (oldest selection first, then the position inside
// it), so that ranking by count with ties to the first appearance costs a
// scan of the counts and no sorting. Pushing a selection costs O(topk).
type slider struct {
	topk    int
	n       int     // selections the window holds
	head    int     // ring slot of the next selection
	count   int     // selections in the window
	seq     int64   // sequence number of the next selection
	keys    []int32 // n*topk: the keys of each slot
	lens    []int32 // by slot
	cnt     []int32 // by key: selections of the window it appears in
	first   []int64 // by key: seq*topk+j of its first appearance
	lastOcc []int32 // by key: slot*topk+j of its last appearance
	nextOcc []int64 // by occurrence slot*topk+j: position of the key's next appearance
	best    []int32 // scratch for top
}

func newSlider(n, topk, keys int) slider {
	n = max(n, 1)
	return slider{topk: topk, n: n, keys: make([]int32, n*topk), lens: make([]int32, n),
		cnt: make([]int32, keys), first: make([]int64, keys), lastOcc: make([]int32, keys),
		nextOcc: make([]int64, n*topk)}
}

// push adds a selection of keys (base+expert for each expert of sel); a
// key repeated inside a selection counts once.
func (s *slider) push(base int32, sel []int32) {
	if s.count == s.n {
		s.pop()
	}
	slot := s.head
	m := 0
	for _, e := range sel[:min(len(sel), s.topk)] {
		k := base + e
		if slices.Contains(s.keys[slot*s.topk:slot*s.topk+m], k) {
			continue
		}
		occ := slot*s.topk + m
		pos := s.seq*int64(s.topk) + int64(m)
		if s.cnt[k] > 0 {
			s.nextOcc[s.lastOcc[k]] = pos
		} else {
			s.first[k] = pos
		}
		s.keys[occ] = k
		s.lastOcc[k] = int32(occ)
		s.cnt[k]++
		m++
	}
	s.lens[slot] = int32(m)
	s.head = (s.head + 1) % s.n
	s.count++
	s.seq++
}

// pop removes the oldest selection.
func (s *slider) pop() {
	slot := (s.head - s.count + s.n) % s.n
	for j := 0; j < int(s.lens[slot]); j++ {
		occ := slot*s.topk + j
		k := s.keys[occ]
		s.cnt[k]--
		if s.cnt[k] > 0 {
			s.first[k] = s.nextOcc[occ]
		}
	}
	s.count--
}

// top returns up to b keys of [lo, hi) that appear in the window, most
// frequent first, ties to the earliest first appearance, leaving out the
// keys base+e for e in skip.
func (s *slider) top(lo, hi int32, b int, base int32, skip []int32) []int32 {
	s.best = s.best[:0]
	if b <= 0 {
		return s.best
	}
	var floor int32 = 1 // a key must appear this often to enter best
	for k := lo; k < hi; k++ {
		c := s.cnt[k]
		if c < floor || len(skip) > 0 && slices.Contains(skip, k-base) {
			continue
		}
		// Insert k into best, kept sorted, at most b long.
		j := len(s.best)
		for j > 0 && s.before(k, s.best[j-1]) {
			j--
		}
		if j >= b {
			continue
		}
		if len(s.best) < b {
			s.best = append(s.best, 0)
		}
		copy(s.best[j+1:], s.best[j:len(s.best)-1])
		s.best[j] = k
		if len(s.best) == b {
			floor = s.cnt[s.best[b-1]] // a smaller count cannot displace the last
		}
	}
	return s.best
}

// before reports whether key a ranks before key b.
func (s *slider) before(a, b int32) bool {
	return s.cnt[a] > s.cnt[b] || s.cnt[a] == s.cnt[b] && s.first[a] < s.first[b]
}

// window is a ring of the last n selections, each with its layer.
type window struct {
	layer []int32
	lens  []int32
	sel   []int32 // n * topk
	topk  int
	head  int
	count int
}

func newWindow(n, topk int) window {
	n = max(n, 1)
	return window{layer: make([]int32, n), lens: make([]int32, n), sel: make([]int32, n*topk), topk: topk}
}

func (w *window) push(layer int, sel []int32) {
	n := min(len(sel), w.topk)
	w.layer[w.head] = int32(layer)
	w.lens[w.head] = int32(n)
	copy(w.sel[w.head*w.topk:], sel[:n])
	w.head = (w.head + 1) % len(w.lens)
	w.count = min(w.count+1, len(w.lens))
}

// each calls f for the selections, oldest first.
func (w *window) each(f func(layer int32, sel []int32)) {
	start := (w.head - w.count + len(w.lens)) % len(w.lens)
	for j := 0; j < w.count; j++ {
		i := (start + j) % len(w.lens)
		f(w.layer[i], w.sel[i*w.topk:i*w.topk+int(w.lens[i])])
	}
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
// last n dispatches.
func NewHistoryPrefetcher(shape Shape, n int) *HistoryPrefetcher {
	return &HistoryPrefetcher{layers: shape.Layers, experts: shape.Experts,
		win: newSlider(n, shape.TopK, shape.Layers*shape.Experts)}
}

func (h *HistoryPrefetcher) Predict(layer int, sel []int32, budget int, dst []Key) []Key {
	e := int32(h.experts)
	h.win.push(int32(layer)*e, sel)
	next := int32((layer + 1) % h.layers)
	var skip []int32
	if int(next) == layer {
		skip = sel // selected now: no need to predict it
	}
	base := next * e
	for _, k := range h.win.top(base, base+e, budget, base, skip) {
		dst = append(dst, Key{Layer: next, Expert: k - base})
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
// looks ahead layers, remembering n selections per layer.
func NewLookaheadPrefetcher(shape Shape, ahead, n int) *LookaheadPrefetcher {
	p := &LookaheadPrefetcher{ahead: ahead, experts: shape.Experts, wins: make([]slider, shape.Layers)}
	for l := range p.wins {
		p.wins[l] = newSlider(n, shape.TopK, shape.Experts)
	}
	return p
}

func (p *LookaheadPrefetcher) Predict(layer int, sel []int32, budget int, dst []Key) []Key {
	p.wins[layer].push(0, sel)
	n := 0
	for d := 1; d <= p.ahead && layer+d < len(p.wins) && n < budget; d++ {
		for _, e := range p.wins[layer+d].top(0, int32(p.experts), budget-n, 0, nil) {
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

// NewAffinityPrefetcher returns an affinity prefetcher for shape that
// predicts transitions of probability at least threshold.
func NewAffinityPrefetcher(shape Shape, threshold float64) *AffinityPrefetcher {
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
