package engine

import (
	"bytes"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/rttest"
	"github.com/moepolicy/moec/rt/trace"
	"github.com/moepolicy/moec/sema"
)

var tinyModels = []string{"qwen2_moe", "qwen2_moe_bf16", "olmoe", "qwen3_moe", "mixtral", "deepseek_v2", "deepseek_v2_qlora"}

// examplePolicies are examples/*.moe files (one policy each, or the
// first) that cover the evictions, prefetchers and schedule modes.
var examplePolicies = []string{
	"lru_policy", "lfu_policy", "composed_policy", "fallback_policy", "finemoe_score",
	"freq_threshold_policy", "moe_infinity_sparsity", "affinity_policy", "per_layer_signals",
}

// exampleSpec reads examples/name.moe's first policy.
func exampleSpec(t *testing.T, name string) *rt.Spec {
	t.Helper()
	path := filepath.Join("..", "examples", name+".moe")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := parser.ParseFile(path, src)
	specs, more := sema.Check(f)
	if diags = append(diags, more...); len(diags) > 0 {
		t.Fatalf("%s: %v", path, diags)
	}
	return specs[0]
}

// shrink makes spec's cache small for shape, so that its plans evict.
func shrink(t *testing.T, spec *rt.Spec, shape rt.Shape) {
	t.Helper()
	c := shape.TopK + 1 + len(spec.Cache.Pin)*shape.Layers
	spec.Cache.Capacity = c
	spec.Prefetch.Budget = min(spec.Prefetch.Budget, c)
	for i := range spec.Adapt.Rules {
		for j := range spec.Adapt.Rules[i].Actions {
			a := &spec.Adapt.Rules[i].Actions[j]
			switch a.Target {
			case rt.SetCapacity:
				a.Int = c + 2
			case rt.SetBudget:
				a.Int = min(a.Int, c)
			}
		}
	}
	if pl := spec.PerLayer; pl != nil {
		pl.MinCapacity, pl.MaxCapacity, pl.TotalBudget = 1, shape.TopK+1, 0
	}
	if v := spec.Check(); len(v) > 0 {
		t.Fatalf("%s shrunk to capacity %d: %v", spec.Name, c, v)
	}
}

// policies returns the specs TestPolicySameTokens runs on a model of
// shape: the examples, shrunk, and random ones.
func policies(t *testing.T, shape rt.Shape) []*rt.Spec {
	var specs []*rt.Spec
	for _, name := range examplePolicies {
		s := exampleSpec(t, name)
		shrink(t, s, shape)
		specs = append(specs, s)
	}
	for seed := range uint64(4) {
		specs = append(specs, rttest.RandomSpec(rand.New(rand.NewPCG(seed, 14)), shape))
	}
	return specs
}

func openPolicy(t *testing.T, dir string, spec *rt.Spec, shape rt.Shape, record bool) *Model {
	t.Helper()
	p, err := rt.New(spec, shape)
	if err != nil {
		t.Fatalf("%s: %v", spec.Name, err)
	}
	m, err := Open(dir, Options{MaxContext: 64, Device: *testDevice, Policy: p, Store: cudart.OptionsFor(spec, shape), RecordRouting: record})
	if err != nil {
		t.Fatalf("%s: %v", spec.Name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// policyModels are the checkpoints the policy tests run: the tiny ones
// and, given -engine.models, more (the GPU machine's full-width ones).
var policyModels = flag.String("engine.models", "", "more checkpoint `dirs`, comma-separated, for the policy tests")

// modelDirs returns the tiny checkpoints' folders and -engine.models'.
// On the GPU, whose policy path needs bf16 experts, only those with bf16
// experts.
func modelDirs(t *testing.T, tiny []string) []string {
	var dirs []string
	for _, name := range tiny {
		dirs = append(dirs, filepath.Join("..", "testdata", "models", name))
	}
	if *policyModels != "" {
		dirs = append(dirs, strings.Split(*policyModels, ",")...)
	}
	if *testDevice != "cuda" {
		return dirs
	}
	var bf16 []string
	for _, dir := range dirs {
		cfg, err := model.ReadConfig(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		ck, err := model.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		x, err := ck.Experts(cfg)
		ck.Close()
		if err != nil {
			t.Fatal(err)
		}
		if x.DType == "BF16" {
			bf16 = append(bf16, dir)
		}
	}
	return bf16
}

// TestPolicySameTokens checks that a model whose experts a policy places
// (in the slots of a store, or in its arena for the CPU) computes exactly
// what it computes with every expert loaded: the same greedy tokens and
// bit-identical teacher-forced logits, for every tiny checkpoint, the
// example policies with caches small enough to evict, and random
// policies. On the GPU, a run whose plans sent experts to the CPU
// computes them in another order than the GPU's kernels: its logits must
// be within 1e-3 of the largest one, its tokens the same.
func TestPolicySameTokens(t *testing.T) {
	prompt := []int{1, 17, 42, 99, 7, 200, 33, 5, 128, 64}
	const n = 12
	var total PlanCounts
	var copies int64
	for _, dir := range modelDirs(t, tinyModels) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			shape, err := ExpertShape(dir)
			if err != nil {
				t.Fatal(err)
			}
			base := openModel(t, dir)
			want, err := base.Generate(prompt, n, Sampling{})
			if err != nil {
				t.Fatal(err)
			}
			seq := slices.Concat(prompt, want.Generated)
			wantLogits := teacherForced(t, base, seq)
			for _, spec := range policies(t, shape) {
				m := openPolicy(t, dir, spec, shape, false)
				got, err := m.Generate(prompt, n, Sampling{})
				if err != nil {
					t.Fatalf("%s: %v", spec.Name, err)
				}
				if !slices.Equal(got.Generated, want.Generated) {
					t.Errorf("%s: generated %v, without a policy %v", spec.Name, got.Generated, want.Generated)
				}
				cpuExperts := m.Policy().Plans.CPU > 0 && *testDevice == "cuda"
				for pos, l := range teacherForced(t, m, seq) {
					i := firstDiff(l, wantLogits[pos])
					if cpuExperts {
						i = farthest(l, wantLogits[pos], 1e-3)
					}
					if i >= 0 {
						t.Errorf("%s: position %d: logit %d is %v, without a policy %v", spec.Name, pos, i, l[i], wantLogits[pos][i])
						break
					}
				}
				r := m.Policy()
				if r.Plans.Hits != r.Stats.Cache.Hits || r.Plans.Misses != r.Stats.Cache.Misses {
					t.Errorf("%s: plans count %d hits, %d misses; the policy %d, %d", spec.Name, r.Plans.Hits, r.Plans.Misses, r.Stats.Cache.Hits, r.Stats.Cache.Misses)
				}
				total.Evictions += r.Plans.Evictions
				total.CPU += r.Plans.CPU
				total.Hits += r.Plans.Hits
				copies += r.Store.Demand.Copies + r.Store.Prefetch.Copies
			}
		})
	}
	// The runs must have exercised the store: evictions, copies, hits and
	// experts run from the arena.
	if total.Evictions == 0 || total.CPU == 0 || total.Hits == 0 || copies == 0 {
		t.Errorf("the policies did not exercise the store: %+v, %d copies", total, copies)
	}
}

// teacherForced returns a copy of the logits after each token of seq.
func teacherForced(t *testing.T, m *Model, seq []int) [][]float32 {
	t.Helper()
	var out [][]float32
	if err := m.TeacherForced(seq, func(_ int, l []float32) { out = append(out, slices.Clone(l)) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// firstDiff returns the first index where a and b differ in bits, or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// farthest returns the first index where a and b differ by more than tol
// times b's largest magnitude, or -1.
func farthest(a, b []float32, tol float64) int {
	var m float64
	for _, v := range b {
		m = max(m, math.Abs(float64(v)))
	}
	for i := range a {
		if math.Abs(float64(a[i])-float64(b[i])) > tol*m {
			return i
		}
	}
	return -1
}

// TestPolicyTraceReplays checks that what a run reports of its policy
// equals what moec replay reports for the same policy over the routing
// the run recorded (WriteTrace): the policy's statistics, the counts of
// its plans, and the copies a HostStore makes executing them.
func TestPolicyTraceReplays(t *testing.T) {
	for _, dir := range modelDirs(t, []string{"qwen2_moe_bf16", "olmoe"}) {
		shape, err := ExpertShape(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range policies(t, shape) {
			t.Run(filepath.Base(dir)+"/"+spec.Name, func(t *testing.T) {
				m := openPolicy(t, dir, spec, shape, true)
				if _, err := m.Generate([]int{3, 1, 4, 1, 5, 9, 2, 6}, 16, Sampling{Temperature: 1, Seed: 14}); err != nil {
					t.Fatal(err)
				}
				run := m.Policy()
				var buf bytes.Buffer
				if err := m.WriteTrace(&buf); err != nil {
					t.Fatal(err)
				}
				tr, err := trace.NewReader(strings.NewReader(buf.String()), "run.jsonl")
				if err != nil {
					t.Fatal(err)
				}
				rows, err := replay.ReadRows(tr)
				if err != nil {
					t.Fatal(err)
				}
				if got := tr.Header().Shape(); got != shape {
					t.Fatalf("the trace's shape is %+v, the run's %+v", got, shape)
				}
				p, err := rt.New(spec, shape)
				if err != nil {
					t.Fatal(err)
				}
				// Decide with the figures the run's policy was calibrated
				// with on the GPU.
				p.(rt.Calibrated).Calibrate(run.Hardware)
				res, err := replay.Run(p, replay.NewSliceSource(rows), replay.Options{
					Shape: shape, Slots: spec.MaxSlots(shape), Pinned: replay.PinnedKeys(shape.Layers, spec.Cache.Pin)})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(run.Stats, res.Stats) {
					t.Errorf("the run's statistics\n%+v\nthe replay's\n%+v", run.Stats, res.Stats)
				}
				want := PlanCounts{Dispatches: res.Dispatches, Hits: res.Hits, Misses: res.Misses, GPU: res.GPU, CPU: res.CPU,
					Loads: res.Loads, Prefetches: res.Prefetches, Evictions: res.Evictions}
				if run.Plans != want {
					t.Errorf("the run's plans %+v, the replay's %+v", run.Plans, want)
				}
				if run.Tokens != res.Tokens || run.Shape != res.Shape {
					t.Errorf("the run counted %d tokens of shape %+v, the replay %d of %+v", run.Tokens, run.Shape, res.Tokens, res.Shape)
				}
				if got, want := run.Store, storeReplay(t, spec, shape, run.Hardware, rows); !sameCopies(got, want) {
					t.Errorf("the run's store counted %+v, a store replaying the trace %+v", got, want)
				}
			})
		}
	}
}

// storeReplay executes spec's plans, calibrated with hw, over rows on a
// HostStore, as a serving loop would, and returns its counters.
func storeReplay(t *testing.T, spec *rt.Spec, shape rt.Shape, hw rt.Hardware, rows []replay.Row) cudart.Counters {
	t.Helper()
	p, err := rt.New(spec, shape)
	if err != nil {
		t.Fatal(err)
	}
	p.(rt.Calibrated).Calibrate(hw)
	s, err := cudart.OpenHost(cudart.OptionsFor(spec, shape))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var plan rt.Plan
	for i, r := range rows {
		p.Dispatch(r.Layer, r.Experts, r.Scores, &plan)
		if err := s.Apply(&plan); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if err := s.Used(); err != nil {
			t.Fatal(err)
		}
	}
	return s.Counters()
}

// sameCopies compares counters but for the time they measure.
func sameCopies(a, b cudart.Counters) bool {
	a.DemandWait, b.DemandWait = 0, 0
	return a == b
}

// TestPolicyErrors checks what Open refuses under a policy.
func TestPolicyErrors(t *testing.T) {
	dir := filepath.Join("..", "testdata", "models", "qwen2_moe_bf16") // bf16, as the GPU path's store needs
	shape, err := ExpertShape(dir)
	if err != nil {
		t.Fatal(err)
	}
	spec := exampleSpec(t, "lru_policy")
	p, err := rt.New(spec, shape)
	if err != nil {
		t.Fatal(err)
	}
	other := cudart.OptionsFor(spec, shape)
	other.Shape.Experts++
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Policy: p, Store: other}, "is not the checkpoint's"},
	} {
		_, err := Open(dir, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.o.Store, err, c.want)
		}
	}
	m := openTiny(t, "qwen2_moe_bf16")
	if err := m.WriteTrace(&bytes.Buffer{}); err == nil {
		t.Error("WriteTrace without a policy: no error")
	}
	m = openPolicy(t, dir, spec, shape, false)
	if err := m.WriteTrace(&bytes.Buffer{}); err == nil {
		t.Error("WriteTrace without RecordRouting: no error")
	}
}

// TestCalibrationFigures works out a calibration by hand, with the
// figures of a run on the H200 rounded: 4 s for 250 tokens of 24 MoE
// layers, 3 s of them stalled, 240 ms of that the host's.
func TestCalibrationFigures(t *testing.T) {
	shape := rt.Shape{Layers: 24, Experts: 60, TopK: 4, ExpertBytes: 17301504}
	p := &PolicyResult{Shape: shape, Tokens: 250, Plans: PlanCounts{Dispatches: 250 * 24},
		Stall: 3 * time.Second, Host: 240 * time.Millisecond, Hardware: rt.Hardware{PCIeGBps: 54.6, CPUExpertMS: 0.29}}
	p.Store.Demand.Bytes = 138e9 // over the 2.76 s not the host's: 50 GB/s
	r := &Result{Prefill: 2200 * time.Millisecond, Decode: 1800 * time.Millisecond, Policy: p}
	want := &replay.Calibration{
		GPUTokenMS:  4,    // (4000 - 3000) ms / 250 tokens
		HostLayerMS: 0.04, // 240 ms / 6000 dispatches
		CopyGBps:    50,   // 138e9 bytes / 2.76e9 ns
		ExpertBytes: 17301504, MoELayers: 24, Tokens: 250,
		PCIeGBps: 54.6, CPUExpertMS: 0.29, // what the policy was calibrated with
	}
	got := r.Calibration()
	if got == nil {
		t.Fatal("Calibration = nil")
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(math.Abs(a), math.Abs(b)) })
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("Calibration (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// No copy waited for beyond the host's share: no rate.
	p.Host = p.Stall
	if got := r.Calibration(); got == nil || got.CopyGBps != 0 {
		t.Errorf("Calibration with nothing exposed = %+v, want no copy_gbps", got)
	}
	// Nothing measured, or nothing that adds up: none.
	for name, r := range map[string]*Result{
		"no policy":            {Prefill: time.Second},
		"no stall":             {Prefill: time.Second, Policy: &PolicyResult{Tokens: 1, Plans: PlanCounts{Dispatches: 1}}},
		"no token":             {Prefill: time.Second, Policy: &PolicyResult{Stall: time.Millisecond}},
		"stall beyond the run": {Prefill: time.Millisecond, Policy: &PolicyResult{Tokens: 1, Plans: PlanCounts{Dispatches: 1}, Stall: time.Second}},
	} {
		if c := r.Calibration(); c != nil {
			t.Errorf("%s: Calibration = %+v, want nil", name, c)
		}
	}
}

// TestCalibrationOfRun runs a policy: on the CPU, whose experts are never
// waited for, the run has no calibration; on the GPU (-engine.device
// cuda) it has one, for the tokens the run stepped.
func TestCalibrationOfRun(t *testing.T) {
	dir, shape, spec := lruOnBF16(t)
	m := openPolicy(t, dir, spec, shape, false)
	prompt := []int{3, 1, 4, 1, 5}
	const n = 6
	r, err := m.Generate(prompt, n, Sampling{})
	if err != nil {
		t.Fatal(err)
	}
	// The prompt's tokens, then each generated one but the last.
	if want := int64(len(prompt) + n - 1); r.Policy.Tokens != want {
		t.Errorf("the policy saw %d tokens, want %d", r.Policy.Tokens, want)
	}
	c := r.Calibration()
	if *testDevice != "cuda" {
		if c != nil {
			t.Errorf("Calibration on the CPU = %+v, want nil", c)
		}
		return
	}
	if c == nil {
		t.Fatalf("Calibration on the GPU = nil (stall %v)", r.Policy.Stall)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if err := c.Check(shape); err != nil {
		t.Error(err)
	}
	if c.Tokens != r.Policy.Tokens {
		t.Errorf("calibrated over %d tokens, the run stepped %d", c.Tokens, r.Policy.Tokens)
	}
}

// lruOnBF16 returns the tiny bf16 Qwen2-MoE checkpoint, its experts'
// shape and the example LRU policy sized for it.
func lruOnBF16(t *testing.T) (string, rt.Shape, *rt.Spec) {
	t.Helper()
	dir := modelDirs(t, []string{"qwen2_moe_bf16"})[0]
	shape, err := ExpertShape(dir)
	if err != nil {
		t.Fatal(err)
	}
	spec := exampleSpec(t, "lru_policy")
	shrink(t, spec, shape)
	return dir, shape, spec
}

// TestHardwareGiven checks that Options.Hardware calibrates a hybrid
// policy on either device: with a CPU expert far cheaper than a copy
// every miss runs on the CPU, with one far dearer none does, and the run
// reports the figures it decided with.
func TestHardwareGiven(t *testing.T) {
	dir, shape, spec := lruOnBF16(t)
	spec.Schedule.Mode = rt.Hybrid
	for _, cpuMS := range []float64{1e-9, 1e9} {
		hw := rt.Hardware{PCIeGBps: 50, CPUExpertMS: cpuMS}
		p, err := rt.New(spec, shape)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Open(dir, Options{MaxContext: 64, Device: *testDevice, Policy: p, Store: cudart.OptionsFor(spec, shape), Hardware: hw})
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.Generate([]int{3, 1, 4, 1, 5}, 6, Sampling{})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		pr := r.Policy
		if pr.Hardware != hw {
			t.Errorf("cpu_expert_ms %g: the run reports %+v, want the figures given", cpuMS, pr.Hardware)
		}
		wantCPU := int64(0)
		if cpuMS < 1 {
			wantCPU = pr.Plans.Misses
		}
		if pr.Plans.Misses == 0 || pr.Plans.CPU != wantCPU {
			t.Errorf("cpu_expert_ms %g: %d of %d misses on the CPU, want %d", cpuMS, pr.Plans.CPU, pr.Plans.Misses, wantCPU)
		}
	}
}
