package replay_test

import (
	"io"
	"math/rand/v2"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/rttest"
)

// benchShape is Qwen1.5-MoE-A2.7B's: 24 MoE layers of 60 experts, top-4.
var benchShape = rt.Shape{Layers: 24, Experts: 60, TopK: 4, ExpertBytes: 17 << 20}

func benchRows(n int) []replay.Row {
	return randomRows(rand.New(rand.NewPCG(1, 2)), benchShape, n)
}

// benchRun replays rows through the policy newPolicy returns, once per
// iteration, and reports expert accesses per second.
func benchRun(b *testing.B, rows []replay.Row, opts replay.Options, newPolicy func() rt.Policy) {
	src := replay.NewSliceSource(rows)
	var res *replay.Result
	b.ReportAllocs()
	for b.Loop() {
		src.Rewind()
		var err error
		if res, err = replay.Run(newPolicy(), src, opts); err != nil {
			b.Fatal(err)
		}
	}
	acc := float64(res.Accesses()) * float64(b.N)
	b.ReportMetric(acc/b.Elapsed().Seconds(), "accesses/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/acc, "ns/access")
	b.ReportMetric(res.HitRate(), "hit_rate")
}

// BenchmarkRunAlwaysHit is the replay's own cost per access: routing
// checks, one Dispatch through the interface, the simulator's checks and
// the counts, with a policy that does nothing.
func BenchmarkRunAlwaysHit(b *testing.B) {
	opts := replay.Options{Shape: benchShape, Slots: benchShape.Layers * benchShape.Experts}
	for l := range int32(benchShape.Layers) {
		for e := range int32(benchShape.Experts) {
			opts.Pinned = append(opts.Pinned, rt.Key{Layer: l, Expert: e})
		}
	}
	benchRun(b, benchRows(1<<16), opts, func() rt.Policy { return &rttest.AlwaysHit{} })
}

// BenchmarkRunFastLRU replays a flat LRU of 256 slots written as rt's
// will be (dense arrays, nothing allocated per dispatch): the replay
// throughput of a real LRU, misses, loads and evictions included.
func BenchmarkRunFastLRU(b *testing.B) {
	opts := replay.Options{Shape: benchShape, Slots: 256}
	benchRun(b, benchRows(1<<16), opts, func() rt.Policy { return newFastLRU(benchShape, 256, nil) })
}

// BenchmarkRunFastLRUDecisions adds the decisions output (to io.Discard).
func BenchmarkRunFastLRUDecisions(b *testing.B) {
	opts := replay.Options{Shape: benchShape, Slots: 256, Decisions: io.Discard}
	benchRun(b, benchRows(1<<16), opts, func() rt.Policy { return newFastLRU(benchShape, 256, nil) })
}

// BenchmarkRunReferenceLRU is rttest's LRU, slow on purpose: for scale.
func BenchmarkRunReferenceLRU(b *testing.B) {
	opts := replay.Options{Shape: benchShape, Slots: 256}
	benchRun(b, benchRows(1<<14), opts, func() rt.Policy {
		lru, err := rttest.NewLRU(benchShape, 256, nil)
		if err != nil {
			b.Fatal(err)
		}
		return lru
	})
}

func benchBelady(b *testing.B, run func([]rt.Key) (*replay.OptResult, error)) {
	keys := keysOf(benchRows(1 << 18)) // 1 Mi accesses
	var res *replay.OptResult
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if res, err = run(keys); err != nil {
			b.Fatal(err)
		}
	}
	acc := float64(len(keys)) * float64(b.N)
	b.ReportMetric(acc/b.Elapsed().Seconds(), "accesses/s")
	b.ReportMetric(res.HitRate(), "hit_rate")
}

func BenchmarkBelady(b *testing.B) {
	benchBelady(b, func(k []rt.Key) (*replay.OptResult, error) { return replay.Belady(k, 256, nil) })
}

func BenchmarkBeladyPerLayer(b *testing.B) {
	caps := make([]int, benchShape.Layers)
	for l := range caps {
		caps[l] = 256 / benchShape.Layers
	}
	benchBelady(b, func(k []rt.Key) (*replay.OptResult, error) { return replay.BeladyPerLayer(k, caps, nil) })
}

// TestRunAllocatesNothingPerDispatch: a replay ten times as long
// allocates no more.
func TestRunAllocatesNothingPerDispatch(t *testing.T) {
	rows := benchRows(20000)
	allocs := func(n int) float64 {
		src := replay.NewSliceSource(rows[:n])
		return testing.AllocsPerRun(5, func() {
			src.Rewind()
			if _, err := replay.Run(newFastLRU(benchShape, 256, nil), src, replay.Options{Shape: benchShape, Slots: 256}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if short, long := allocs(2000), allocs(20000); long > short {
		t.Errorf("Run allocates %v times over 2000 dispatches, %v over 20000", short, long)
	}
}
