package rt

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveTop ranks the keys of window (oldest selection first) the slow,
// obvious way: count the selections each key appears in, order by count,
// ties to the first appearance.
func naiveTop(window [][]int32, lo, hi int32, b int) []int32 {
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
		if k >= lo && k < hi && len(out) < b {
			out = append(out, k)
		}
	}
	return out
}

// TestSliderRanking checks the slider's incremental ranking against the
// naive one over random windows, selections with repeats included.
func TestSliderRanking(t *testing.T) {
	for seed := range 200 {
		r := rand.New(rand.NewPCG(uint64(seed), 3))
		n, topk, keys := 1+r.IntN(30), 1+r.IntN(6), 2+r.IntN(40)
		s := newSlider(n, topk, keys)
		var window [][]int32
		for step := range 300 {
			sel := make([]int32, 1+r.IntN(topk))
			for i := range sel {
				sel[i] = int32(r.IntN(keys))
			}
			s.push(0, sel)
			// The slider keeps at most topk keys of a selection.
			window = append(window, sel[:min(len(sel), topk)])
			if len(window) > n {
				window = window[1:]
			}
			lo := int32(r.IntN(keys))
			hi := lo + int32(r.IntN(keys-int(lo))+1)
			b := 1 + r.IntN(8)
			got := append([]int32(nil), s.top(lo, hi, b, 0, nil)...)
			if want := naiveTop(window, lo, hi, b); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: top(%d, %d, %d) = %v, want %v", seed, step, lo, hi, b, got, want)
			}
		}
	}
}
