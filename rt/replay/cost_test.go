package replay_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/rttest"
)

func TestCostHandComputed(t *testing.T) {
	// 1 MB experts over 50 GB/s: 20 µs, plus 5 µs latency: 25 µs a copy.
	m := replay.CostModel{PCIeGBps: 50, CopyLatency: 5 * time.Microsecond, CPUExpert: time.Millisecond, GPUExpert: 30 * time.Microsecond}
	r := &replay.Result{
		Shape:  rt.Shape{Layers: 1, Experts: 8, TopK: 4, ExpertBytes: 1e6},
		Tokens: 2, Loads: 4, CPU: 2,
		Overlap: []replay.Overlap{
			{Prefetches: 2, GPU: 1, Dispatches: 3}, // 50 µs of copies, 30 of compute: 20 exposed, 3 times
			{Prefetches: 1, GPU: 4, Dispatches: 2}, // 25 µs of copies behind 120 of compute: all hidden
			{Prefetches: 0, GPU: 2, Dispatches: 5}, // nothing to hide
		},
	}
	want := replay.Cost{
		Tokens:   2,
		Demand:   100 * time.Microsecond, // 4 x 25
		CPU:      2 * time.Millisecond,   // 2 x 1 ms
		Exposed:  60 * time.Microsecond,  // 3 x 20
		Hidden:   140 * time.Microsecond, // 3 x 30 + 2 x 25
		Total:    2160 * time.Microsecond,
		PerToken: 1080 * time.Microsecond,
	}
	if diff := cmp.Diff(want, m.Cost(r)); diff != "" {
		t.Errorf("Cost (-want +got):\n%s", diff)
	}
	if got := m.PerToken(r); got != want.PerToken {
		t.Errorf("PerToken = %v, want %v", got, want.PerToken)
	}
	if got := m.PerToken(&replay.Result{}); got != 0 {
		t.Errorf("PerToken of no tokens = %v, want 0", got)
	}
}

func TestCostOfReplay(t *testing.T) {
	// The worked example with misses on the CPU (TestRunLRUOnCPU): 6 CPU
	// experts, 6 background copies, 2 tokens. 1000-byte experts over
	// 1 GB/s: 1 µs, plus 0.5 µs latency. Steps 0 and 1 copy 2 experts
	// with nothing on the GPU: 3 µs exposed each; steps 2 and 3 copy 1
	// (1.5 µs) behind 1 GPU expert (1 µs): 0.5 µs exposed each.
	lru, err := rttest.NewLRU(exampleShape, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	lru.CPUOnMiss = true
	r, err := replay.Run(lru, replay.NewSliceSource(exampleRows), replay.Options{Shape: exampleShape, Slots: 3})
	if err != nil {
		t.Fatal(err)
	}
	m := replay.CostModel{PCIeGBps: 1, CopyLatency: 500, CPUExpert: 10 * time.Microsecond, GPUExpert: time.Microsecond}
	want := replay.Cost{
		Tokens:   2,
		CPU:      60 * time.Microsecond,
		Exposed:  7 * time.Microsecond, // 2 x 3 + 2 x 0.5
		Hidden:   2 * time.Microsecond, // 2 x 1
		Total:    67 * time.Microsecond,
		PerToken: 33500 * time.Nanosecond,
	}
	if diff := cmp.Diff(want, m.Cost(r)); diff != "" {
		t.Errorf("Cost (-want +got):\n%s", diff)
	}
}

func TestCopy(t *testing.T) {
	m := replay.DefaultCostModel()
	// 17 MB at 52.5 GB/s: 323,809.5 ns, plus 2,600.
	if got, want := m.Copy(17e6), 326410*time.Nanosecond; got != want {
		t.Errorf("Copy(17 MB) = %v, want %v", got, want)
	}
	m.PCIeGBps = 0
	if got := m.Copy(17e6); got != m.CopyLatency {
		t.Errorf("Copy without bandwidth = %v, want the latency %v", got, m.CopyLatency)
	}
}
