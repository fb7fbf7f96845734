package tokenizer

import (
	"strings"
	"sync"
)

// A merge is one line of the file's merges: the pair it joins is its key in
// the merges map, rank is its line number (lower merges first) and id is
// the token the pair becomes.
type merge struct {
	rank, id int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// noRank is larger than any merge's rank.
const noRank = int32(1<<31 - 1)

// bpe appends the ids of one piece to ids. It starts from the piece's bytes,
// one token each, and merges the adjacent pair of lowest rank, the leftmost
// one among equals, until no pair has a merge: what tokenizers' BPE model
// does with its priority queue (without dropout), done here with a scan of
// the pairs, since pieces are short.
func (t *Tokenizer) bpe(piece string, ids []int) []int {
	if t.ignoreMerges {
		// Llama-3's files say "ignore_merges": a piece that is itself in
		// the vocabulary is that token, whatever the merges would give.
		if id, ok := t.vocab[piece]; ok {
			return append(ids, int(id))
		}
	}
	if len(piece) == 1 {
		return append(ids, int(t.byteID[piece[0]]))
	}
	if cached, ok := t.cache.get(piece); ok {
		for _, id := range cached {
			ids = append(ids, int(id))
		}
		return ids
	}

	var symBuf, rankBuf [32]int32
	syms := symBuf[:0]
	for i := 0; i < len(piece); i++ {
		syms = append(syms, t.byteID[piece[i]])
	}
	// ranks[i] is the rank of the pair syms[i], syms[i+1]; merged[i] what
	// it becomes.
	ranks := rankBuf[:0]
	var mergedBuf [32]int32
	merged := mergedBuf[:0]
	for i := 0; i+1 < len(syms); i++ {
		m := t.lookup(syms[i], syms[i+1])
		ranks = append(ranks, m.rank)
		merged = append(merged, m.id)
	}
	for {
		best := 0
		for i := 1; i < len(ranks); i++ {
			if ranks[i] < ranks[best] {
				best = i
			}
		}
		if len(ranks) == 0 || ranks[best] == noRank {
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

	t.cache.put(piece, syms)
	for _, id := range syms {
		ids = append(ids, int(id))
	}
	return ids
}

func (t *Tokenizer) lookup(a, b int32) merge {
	if m, ok := t.merges[pairKey(a, b)]; ok {
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
