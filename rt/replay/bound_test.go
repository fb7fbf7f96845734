package replay_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/rttest"
	"github.com/moepolicy/moec/rt/trace"
)

// TestBeladyBoundsDemandPolicies checks, over random policies and
// routing, that no policy that fills slots only on a miss (LRU or LFU, no
// prefetch, triggers allowed, static per-layer budgets) hits more often
// than Belady's optimum for the same slots (BeladyFor). Caches that admit experts
// without a miss (prefetch, frequency threshold) are left out: they can
// beat a demand-only optimum.
func TestBeladyBoundsDemandPolicies(t *testing.T) {
	shapes := []rt.Shape{{Layers: 1, Experts: 8, TopK: 2}, {Layers: 4, Experts: 16, TopK: 4}, {Layers: 3, Experts: 64, TopK: 6}}
	for seed := range 200 {
		r := rand.New(rand.NewPCG(uint64(seed), 11))
		shape := shapes[seed%len(shapes)]
		spec := rttest.RandomSpec(r, shape)
		if spec.Cache.Eviction != rt.LFU {
			spec.Cache.Eviction = rt.LRU
		}
		spec.Prefetch.Strategy = rt.PrefetchNone
		spec.Adapt.Rules = nil
		if spec.PerLayer != nil {
			spec.PerLayer.RebalanceInterval = 0
		}
		p, err := rt.New(spec, shape)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		rows := randomRows(rand.New(rand.NewPCG(uint64(seed), 5)), shape, 600)
		pins := replay.PinnedKeys(shape.Layers, spec.Cache.Pin)
		res, err := replay.Run(p, replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: spec.MaxSlots(shape), Pinned: pins})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		acc, err := replay.Accesses(replay.NewSliceSource(rows))
		if err != nil {
			t.Fatal(err)
		}
		opt, err := replay.BeladyFor(acc, spec, res)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if opt.Accesses() != res.Accesses() {
			t.Errorf("seed %d: Belady counts %d accesses, the replay %d", seed, opt.Accesses(), res.Accesses())
		}
		if res.Hits > opt.Count.Hits {
			t.Errorf("seed %d: %s hits %d, more than Belady's %d\n%+v", seed, spec.Cache.Eviction, res.Hits, opt.Count.Hits, spec)
		}
	}
}

// BenchmarkReplayRealTrace replays the shared real trace, read from memory
// as moec replay reads it from a file, through interpreted policies: the
// end-to-end replay throughput.
func BenchmarkReplayRealTrace(b *testing.B) {
	data, err := os.ReadFile("../../testdata/traces/qwen15moe-gsm8k-5layer.jsonl")
	if err != nil {
		b.Skip(err)
	}
	specs := map[string]func() *rt.Spec{
		"lru": func() *rt.Spec { s := rt.NewSpec("lru", 64); return s },
		"composed_showcase": func() *rt.Spec {
			s := rt.NewSpec("composed_showcase", 24)
			s.Cache.Eviction, s.Cache.Decay, s.Cache.Pin = rt.LFU, 0.9, []int{0}
			s.Cache.MemoryPressure, s.Cache.MemoryThreshold, s.Cache.MemoryHeadroom = true, 0.75, 0.4
			s.Cache.TTLSet, s.Cache.TTL = true, 200
			s.Prefetch.Strategy, s.Prefetch.Lookahead, s.Prefetch.HistoryWindow = rt.Lookahead, 2, 40
			s.Schedule.Mode, s.Schedule.OffloadThresholdMS = rt.Hybrid, 40
			return s
		},
	}
	for _, name := range []string{"lru", "composed_showcase"} {
		b.Run(name, func(b *testing.B) {
			var res *replay.Result
			b.ReportAllocs()
			for b.Loop() {
				tr, err := trace.NewReader(bytes.NewReader(data), "qwen.jsonl")
				if err != nil {
					b.Fatal(err)
				}
				spec := specs[name]()
				shape := tr.Header().Shape()
				p, err := rt.New(spec, shape)
				if err != nil {
					b.Fatal(err)
				}
				res, err = replay.Run(p, replay.TraceSource{R: tr}, replay.Options{
					Shape: shape, Slots: spec.MaxSlots(shape), Pinned: replay.PinnedKeys(shape.Layers, spec.Cache.Pin)})
				if err != nil {
					b.Fatal(err)
				}
			}
			acc := float64(res.Accesses()) * float64(b.N)
			b.ReportMetric(acc/b.Elapsed().Seconds(), "accesses/s")
			b.ReportMetric(res.HitRate(), "hit_rate")
		})
	}
}

// BenchmarkReplayLRU replays random routing of Qwen1.5-MoE's full shape
// through the interpreter's LRU with 256 slots: the replay throughput
// target (10 million accesses per second on one core).
func BenchmarkReplayLRU(b *testing.B) {
	benchRun(b, benchRows(1<<16), replay.Options{Shape: benchShape, Slots: 256}, func() rt.Policy {
		p, err := rt.New(rt.NewSpec("lru", 256), benchShape)
		if err != nil {
			b.Fatal(err)
		}
		return p
	})
}
