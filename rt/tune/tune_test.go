package tune

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
)

// TestTuneObjective checks the ranking: at equal memory (ranks restart
// at each capacity, capacities in grid order), by the objective, ties in
// grid order; hybrid, which runs every Qwen1.5-MoE miss on the GPU with
// the default hardware (a copy takes 0.33 ms, the CPU 2.1 ms), is not
// listed beside gpu_only.
func TestTuneObjective(t *testing.T) {
	r := smallTrace(t, 3000, 4)
	for _, objective := range []Objective{HitRate, Time} {
		rep, err := r.Tune(ReferenceGrid(), objective, 0)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Configurations != 120 || rep.Replayed != 60 || len(rep.Results) != 60 {
			t.Fatalf("%s: %d configurations, %d replayed, %d results, want 120, 60, 60", objective, rep.Configurations, rep.Replayed, len(rep.Results))
		}
		wantSkip := []Skip{{"hybrid runs every miss on the GPU here (a copy takes 0.330 ms at 52.5 GB/s, the CPU 2.100 ms, with up to 4 misses a layer), as gpu_only does", 60}}
		if diff := cmp.Diff(wantSkip, rep.Skipped); diff != "" {
			t.Errorf("%s: skipped (-want +got):\n%s", objective, diff)
		}
		distinct := map[float64]bool{}
		for i, r := range rep.Results {
			distinct[r.HitRate] = true
			if r.Config.Mode != "gpu_only" {
				t.Errorf("%s: result %d is %s", objective, i, r.Config)
			}
			if i == 0 || r.Config.Capacity != rep.Results[i-1].Config.Capacity {
				if r.Rank != 1 {
					t.Errorf("%s: result %d, the first of capacity %d, has rank %d", objective, i, r.Config.Capacity, r.Rank)
				}
				if i > 0 && r.Config.Capacity < rep.Results[i-1].Config.Capacity {
					t.Errorf("%s: capacity %d after %d, want grid order", objective, r.Config.Capacity, rep.Results[i-1].Config.Capacity)
				}
				continue
			}
			p := rep.Results[i-1]
			if r.Rank != p.Rank+1 {
				t.Errorf("%s: result %d has rank %d after rank %d", objective, i, r.Rank, p.Rank)
			}
			var worse, tie bool
			if objective == Time {
				worse, tie = r.perToken > p.perToken, r.perToken == p.perToken
			} else {
				worse, tie = r.HitRate < p.HitRate, r.HitRate == p.HitRate
			}
			if !worse && !(tie && r.Index > p.Index) {
				t.Errorf("%s: rank %d (config %d, %.4f, %v) after rank %d (config %d, %.4f, %v)",
					objective, r.Rank, r.Index, r.HitRate, r.perToken, p.Rank, p.Index, p.HitRate, p.perToken)
			}
		}
		if len(distinct) < 10 {
			t.Errorf("%s: only %d distinct hit rates: the configurations do not differ", objective, len(distinct))
		}
	}
}

// TestTuneHybrid checks that hybrid decides with the cost model's
// hardware: on a slow link, copying an expert takes longer than the CPU
// runs it, so hybrid runs misses on the CPU, differs from gpu_only and is
// listed, with the figures it decides by; beside cpu_fallback it is not.
// (The cost model still ranks it below gpu_only: a miss run on the CPU is
// copied in the background too, and nothing hides that copy.)
func TestTuneHybrid(t *testing.T) {
	r := smallTrace(t, 500, 2)
	r.Model.PCIeGBps = 2 // 17.3 MB: 8.7 ms a copy, 2.1 ms on the CPU
	g := ReferenceGrid()
	g.Capacity, g.Eviction, g.Strategy = []int{16}, []string{"lru"}, []string{"none"}
	rep, err := r.Tune(g, Time, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != 2 || len(rep.Skipped) != 0 {
		t.Fatalf("%d replayed, skipped %v; want 2, none", rep.Replayed, rep.Skipped)
	}
	hybrid, gpuOnly := rep.Results[0], rep.Results[1]
	if hybrid.Config.Mode != "hybrid" {
		hybrid, gpuOnly = gpuOnly, hybrid
	}
	if c := hybrid.Config; c.Mode != "hybrid" || c.PCIeGBps != 2 || c.CPUExpertMS != 2.1 {
		t.Errorf("the hybrid configuration is %+v, want one deciding at 2 GB/s and 2.1 ms", c)
	}
	if hybrid.res.CPU == 0 || gpuOnly.res.CPU != 0 {
		t.Errorf("hybrid ran %d experts on the CPU, gpu_only %d; want some, none", hybrid.res.CPU, gpuOnly.res.CPU)
	}

	g.Mode = []string{"cpu_fallback", "hybrid"}
	rep, err = r.Tune(g, Time, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replayed != 1 || len(rep.Skipped) != 1 || !strings.HasPrefix(rep.Skipped[0].Reason, "hybrid runs every miss on the CPU here (a copy takes 8.651 ms at 2 GB/s, the CPU 2.100 ms, with up to 4 misses a layer), as cpu_fallback does") {
		t.Errorf("beside cpu_fallback: %d replayed, skipped %+v", rep.Replayed, rep.Skipped)
	}
}

// TestTuneTop checks that the top results of each capacity come with
// Belady's optimum for their slots, and that no configuration without
// prefetch beats it.
func TestTuneTop(t *testing.T) {
	r := smallTrace(t, 2000, 2)
	g := DefaultGrid()
	g.Capacity = []int{8, 16}
	all, err := r.Tune(g, HitRate, 0)
	if err != nil {
		t.Fatal(err)
	}
	top, err := r.Tune(g, HitRate, 7)
	if err != nil {
		t.Fatal(err)
	}
	if top.Replayed != all.Replayed || len(top.Results) != 14 {
		t.Fatalf("top 7: %d replayed, %d results; all: %d replayed", top.Replayed, len(top.Results), all.Replayed)
	}
	var firsts []Result // the first 7 of each capacity
	for _, res := range all.Results {
		if res.Rank <= 7 {
			firsts = append(firsts, res)
		}
	}
	if diff := cmp.Diff(firsts, top.Results, cmp.AllowUnexported(Result{}), cmp.Comparer(func(a, b *rt.Spec) bool { return a.Name == b.Name }),
		cmp.Comparer(func(a, b *replay.Result) bool { return a.Count == b.Count })); diff != "" {
		t.Errorf("top 7 differ from the first 7 of each capacity of all (-all +top):\n%s", diff)
	}
	for _, res := range all.Results {
		if res.Belady <= 0 || res.Belady > 1 {
			t.Errorf("config %d: Belady %v", res.Index, res.Belady)
		}
		if res.Config.Strategy == "none" && res.Config.Allocation == AllocNone && res.HitRate > res.Belady {
			t.Errorf("config %d (%v) without prefetch hits %.4f, more than Belady's %.4f", res.Index, res.Config, res.HitRate, res.Belady)
		}
	}
}

func TestTuneErrors(t *testing.T) {
	r := smallTrace(t, 100, 1)
	if _, err := r.Tune(ReferenceGrid(), "speed", 0); err == nil || err.Error() != `objective "speed": want hit_rate or time` {
		t.Errorf("objective speed: %v", err)
	}
	g := ReferenceGrid()
	g.Eviction = []string{"score"}
	g.Strategy = []string{"none"}
	_, err := r.Tune(g, HitRate, 0)
	want := "no configuration of the grid is valid: configuration 1 (capacity 4, score, prefetch none, gpu_only, allocation none): " +
		"cache eviction score requires a prefetch strategy other than none (rule 15)"
	if err == nil || err.Error() != want {
		t.Errorf("a grid of invalid configurations: %v, want %q", err, want)
	}

	// Every configuration pruned: the reason is still given.
	g = ReferenceGrid()
	g.Capacity, g.Budget = []int{2}, []int{4, 8}
	_, err = r.Tune(g, HitRate, 0)
	want = "no configuration of the grid is valid: every prefetch budget exceeds its capacity, as in the first configuration, capacity 2 with budget 4 (rule 10)"
	if err == nil || err.Error() != want {
		t.Errorf("a grid pruned to nothing: %v, want %q", err, want)
	}
	g.Mode = nil
	if _, err = r.Tune(g, HitRate, 0); err == nil || err.Error() != `no configuration of the grid is valid: "schedule_mode" has no values` {
		t.Errorf("a grid without modes: %v", err)
	}
}

// TestTuneParallel checks that replaying on many workers gives exactly
// what one worker gives.
func TestTuneParallel(t *testing.T) {
	grid := DefaultGrid()
	grid.Capacity = []int{8, 32}
	tune := func(workers int) *Report {
		rep, err := smallTrace(t, 1500, workers).Tune(grid, HitRate, 0)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	one, many := tune(1), tune(16)
	if one.Replayed < 100 {
		t.Fatalf("%d replayed: grid too small to test", one.Replayed)
	}
	opts := cmp.Options{cmp.AllowUnexported(Result{}), cmp.Comparer(func(a, b *rt.Spec) bool { return a.Name == b.Name }),
		cmp.Comparer(func(a, b *replay.Result) bool { return cmp.Equal(a.Count, b.Count) && cmp.Equal(a.Stats, b.Stats) })}
	if diff := cmp.Diff(one, many, opts); diff != "" {
		t.Errorf("1 worker vs 16 (-1 +16):\n%s", diff)
	}
}

// TestProgress checks that the progress callback learns the number of
// replays and counts every one of them, in order.
func TestProgress(t *testing.T) {
	r := smallTrace(t, 200, 3)
	var total int64
	var seen []int64
	r.Progress = func(n int64) func(int64) {
		total = n
		return func(done int64) { seen = append(seen, done) }
	}
	rep, err := r.Tune(ReferenceGrid(), HitRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	if total != int64(rep.Replayed) || int64(len(seen)) != total {
		t.Fatalf("progress: total %d, %d calls; %d replayed", total, len(seen), rep.Replayed)
	}
	for i, d := range seen {
		if d != int64(i+1) {
			t.Fatalf("progress call %d says %d done", i, d)
		}
	}
}

// TestTuneSizesFrequencyThreshold checks that a frequency_threshold
// configuration counts over a window sized for the experts its cache
// sees, in its result and in the policy Tune writes for it, not over the
// defaults' 100 accesses: a flat cache sees the trace's 5 layers of 60
// (0.0025 over 1,500 with 5 accesses an expert, 12,000 with 40), a
// per-layer one its layer's 60 (0.013 over 300).
func TestTuneSizesFrequencyThreshold(t *testing.T) {
	r := smallTrace(t, 2000, 2)
	for _, tc := range []struct {
		alloc     string
		perExpert int
		threshold float64
		window    int
	}{
		{AllocNone, 5, 0.0025, 1500},
		{"uniform", 5, 0.013, 300},
		{AllocNone, 40, 0.0025, 12000},
		{AllocNone, 400, 0.0025, 65536}, // rt.MaxWindow
	} {
		g := Grid{Name: "g", Capacity: []int{40}, Eviction: []string{"frequency_threshold"}, Decay: []float64{0.9}, Windows: []int{tc.perExpert},
			Budget: []int{4}, Strategy: []string{"none"}, Mode: []string{"gpu_only"}, Allocation: []string{tc.alloc}}
		rep, err := r.Tune(g, Time, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Results) != 1 {
			t.Fatalf("allocation %s: %d results, want 1", tc.alloc, len(rep.Results))
		}
		res := rep.Results[0]
		if c := res.Config; c.FreqThreshold != tc.threshold || c.FreqWindow != tc.window {
			t.Errorf("configuration %v: freq_threshold %g over %d, want %g over %d", c, c.FreqThreshold, c.FreqWindow, tc.threshold, tc.window)
		}
		if s := res.spec.Cache; s.FreqThreshold != tc.threshold || s.FreqWindow != tc.window {
			t.Errorf("allocation %s, policy: freq_threshold %g over %d, want %g over %d", tc.alloc, s.FreqThreshold, s.FreqWindow, tc.threshold, tc.window)
		}
	}
}
