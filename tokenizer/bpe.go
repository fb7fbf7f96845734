package tokenizer

import (
	"strings"
	"sync"
)

// A merge is one line of the file's merges: the pair it joins is its key in
// the merge table, rank is its line number (lower merges first) and id is
// the token the pair becomes.
type merge struct {
	rank, id int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// A mergeTable maps pairKeys to merges: an open-addressing hash table with
// linear probing, at most 3/4 full. Looking pairs up is most of the time
// that merging takes, and a probe here reads one cache line where a Go map
// reads two or three; encoding English is 1.5 to 2 times as fast.
type mergeTable struct {
	slots []mergeSlot
	shift uint // 64 less the log2 of len(slots)
}

type mergeSlot struct {
	key uint64 // emptyKey when free
	merge
}

// emptyKey is no pair's key: ids are below 1<<30.
const emptyKey = ^uint64(0)

func newMergeTable(n int) mergeTable {
	size, shift := 8, uint(61)
	for size*3 < n*4 {
		size, shift = size*2, shift-1
	}
	slots := make([]mergeSlot, size)
	for i := range slots {
		slots[i].key = emptyKey
	}
	return mergeTable{slots: slots, shift: shift}
}

func (m *mergeTable) home(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> m.shift }

// add puts a merge for key unless there is one: the first of duplicate
// merges counts, as in tokenizers. The table must have room, as
// newMergeTable(n) has for n adds.
func (m *mergeTable) add(key uint64, v merge) {
	mask := uint64(len(m.slots) - 1)
	for i := m.home(key); ; i = (i + 1) & mask {
		switch m.slots[i].key {
		case key:
			return
		case emptyKey:
			m.slots[i] = mergeSlot{key, v}
			return
		}
	}
}

func (m *mergeTable) get(key uint64) (merge, bool) {
	mask := uint64(len(m.slots) - 1)
	for i := m.home(key); ; i = (i + 1) & mask {
		switch m.slots[i].key {
		case key:
			return m.slots[i].merge, true
		case emptyKey:
			return merge{}, false
		}
	}
}

// noRank is larger than any merge's rank.
const noRank = int32(1<<31 - 1)

// bpe appends the ids of one piece to ids. It starts from the piece's bytes,
// one token each (in a SentencePiece file, from its characters; see
// charSymbols), and merges the adjacent pair of lowest rank, the leftmost
// one among equals, until no pair has a merge: what tokenizers' BPE model
// does (without dropout).
func (t *Tokenizer) bpe(piece string, ids []int) []int {
	if t.byteLevel && len(piece) == 1 {
		return append(ids, int(t.byteID[piece[0]]))
	}
	if cached, ok := t.cache.get(piece); ok {
		for _, id := range cached {
			ids = append(ids, int(id))
		}
		return ids
	}
	if t.ignoreMerges {
		// Llama-3's files say "ignore_merges": a piece that is itself in
		// the vocabulary is that token, whatever the merges would give.
		// The cache is looked at first: the vocabulary is a large map,
		// and most pieces repeat.
		if id, ok := t.vocab[piece]; ok {
			t.cache.put(piece, []int32{id})
			return append(ids, int(id))
		}
	}

	var symBuf [32]int32
	syms := symBuf[:0]
	if t.byteLevel {
		for i := 0; i < len(piece); i++ {
			syms = append(syms, t.byteID[piece[i]])
		}
	} else {
		syms = t.charSymbols(piece, syms)
	}
	switch {
	case len(syms) < 2:
	case len(syms) <= longPiece:
		syms = t.mergeScan(syms)
	default:
		syms = t.mergeHeap(syms)
	}

	t.cache.put(piece, syms)
	for _, id := range syms {
		ids = append(ids, int(id))
	}
	return ids
}

func (t *Tokenizer) lookup(a, b int32) merge {
	if m, ok := t.merges.get(pairKey(a, b)); ok {
		return m
	}
	return merge{rank: noRank}
}

// cacheSize bounds the piece cache, as tokenizers' BPE cache is bounded
// (10 000 entries there too). When full it takes no more pieces, so what a
// call returns never depends on what earlier calls put there.
const cacheSize = 10000

// A pieceCache remembers the ids of pieces seen before: words repeat, and
// merging is most of the cost of encoding. It is safe for concurrent use.
type pieceCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func (c *pieceCache) get(piece string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[piece]
	c.mu.RUnlock()
	return ids, ok
}

func (c *pieceCache) put(piece string, ids []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string][]int32)
	}
	if len(c.m) < cacheSize && len(piece) <= 256 {
		// Clone: the piece is a substring of the caller's text.
		c.m[strings.Clone(piece)] = append([]int32(nil), ids...)
	}
}

// longPiece is the length in bytes above which a piece is merged with a heap
// rather than by scanning all pairs for each merge. Scanning is quadratic
// but faster for the short pieces that words make; a piece can be as long
// as the text (a page of Chinese without punctuation is one \p{L}+ piece).
const longPiece = 64

// mergeScan merges syms in place, scanning the pairs for the lowest rank
// before each merge.
func (t *Tokenizer) mergeScan(syms []int32) []int32 {
	// ranks[i] is the rank of the pair syms[i], syms[i+1]; merged[i] what
	// it becomes.
	var rankBuf, mergedBuf [longPiece]int32
	ranks, merged := rankBuf[:0], mergedBuf[:0]
	for i := 0; i+1 < len(syms); i++ {
		m := t.lookup(syms[i], syms[i+1])
		ranks = append(ranks, m.rank)
		merged = append(merged, m.id)
	}
	for len(ranks) > 0 {
		best := 0
		for i := 1; i < len(ranks); i++ {
			if ranks[i] < ranks[best] {
				best = i
			}
		}
		if ranks[best] == noRank {
			break
		}
		syms[best] = merged[best]
		syms = append(syms[:best+1], syms[best+2:]...)
		ranks = append(ranks[:best], ranks[best+1:]...)
		merged = append(merged[:best], merged[best+1:]...)
		if best > 0 {
			m := t.lookup(syms[best-1], syms[best])
			ranks[best-1], merged[best-1] = m.rank, m.id
		}
		if best < len(ranks) {
			m := t.lookup(syms[best], syms[best+1])
			ranks[best], merged[best] = m.rank, m.id
		}
	}
	return syms
}

// mergeHeap merges syms as tokenizers' BPE does: the symbols form a linked
// list, candidate pairs wait in a heap ordered by rank and then position,
// and a candidate whose symbols have changed since it was pushed is
// dropped when popped. The result equals mergeScan's.
func (t *Tokenizer) mergeHeap(syms []int32) []int32 {
	n := len(syms)
	prev, next := make([]int32, n), make([]int32, n) // -1 at the ends
	for i := range n {
		prev[i], next[i] = int32(i-1), int32(i+1)
	}
	next[n-1] = -1
	h := candidates{}
	push := func(pos int32) {
		if r := next[pos]; r >= 0 {
			if m := t.lookup(syms[pos], syms[r]); m.rank != noRank {
				h.push(candidate{rank: m.rank, pos: pos, left: syms[pos], right: syms[r], id: m.id})
			}
		}
	}
	for i := range n - 1 {
		push(int32(i))
	}
	for len(h) > 0 {
		c := h.pop()
		r := next[c.pos]
		if syms[c.pos] != c.left || r < 0 || syms[r] != c.right {
			continue // stale: one side was merged away or changed
		}
		syms[c.pos] = c.id
		syms[r] = -1
		next[c.pos] = next[r]
		if nr := next[r]; nr >= 0 {
			prev[nr] = c.pos
		}
		if p := prev[c.pos]; p >= 0 {
			push(p)
		}
		push(c.pos)
	}
	out := syms[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// A candidate is a pair that had a merge when pushed.
type candidate struct {
	rank, pos, left, right, id int32
}

// candidates is a binary min-heap by rank, then position.
type candidates []candidate

func (c candidate) less(d candidate) bool {
	return c.rank < d.rank || c.rank == d.rank && c.pos < d.pos
}

func (h *candidates) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *candidates) pop() candidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(s) && s[l].less(s[m]) {
			m = l
		}
		if r := l + 1; r < len(s) && s[r].less(s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
