package rt_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
)

// misuses are calls that break the contract of rt.Policy.Dispatch on a
// model of 4 layers of 16 experts, top-4, and the panic each must raise.
var misuses = []struct {
	layer   int
	experts []int32
	scores  []float32
	want    string
}{
	// Issue 12: expert 16 of layer 0 was read as expert 0 of layer 1, so
	// a later Dispatch(1, [0]) hit an expert never loaded.
	{0, []int32{16}, nil, "rt: Dispatch at layer 0: expert 16 is out of range [0, 16)"},
	{3, []int32{2, 1 << 30}, nil, "rt: Dispatch at layer 3: expert 1073741824 is out of range [0, 16)"},
	{0, []int32{-1}, nil, "rt: Dispatch at layer 0: expert -1 is out of range [0, 16)"},
	{4, []int32{0}, nil, "rt: Dispatch: layer 4 is out of range [0, 4)"},
	{-1, []int32{0}, nil, "rt: Dispatch: layer -1 is out of range [0, 4)"},
	{1, []int32{0, 1, 2, 3, 4}, nil, "rt: Dispatch at layer 1: 5 experts selected, more than top-k 4"},
	{1, []int32{0, 1}, []float32{0.5}, "rt: Dispatch at layer 1: 1 scores for 2 experts (nil for none)"},
	{1, []int32{0}, []float32{0.5, 0.5}, "rt: Dispatch at layer 1: 2 scores for 1 experts (nil for none)"},
}

// TestDispatchContract makes every misuse on policies of every kind, in
// the middle of a run, and checks that each panics with its message and
// changes nothing: the run goes on to make the plans and Stats of a run
// without them. Generated code checks in the same call (rt.Ledger.Begin);
// examples/gogenerate holds it to the same messages.
func TestDispatchContract(t *testing.T) {
	shape := rt.Shape{Layers: 4, Experts: 16, TopK: 4, ExpertBytes: 1 << 20}
	calls := rttest.Routing(7, 400, shape)
	r := rand.New(rand.NewPCG(12, 9))
	for i := range 40 {
		spec := rttest.RandomSpec(r, shape)
		t.Run(fmt.Sprintf("%d_%s", i, spec.Cache.Eviction), func(t *testing.T) {
			clean, err := rt.New(spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			misused, _ := rt.New(spec, shape)
			var pc, pm rt.Plan
			for j, c := range calls {
				clean.Dispatch(c.Layer, c.Experts, c.Scores, &pc)
				if j%50 == 25 {
					for _, m := range misuses {
						if got := dispatchPanic(misused, m.layer, m.experts, m.scores, &pm); got != m.want {
							t.Fatalf("Dispatch(%d, %v, %v) panicked with %v, want %q", m.layer, m.experts, m.scores, got, m.want)
						}
					}
				}
				misused.Dispatch(c.Layer, c.Experts, c.Scores, &pm)
				if !reflect.DeepEqual(pc, pm) {
					t.Fatalf("dispatch %d after misuse: plan %+v, want %+v", j, pm, pc)
				}
			}
			if !reflect.DeepEqual(clean.Stats(), misused.Stats()) {
				t.Errorf("Stats after misuse %+v, want %+v", misused.Stats(), clean.Stats())
			}
		})
	}
}

// dispatchPanic calls p.Dispatch and returns what it panicked with.
func dispatchPanic(p rt.Policy, layer int, experts []int32, scores []float32, plan *rt.Plan) (v any) {
	defer func() { v = recover() }()
	p.Dispatch(layer, experts, scores, plan)
	return nil
}
