package rttest

import (
	"math/rand/v2"
	"slices"

	"github.com/moepolicy/moec/rt"
)

// Call is one dispatch: the experts a router selected at a layer, in
// top-k order, and their router weights.
type Call struct {
	Layer   int
	Experts []int32
	Scores  []float32
}

// Routing returns n dispatches of shape, token by token (dispatch i is at
// layer i % Layers), each selecting TopK distinct experts drawn with a
// Zipf skew (s = 1.1) from a popularity order of its own per layer, with
// router weights that fall with rank. The same seed gives the same
// routing. Tests and benchmarks across the module share it, so that they
// measure and compare on the same kind of traffic.
func Routing(seed uint64, n int, shape rt.Shape) []Call {
	r := rand.New(rand.NewPCG(seed, 1))
	z := rand.NewZipf(r, 1.1, 2, uint64(shape.Experts-1))
	perm := make([][]int, shape.Layers)
	for l := range perm {
		perm[l] = r.Perm(shape.Experts)
	}
	calls := make([]Call, n)
	for i := range calls {
		l := i % shape.Layers
		var sel []int32
		for len(sel) < shape.TopK {
			if e := int32(perm[l][z.Uint64()]); !slices.Contains(sel, e) {
				sel = append(sel, e)
			}
		}
		scores := make([]float32, len(sel))
		for j := range scores {
			scores[j] = float32(len(sel)-j) / float32(len(sel)*(len(sel)+1)/2)
		}
		calls[i] = Call{Layer: l, Experts: sel, Scores: scores}
	}
	return calls
}
