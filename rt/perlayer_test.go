package rt

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name          string
		w             []float64
		total, lo, hi int
		want          []int
	}{
		{"uniform exact", []float64{1, 1, 1, 1}, 8, 1, 10, []int{2, 2, 2, 2}},
		{"largest remainder", []float64{1, 1, 1}, 10, 1, 10, []int{4, 3, 3}},
		{"proportional", []float64{3, 1}, 8, 1, 10, []int{6, 2}},
		{"clamped low, rest shared", []float64{100, 1, 1}, 30, 5, 100, []int{20, 5, 5}},
		{"clamped high, rest shared", []float64{100, 1, 1}, 30, 1, 12, []int{12, 9, 9}},
		{"infeasible low", []float64{1, 2}, 3, 2, 10, []int{2, 2}},
		{"infeasible high", []float64{1, 2}, 30, 1, 10, []int{10, 10}},
		{"zero weights", []float64{0, 0, 0}, 7, 1, 10, []int{3, 2, 2}},
		{"ties to lower index", []float64{1, 1, 1, 1}, 6, 1, 10, []int{2, 2, 1, 1}},
	}
	for _, tt := range tests {
		out := make([]int, len(tt.w))
		split(tt.w, tt.total, tt.lo, tt.hi, out, make([]float64, len(tt.w)))
		if diff := cmp.Diff(tt.want, out); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestSplitExact checks on random weights that the parts add up to the
// total and respect the clamps whenever the clamps allow it.
func TestSplitExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + r.IntN(30)
		lo := 1 + r.IntN(5)
		hi := lo + r.IntN(40)
		total := n*lo + r.IntN(n*(hi-lo)+1)
		w := make([]float64, n)
		for i := range w {
			w[i] = r.Float64() * 6
		}
		out := make([]int, n)
		split(w, total, lo, hi, out, make([]float64, n))
		sum := 0
		for _, c := range out {
			if c < lo || c > hi {
				t.Fatalf("part %d outside [%d, %d]: %v", c, lo, hi, out)
			}
			sum += c
		}
		if sum != total {
			t.Fatalf("parts %v add up to %d, want %d (w %v, clamps [%d, %d])", out, sum, total, w, lo, hi)
		}
	}
}

func TestSignals(t *testing.T) {
	shape := Shape{Layers: 2, Experts: 4, TopK: 2}
	spec := PerLayerSpec{EntropyWindow: 10, MinCapacity: 1, MaxCapacity: 100, RebalanceInterval: 1, TotalBudget: 100}
	b := NewBudgets(spec, shape, 0)
	// Layer 0 always picks experts 0 and 1; layer 1 spreads over all four.
	for i := range 10 {
		b.Record(0, []int32{0, 1})
		b.Record(1, []int32{int32(i % 4), int32((i + 1) % 4)})
	}
	for _, sig := range []Allocation{Entropy, TopKMass, Variance, KL, Gini} {
		b.caps[0], b.caps[1] = 50, 50
		b.Rebalance(100, sig)
		if b.caps[0]+b.caps[1] != 100 || b.caps[1] <= b.caps[0] {
			t.Errorf("%s: caps %v, want the spread layer 1 to get more of 100", sig, b.caps)
		}
	}
	b.Rebalance(200, Uniform)
	if diff := cmp.Diff([]int{50, 50}, b.caps); diff != "" {
		t.Errorf("uniform (-want +got):\n%s", diff)
	}
}
