package rt

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveTop ranks the keys of window (oldest selection first) the slow,
// obvious way: count the selections each key appears in, order by count,
// ties to the first appearance, and keeps the b first of [lo, hi) that are
// not in skip.
func naiveTop(window [][]int32, lo, hi int32, b int, skip []int32) []int32 {
	count := map[int32]int{}
	var order []int32
	for _, sel := range window {
		seen := map[int32]bool{}
		for _, k := range sel {
			if seen[k] {
				continue
			}
			seen[k] = true
			if count[k] == 0 {
				order = append(order, k)
			}
			count[k]++
		}
	}
	slices.SortStableFunc(order, func(x, y int32) int { return count[y] - count[x] })
	var out []int32
	for _, k := range order {
		if k >= lo && k < hi && len(out) < b && !slices.Contains(skip, k-lo) {
			out = append(out, k-lo)
		}
	}
	return out
}

// TestSliderRanking checks the slider's incremental ranking against the
// naive one over random windows of several blocks, selections with
// repeats included, with and without experts to skip, narrow and wide
// blocks, and across rebases of the ranks (forced every few hundred
// pushes).
func TestSliderRanking(t *testing.T) {
	for seed := range 200 {
		r := rand.New(rand.NewPCG(uint64(seed), 3))
		n, topk, blocks, size := 1+r.IntN(30), 1+r.IntN(6), 1+r.IntN(4), 2+r.IntN(40)
		if seed%3 == 2 {
			size = 60 + r.IntN(150) // as wide as real layers
		}
		s := newSlider(n, topk, blocks, size)
		if seed%2 == 1 {
			s.origin = -(1<<(rankBits-1) - 300*int64(topk)) // rebase after about 300 pushes
		}
		var window [][]int32
		for step := range 1000 {
			block := int32(r.IntN(blocks))
			sel := make([]int32, 1+r.IntN(topk))
			key := make([]int32, len(sel))
			for i := range sel {
				sel[i] = int32(r.IntN(size))
				key[i] = block*int32(size) + sel[i]
			}
			s.push(block, sel)
			// The slider keeps at most topk keys of a selection.
			window = append(window, key[:min(len(sel), topk)])
			if len(window) > n {
				window = window[1:]
			}
			block = int32(r.IntN(blocks))
			b := r.IntN(9)
			var skip []int32
			if r.IntN(4) == 0 {
				skip = sel
			}
			lo := block * int32(size)
			got := append([]int32(nil), s.top(block, b, skip)...)
			if want := naiveTop(window, lo, lo+int32(size), b, skip); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: top(%d, %d, %v) = %v, want %v", seed, step, block, b, skip, got, want)
			}
		}
	}
}

// BenchmarkSliderTop measures a push and a ranking of one layer's window,
// the lookahead prefetcher's work per dispatch, at 64 experts top-6 over
// 40 selections.
func BenchmarkSliderTop(b *testing.B) {
	const n, topk, keys = 40, 6, 64
	r := rand.New(rand.NewPCG(1, 2))
	sels := make([][]int32, 1024)
	for i := range sels {
		sels[i] = make([]int32, topk)
		for j := range sels[i] {
			sels[i][j] = int32(r.IntN(keys))
		}
	}
	s := newSlider(n, topk, 1, keys)
	i := 0
	for b.Loop() {
		s.push(0, sels[i&1023])
		s.top(0, 4, nil)
		i++
	}
}
