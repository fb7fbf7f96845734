//go:build cuda

package cudart

// The GPU tests: the host tests' checks on device memory (every held slot
// read back after every Apply), the ordering of copies after kernels,
// Open/Close cycles against the driver's memory counters, and the errors.
// Each test that issues CUDA calls locks its goroutine to its thread, as a
// Store's owner must.

import (
	"bytes"
	_ "embed"
	"errors"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/moepolicy/moec/rt"
)

//go:embed testdata/spin_copy.ptx
var spinCopyPTX string

// withContext runs f on a locked thread with the primary context of
// device 0 current (retained, so that stores opened inside reuse it).
func withContext(t testing.TB, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := cu.GetDevice(0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		t.Fatal(err)
	}
	defer dev.ReleasePrimaryCtx()
	if err := cu.SetCurrentContext(ctx); err != nil {
		t.Fatal(err)
	}
	f()
}

// spinKernel loads spin_copy.ptx in the current context.
func spinKernel(t testing.TB) (cu.Module, cu.Function) {
	t.Helper()
	log := make([]byte, 8192)
	mod, err := cu.LoadDataEx(spinCopyPTX, &cu.JITErrorLogBuffer{Buffer: log})
	if err != nil {
		t.Fatalf("loading spin_copy.ptx: %v: %s", err, strings.TrimRight(string(log), "\x00"))
	}
	fn, err := mod.Function("spin_copy")
	if err != nil {
		t.Fatal(err)
	}
	return mod, fn
}

// launchSpin launches spin_copy(cycles, src, dst, n) on grid x block.
func launchSpin(fn cu.Function, grid, block int, stream cu.Stream, cycles uint64, src, dst cu.DevicePtr, n uint64) error {
	s, d := uint64(src), uint64(dst)
	return fn.Launch(grid, 1, 1, block, 1, 1, 0, stream, []unsafe.Pointer{
		unsafe.Pointer(&cycles), unsafe.Pointer(&s), unsafe.Pointer(&d), unsafe.Pointer(&n),
	})
}

func openGPU(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	fillAll(o.Shape, s.Host)
	return s
}

// readSlots waits for the store's copies and reads every slot back.
func readSlots(t testing.TB, s *Store, buf []byte) {
	t.Helper()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&buf[0]), s.base, int64(len(buf))); err != nil {
		t.Fatal(err)
	}
}

// replayGPU is replayHost on the GPU: after every Apply, all the slots
// are read back and every held one must hold exactly its expert's bytes;
// the resident set must equal the model's; Ptr must give each GPU
// expert's slot. Used is called on a compute stream half the time.
func replayGPU(t *testing.T, name string, pol rt.Policy, o Options, calls []call, seed uint64) {
	t.Helper()
	s := openGPU(t, o)
	defer s.Close()
	compute, err := cu.MakeStream(cu.NonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	defer compute.Destroy()
	m := newModel(o)
	r := rand.New(rand.NewPCG(seed, 3))
	buf := make([]byte, int64(s.t.n)*s.eb)
	var plan rt.Plan
	for step, c := range calls {
		pol.Dispatch(c.layer, c.experts, c.scores, &plan)
		if err := s.Apply(&plan); err != nil {
			t.Fatalf("%s: step %d: %v", name, step, err)
		}
		m.apply(&plan)
		for j, e := range c.experts {
			k := rt.Key{Layer: int32(c.layer), Expert: e}
			if plan.Device[j] != rt.GPU {
				continue
			}
			ptr, ev, ok := s.Ptr(k)
			sl, _ := s.Slot(k)
			if !ok || ptr != s.base+cu.DevicePtr(int64(sl)*s.eb) {
				t.Fatalf("%s: step %d: Ptr(%v) = %v, %v", name, step, k, ptr, ok)
			}
			if err := compute.Wait(ev, 0); err != nil {
				t.Fatal(err)
			}
		}
		if r.IntN(2) == 0 {
			if err := s.Used(compute); err != nil {
				t.Fatal(err)
			}
		}
		readSlots(t, s, buf)
		if err := checkTable(s.t); err != nil {
			t.Fatalf("%s: step %d: %v", name, step, err)
		}
		if err := checkSlots(s.t, s.eb, buf, s.Host); err != nil {
			t.Fatalf("%s: step %d: %v", name, step, err)
		}
		if err := sameKeys(s.t.keptKeys(), m.keys()); err != nil {
			t.Fatalf("%s: step %d: %v", name, step, err)
		}
	}
	n := s.Counters()
	if n.Demand.Copies != m.demand || n.Prefetch.Copies != m.prefetch || n.Plans != int64(len(calls)) {
		t.Errorf("%s: counters %+v, the model made %d demand and %d prefetch copies", name, n, m.demand, m.prefetch)
	}
	if err := checkArena(o.Shape, s.Host); err != nil {
		t.Error(err)
	}
}

// TestGPURandomPolicies replays random policies on the GPU.
func TestGPURandomPolicies(t *testing.T) {
	shapes := []rt.Shape{
		{Layers: 1, Experts: 8, TopK: 2, ExpertBytes: 4104},
		{Layers: 4, Experts: 16, TopK: 4, ExpertBytes: 4096},
		{Layers: 3, Experts: 64, TopK: 6, ExpertBytes: 1 << 14},
	}
	withContext(t, func() {
		for seed := range 30 {
			spec, shape, pol, calls := randomPolicy(t, seed, shapes, 400)
			replayGPU(t, spec.Name, pol, OptionsFor(spec, shape), calls, uint64(seed))
		}
	})
}

// TestGPUTraceReplay replays the whole shared real trace on the GPU under
// two policies.
func TestGPUTraceReplay(t *testing.T) {
	shape, calls := realTrace(t)
	shape.ExpertBytes = 4096
	lru := rt.NewSpec("lru40", 40)
	lfu := rt.NewSpec("lfu_affinity_pinned", 60)
	lfu.Cache.Eviction, lfu.Cache.Pin = rt.LFU, []int{0}
	lfu.Prefetch.Strategy, lfu.Prefetch.Budget = rt.Affinity, 4
	withContext(t, func() {
		for i, spec := range []*rt.Spec{lru, lfu} {
			pol, err := rt.New(spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			replayGPU(t, spec.Name, pol, OptionsFor(spec, shape), calls, uint64(i))
		}
	})
}

// TestGPUSlotReuseWaitsForKernel proves that a slot is not overwritten
// while a kernel reading it runs: a kernel reads expert A's slot after
// spinning for about 50 ms; the next plan evicts A and loads B into that
// same slot at once. The kernel must still have read A's bytes.
func TestGPUSlotReuseWaitsForKernel(t *testing.T) {
	shape := rt.Shape{Layers: 1, Experts: 4, TopK: 1, ExpertBytes: 1 << 16}
	withContext(t, func() {
		mod, fn := spinKernel(t)
		defer mod.Unload()
		compute, err := cu.MakeStream(cu.NonBlocking)
		if err != nil {
			t.Fatal(err)
		}
		defer compute.Destroy()
		out, err := cu.MemAlloc(shape.ExpertBytes)
		if err != nil {
			t.Fatal(err)
		}
		defer cu.MemFree(out)
		clock, err := mustDevice(t).Attribute(cu.ClockRate) // kHz
		if err != nil {
			t.Fatal(err)
		}
		for _, used := range []bool{true, false} {
			// Capacity 1 + top-1: two slots. A takes one, the other is
			// free; the next plan evicts A (not run by its layer, so freed
			// first) and loads B, then C: C gets A's slot.
			s := openGPU(t, Options{Shape: shape, Capacity: 1})
			a, b, c := rt.Key{Expert: 0}, rt.Key{Expert: 1}, rt.Key{Expert: 2}
			if err := s.Apply(&rt.Plan{Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{a}, Experts: []int32{0}}); err != nil {
				t.Fatal(err)
			}
			ptr, ev, _ := s.Ptr(a)
			slotA, _ := s.Slot(a)
			must(t, compute.Wait(ev, 0))
			if err := launchSpin(fn, 1, 256, compute, uint64(clock)*50, ptr, out, uint64(shape.ExpertBytes/8)); err != nil {
				t.Fatal(err)
			}
			if used {
				if err := s.Used(compute); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Apply(&rt.Plan{Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{b}, Evict: []rt.Key{a, b}, Experts: []int32{1}}); err != nil {
				t.Fatal(err)
			}
			must(t, s.Used(compute))
			if err := s.Apply(&rt.Plan{Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{c}, Experts: []int32{2}}); err != nil {
				t.Fatal(err)
			}
			if sl, _ := s.Slot(c); sl != slotA {
				t.Fatalf("C went to slot %d, A was in %d", sl, slotA)
			}
			if err := cu.Synchronize(); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, shape.ExpertBytes)
			if err := cu.MemcpyDtoH(unsafe.Pointer(&got[0]), out, shape.ExpertBytes); err != nil {
				t.Fatal(err)
			}
			sawA := string(got) == string(s.Host(a))
			switch {
			case used && !sawA:
				t.Error("with Used, the kernel did not read A's bytes: a copy overwrote the slot under it")
			case !used && sawA:
				// Without Used nothing orders the copy after the kernel;
				// A's bytes mean the copy happened to wait (it should
				// not have): the test cannot show the ordering.
				t.Log("without Used the kernel still read A's bytes: the race did not show")
			case !used:
				t.Log("without Used, the copy overwrote the slot under the kernel, as expected")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// must fails the test on a CUDA error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustDevice(t testing.TB) cu.Device {
	d, err := cu.GetDevice(0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// vmRSS returns the process's resident memory in bytes.
func vmRSS(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestGPUOpenClose opens, uses and closes a store 100 times and checks
// that device memory (cuMemGetInfo), the package's pinned memory and the
// process's resident memory end where they started.
func TestGPUOpenClose(t *testing.T) {
	shape := rt.Shape{Layers: 4, Experts: 16, TopK: 4, ExpertBytes: 1 << 20} // 64 MiB arena, 20 MiB of slots
	spec := rt.NewSpec("lru16", 16)
	spec.Cache.Pin = []int{5}
	o := OptionsFor(spec, shape)
	calls := randomCalls(9, 64, shape)
	cycle := func() {
		s := openGPU(t, o)
		pol, _ := rt.New(spec, shape)
		var plan rt.Plan
		for _, c := range calls {
			pol.Dispatch(c.layer, c.experts, c.scores, &plan)
			if err := s.Apply(&plan); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	withContext(t, func() {
		cycle() // the driver's first-use allocations
		free0, _, err := cu.MemInfo()
		if err != nil {
			t.Fatal(err)
		}
		rss0 := vmRSS(t)
		for range 100 {
			cycle()
		}
		free1, _, err := cu.MemInfo()
		if err != nil {
			t.Fatal(err)
		}
		rss1 := vmRSS(t)
		t.Logf("device free %d -> %d bytes; pinned %d bytes; resident %d -> %d MiB", free0, free1, pinnedLive.Load(), rss0>>20, rss1>>20)
		if d := free0 - free1; d > 2<<20 || d < -(2<<20) {
			t.Errorf("100 cycles moved free device memory by %d bytes", d)
		}
		if n := pinnedLive.Load(); n != 0 {
			t.Errorf("%d bytes of pinned memory left", n)
		}
		if d := rss1 - rss0; d > 128<<20 {
			t.Errorf("100 cycles grew resident memory by %d MiB (an arena is 64 MiB)", d>>20)
		}
	})
	// Open and Close from a goroutine that holds no context.
	for range 3 {
		cycle()
	}
}

// TestGPUErrors checks the clear errors: a device that does not exist, a
// store larger than the device's free memory, a plan naming an unknown
// expert (the store stays usable), and a closed store.
func TestGPUErrors(t *testing.T) {
	withContext(t, func() {
		shape := rt.Shape{Layers: 2, Experts: 8, TopK: 2, ExpertBytes: 4096}
		_, err := Open(Options{Shape: shape, Capacity: 4, Device: 99})
		if err == nil || !regexp.MustCompile(`cudart: device 99 does not exist: the machine has \d+ CUDA device`).MatchString(err.Error()) {
			t.Errorf("device 99: %v", err)
		} else {
			t.Log(err)
		}
		free, _, err := cu.MemInfo()
		if err != nil {
			t.Fatal(err)
		}
		big := rt.Shape{Layers: 1, Experts: 2, TopK: 1, ExpertBytes: free/2 + 1<<30}
		_, err = Open(Options{Shape: big, Capacity: 2})
		if err == nil || !regexp.MustCompile(`cudart: device 0 has .* free of .*, the store needs .* \(3 slots of .*\)`).MatchString(err.Error()) {
			t.Errorf("store larger than the device: %v", err)
		} else {
			t.Log(err)
		}
		if n := pinnedLive.Load(); n != 0 {
			t.Errorf("failed Opens left %d bytes pinned", n)
		}
		s := openGPU(t, Options{Shape: shape, Capacity: 4})
		defer s.Close()
		err = s.Apply(&rt.Plan{Layer: 1, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{{Layer: 1, Expert: 8}}, Experts: []int32{8}})
		if err == nil || !strings.Contains(err.Error(), "selected expert 8 is outside the shape's experts 0 to 7") {
			t.Errorf("unknown expert: %v", err)
		} else {
			t.Log(err)
		}
		err = s.Apply(&rt.Plan{Layer: 0, Prefetch: []rt.Key{{Layer: 7, Expert: 1}}})
		if err == nil || !strings.Contains(err.Error(), "Prefetch names expert (7, 1), outside the shape (2 layers, 8 experts)") {
			t.Errorf("unknown layer: %v", err)
		}
		if err := s.Apply(&rt.Plan{Layer: 1, Hit: []bool{false}, Device: []rt.Device{rt.GPU}, Load: []rt.Key{{Layer: 1, Expert: 7}}, Experts: []int32{7}}); err != nil {
			t.Errorf("after a rejected plan: %v", err)
		}
		buf := make([]byte, int64(s.t.n)*s.eb)
		readSlots(t, s, buf)
		if err := checkSlots(s.t, s.eb, buf, s.Host); err != nil {
			t.Error(err)
		}
		s.Close()
		if err := s.Apply(&rt.Plan{}); !errors.Is(err, ErrClosed) {
			t.Errorf("Apply after Close: %v", err)
		}
	})
}

// TestGPUApplyAllocs checks that Dispatch, Apply and Used allocate nothing.
func TestGPUApplyAllocs(t *testing.T) {
	shape := rt.Shape{Layers: 4, Experts: 32, TopK: 4, ExpertBytes: 4096}
	spec := rt.NewSpec("lru_history", 32)
	spec.Prefetch.Strategy, spec.Prefetch.Budget = rt.History, 2
	withContext(t, func() {
		pol, _ := rt.New(spec, shape)
		s := openGPU(t, OptionsFor(spec, shape))
		defer s.Close()
		compute, _ := cu.MakeStream(cu.NonBlocking)
		defer compute.Destroy()
		calls := randomCalls(1, 4096, shape)
		var plan rt.Plan
		i := 0
		step := func() {
			c := &calls[i%len(calls)]
			i++
			pol.Dispatch(c.layer, c.experts, c.scores, &plan)
			if err := s.Apply(&plan); err != nil {
				t.Fatal(err)
			}
			if err := s.Used(compute); err != nil {
				t.Fatal(err)
			}
		}
		for range 1000 {
			step()
		}
		if allocs := testing.AllocsPerRun(2000, step); allocs != 0 {
			t.Errorf("%v allocations per Dispatch, Apply and Used", allocs)
		}
	})
}

// TestGPUMeasureCopy checks MeasureCopy: a rate that a PCIe link gives
// (between 1 and 200 GB/s for 17 MB experts), the copied bytes in the last
// slot, nothing counted, and a refusal once a plan ran.
func TestGPUMeasureCopy(t *testing.T) {
	shape := rt.Shape{Layers: 2, Experts: 8, TopK: 2, ExpertBytes: 17301504}
	spec := rt.NewSpec("lru", 4)
	withContext(t, func() {
		pol, _ := rt.New(spec, shape)
		o := OptionsFor(spec, shape)
		s := openGPU(t, o)
		defer s.Close()
		if _, err := s.MeasureCopy(0); err == nil {
			t.Error("MeasureCopy(0): no error")
		}
		gbps, err := s.MeasureCopy(4)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pinned copies of %d bytes: %.1f GB/s", shape.ExpertBytes, gbps)
		if gbps < 1 || gbps > 200 {
			t.Errorf("MeasureCopy: %.1f GB/s, not a PCIe link's rate", gbps)
		}
		got := make([]byte, shape.ExpertBytes)
		last := s.base + cu.DevicePtr(int64(o.Slots()-1)*shape.ExpertBytes)
		if err := cu.MemcpyDtoH(unsafe.Pointer(&got[0]), last, shape.ExpertBytes); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, s.Host(rt.Key{})) {
			t.Error("the last slot does not hold the arena's first expert")
		}
		if c := s.Counters(); c.Demand.Copies != 0 || c.Plans != 0 {
			t.Errorf("MeasureCopy counted %+v", c)
		}
		var plan rt.Plan
		pol.Dispatch(0, []int32{1, 2}, nil, &plan)
		if err := s.Apply(&plan); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MeasureCopy(1); err == nil {
			t.Error("MeasureCopy after Apply: no error")
		}
	})
}
