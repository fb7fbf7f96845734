package replay_test

import (
	"math"
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
			{Prefetches: 0, GPU: 2, Dispatches: 3}, // nothing to hide
			// Two loads (50 µs) while the CPU runs one expert (1 ms): the
			// copies are beside the CPU, twice.
			{Prefetches: 0, GPU: 2, Loads: 2, CPU: 1, Dispatches: 2},
		},
	}
	want := replay.Cost{
		Tokens:   2,
		Demand:   100 * time.Microsecond, // 4 x 25
		CPU:      2 * time.Millisecond,   // 2 x 1 ms
		Beside:   100 * time.Microsecond, // 2 x min(50 µs, 1 ms)
		Exposed:  60 * time.Microsecond,  // 3 x 20
		Hidden:   140 * time.Microsecond, // 3 x 30 + 2 x 25
		Total:    2060 * time.Microsecond,
		PerToken: 1030 * time.Microsecond,
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

// TestCPUScalesWithBytes: without a measured CPUExpert, an expert's CPU
// time is its bytes at CPUGBps, calibrated so that Qwen1.5-MoE's 16.5 MiB
// expert takes the measured 2.1 ms; Mixtral's 336 MiB takes 20 times as
// long.
func TestCPUScalesWithBytes(t *testing.T) {
	m := replay.DefaultCostModel()
	for _, tc := range []struct {
		bytes int64
		want  time.Duration
	}{
		{3 * 2048 * 1408 * 2, 2100 * time.Microsecond}, // Qwen1.5-MoE
		{3 * 4096 * 14336 * 2, 42763636},               // Mixtral-8x7B: 2.1 ms x 336/16.5
		{3 * 2048 * 1024 * 2, 1527273},                 // OLMoE, 12 MiB
		{0, 0},
	} {
		if got := m.CPU(tc.bytes); got != tc.want {
			t.Errorf("CPU(%d) = %v, want %v", tc.bytes, got, tc.want)
		}
	}
	m.CPUExpert = 5 * time.Millisecond
	if got := m.CPU(1e9); got != m.CPUExpert {
		t.Errorf("CPU with CPUExpert set = %v, want %v whatever the size", got, m.CPUExpert)
	}

	// The cost of a replay's CPU experts follows: the same counts with
	// experts 20 times larger cost 20 times the CPU time.
	r := &replay.Result{Shape: rt.Shape{Layers: 1, Experts: 8, TopK: 2, ExpertBytes: 3 * 2048 * 1408 * 2}, Tokens: 1, CPU: 2}
	small := replay.DefaultCostModel().Cost(r).CPU
	r.Shape.ExpertBytes *= 20
	if large := replay.DefaultCostModel().Cost(r).CPU; large != 20*small || small != 4200*time.Microsecond {
		t.Errorf("CPU cost = %v for 2 experts of 16.5 MiB, %v for 2 of 20 times that; want 4.2 ms and 20 times it", small, large)
	}
}

// TestForPolicy: the hardware figures a policy writes replace the model's.
func TestForPolicy(t *testing.T) {
	m := replay.DefaultCostModel()
	spec := rt.NewSpec("p", 8)
	if got := m.ForPolicy(spec); got != m {
		t.Errorf("ForPolicy of a policy that states no figures = %+v, want %+v", got, m)
	}

	// Written, even at the default value: the policy's bandwidth.
	spec.KeyPos = map[string]rt.Pos{"schedule.pcie_gbps": {Line: 3, Col: 5}}
	if got := m.ForPolicy(spec).PCIeGBps; got != rt.DefaultPCIeGBps {
		t.Errorf("written pcie_gbps: PCIeGBps = %v, want %v", got, rt.DefaultPCIeGBps)
	}

	// Built in Go: a value other than the default counts as stated.
	spec.KeyPos = nil
	spec.Schedule.PCIeGBps, spec.Schedule.CPUExpertMS = 8, 2.5
	want := m
	want.PCIeGBps, want.CPUExpert = 8, 2500*time.Microsecond
	if got := m.ForPolicy(spec); got != want {
		t.Errorf("ForPolicy = %+v, want %+v", got, want)
	}
}

func TestCostModelValidate(t *testing.T) {
	if err := replay.DefaultCostModel().Validate(); err != nil {
		t.Errorf("the default model: %v", err)
	}
	for _, tc := range []struct {
		change func(*replay.CostModel)
		want   string
	}{
		{func(m *replay.CostModel) { m.PCIeGBps = 0 }, "host-to-GPU bandwidth 0 GB/s: want a finite number above 0"},
		{func(m *replay.CostModel) { m.PCIeGBps = -1 }, "host-to-GPU bandwidth -1 GB/s: want a finite number above 0"},
		{func(m *replay.CostModel) { m.PCIeGBps = math.NaN() }, "host-to-GPU bandwidth NaN GB/s: want a finite number above 0"},
		{func(m *replay.CostModel) { m.PCIeGBps = math.Inf(1) }, "host-to-GPU bandwidth +Inf GB/s: want a finite number above 0"},
		{func(m *replay.CostModel) { m.CPUGBps = 0 }, "CPU rate 0 GB/s: want a finite number above 0"},
		{func(m *replay.CostModel) { m.CopyLatency = -1 }, "copy latency -1ns: want 0 or more"},
		{func(m *replay.CostModel) { m.CPUExpert = -2 * time.Millisecond }, "CPU time of an expert -2ms: want 0 or more"},
		{func(m *replay.CostModel) { m.GPUExpert = -time.Microsecond }, "GPU time of an expert -1µs: want 0 or more"},
	} {
		m := replay.DefaultCostModel()
		tc.change(&m)
		if err := m.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate(%+v) = %v, want %q", m, err, tc.want)
		}
	}
}

// TestCostWithEngineTerms adds the model's GPU compute and the host's
// dispatches to TestCostHandComputed's worked example: 2 tokens of 3 ms,
// 10 dispatches of 40 µs.
func TestCostWithEngineTerms(t *testing.T) {
	m := replay.CostModel{PCIeGBps: 50, CopyLatency: 5 * time.Microsecond, CPUExpert: time.Millisecond, GPUExpert: 30 * time.Microsecond,
		GPUToken: 3 * time.Millisecond, HostLayer: 40 * time.Microsecond}
	r := &replay.Result{
		Shape:  rt.Shape{Layers: 1, Experts: 8, TopK: 4, ExpertBytes: 1e6},
		Tokens: 2, Dispatches: 10, Loads: 4, CPU: 2,
		Overlap: []replay.Overlap{
			{Prefetches: 2, GPU: 1, Dispatches: 3},
			{Prefetches: 1, GPU: 4, Dispatches: 2},
			{Prefetches: 0, GPU: 2, Dispatches: 5},
		},
	}
	want := replay.Cost{
		Tokens:   2,
		Demand:   100 * time.Microsecond,
		CPU:      2 * time.Millisecond,
		Exposed:  60 * time.Microsecond,
		Hidden:   140 * time.Microsecond,
		Compute:  6 * time.Millisecond,   // 2 x 3 ms
		Host:     400 * time.Microsecond, // 10 x 40 µs
		Total:    8560 * time.Microsecond,
		PerToken: 4280 * time.Microsecond, // 1,080 µs as before + 3 ms + 5 x 40 µs
	}
	if diff := cmp.Diff(want, m.Cost(r)); diff != "" {
		t.Errorf("Cost (-want +got):\n%s", diff)
	}
}

// TestCostPredictsCalibratedRun prices the plans of the run a calibration
// was measured on (the H200's LRU run at 16 GiB: 255 tokens of 24 MoE
// layers in 4,417 ms, 3,731 ms of it stalled, 265 ms of that the host's,
// 10,973 demand copies of 189.8 GB) with that calibration: the model's
// parts are the run's parts, so it gives back the run's time.
func TestCostPredictsCalibratedRun(t *testing.T) {
	const (
		tokens, layers = 255, 24
		runMS          = 4417.0
		stallMS        = 3731.0
		hostMS         = 265.0
		copies         = 10973
		expertBytes    = 3 * 2048 * 1408 * 2
		bytes          = copies * expertBytes
	)
	c := replay.Calibration{
		GPUTokenMS:  (runMS - stallMS) / tokens,
		HostLayerMS: hostMS / (tokens * layers),
		CopyGBps:    bytes / ((stallMS - hostMS) * 1e6),
		ExpertBytes: expertBytes, MoELayers: layers, Tokens: tokens,
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	m := replay.CostModel{PCIeGBps: c.CopyGBps, GPUToken: c.GPUToken(), HostLayer: c.HostLayer()}
	r := &replay.Result{Shape: rt.Shape{Layers: layers, Experts: 60, TopK: 4, ExpertBytes: c.ExpertBytes},
		Tokens: tokens, Dispatches: tokens * layers, Loads: copies}
	got := ms(m.Cost(r).PerToken)
	if want := runMS / tokens; math.Abs(got-want) > 1e-3*want {
		t.Errorf("modeled %.4f ms a token, the run %.4f", got, want)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
