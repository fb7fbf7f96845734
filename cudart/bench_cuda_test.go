//go:build cuda

package cudart

// TestBenchTable measures, in one run on one GPU, everything the
// performance targets compare, and prints one markdown table:
//
//	(1) raw cuMemcpyHtoDAsync of one expert from pinned memory (Qwen1.5-MoE,
//	    OLMoE and Mixtral sizes): one copy at a time, and back to back;
//	(2) Store fetching experts through Apply over a replay of the shared
//	    real trace: pipelined (Apply only; the copies queue up) and
//	    synchronous (Wait after every Apply, the demand path blocking);
//	(3) PyTorch's pageable tensor.to("cuda") (the reference's mechanism)
//	    and pinned .to(non_blocking=True), by testdata/torch_baseline.py;
//	(4) prefetch copies on the Store's prefetch stream overlapped with a
//	    kernel on another stream, against the two run one after the other.
//
// GB/s are 10^9 bytes per second. Timings use CUDA events unless a row
// says "wall". The test asserts nothing about speed (timed tests are
// never asserted); it fails only when something does not run.

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/moepolicy/moec/rt"
)

var (
	tableOut    = flag.String("table", "", "also write TestBenchTable's markdown table to this file")
	python      = flag.String("python", "python3", "the python3 that has torch, for the baseline rows")
	replayBytes = flag.Int64("replay-bytes", 16e9, "bytes the Store replay moves at most per mode")
)

//go:embed testdata/torch_baseline.py
var torchBaseline []byte

// sizes are the experts of the three models: 3 matrices of hidden x
// intermediate in 16-bit floats.
var sizes = []struct {
	name  string
	bytes int64
}{
	{"Qwen1.5-MoE-A2.7B (3x2048x1408 fp16)", 3 * 2048 * 1408 * 2},
	{"OLMoE-1B-7B (3x2048x1024 bf16)", 3 * 2048 * 1024 * 2},
	{"Mixtral-8x7B (3x4096x14336 bf16)", 3 * 4096 * 14336 * 2},
}

type row struct {
	what, size, note string
	ms, gbps         float64
}

func gbps(bytes int64, ms float64) float64 { return float64(bytes) / ms / 1e6 }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func timingEvents(t testing.TB) (cu.Event, cu.Event) {
	a, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func elapsed(t testing.TB, a, b cu.Event) float64 {
	if err := b.Synchronize(); err != nil {
		t.Fatal(err)
	}
	ms, err := a.Elapsed(b)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// fillRandom fills b with random bytes, fast: a random 1 MiB block repeated.
func fillRandom(b []byte) {
	block := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	for o := 0; o < len(b); o += len(block) {
		copy(b[o:], block)
	}
}

// rawCopies is (1): one expert copied from pinned memory, one copy at a
// time (median of event-timed copies) and back to back.
func rawCopies(t *testing.T) (rows []row, streamed map[string]float64) {
	streamed = map[string]float64{}
	_, greatest, err := cu.StreamPriorityRange()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cu.MakeStreamWithPriority(greatest, cu.NonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Destroy()
	a, b := timingEvents(t)
	defer cu.DestroyEvent(&a)
	defer cu.DestroyEvent(&b)
	for _, sz := range sizes {
		n := sz.bytes
		host, err := hostAlloc(2 * n)
		if err != nil {
			t.Fatal(err)
		}
		fillRandom(unsafe.Slice((*byte)(host), 2*n))
		dev, err := cu.MemAlloc(2 * n)
		if err != nil {
			t.Fatal(err)
		}
		cp := func(i int) {
			o := int64(i%2) * n
			if err := cu.MemcpyHtoDAsync(dev+cu.DevicePtr(o), unsafe.Add(host, o), n, st); err != nil {
				t.Fatal(err)
			}
		}
		single, back := 40, 100
		if n > 1e8 {
			single, back = 10, 20
		}
		for i := range 3 {
			cp(i)
		}
		var ms []float64
		for i := range single {
			must(t, a.Record(st))
			cp(i)
			must(t, b.Record(st))
			ms = append(ms, elapsed(t, a, b))
		}
		m := median(ms)
		rows = append(rows, row{"(1) cuMemcpyHtoDAsync, pinned, one copy", sz.name, "median of event-timed copies", m, gbps(n, m)})
		must(t, a.Record(st))
		for i := range back {
			cp(i)
		}
		must(t, b.Record(st))
		total := elapsed(t, a, b)
		streamed[sz.name] = gbps(int64(back)*n, total)
		rows = append(rows, row{"(1) cuMemcpyHtoDAsync, pinned, back to back", sz.name, fmt.Sprintf("%d copies", back), total / float64(back), streamed[sz.name]})
		cu.MemFree(dev)
		hostFree(host, 2*n)
	}
	return rows, streamed
}

// storeReplay is (2): the Store fetching Qwen1.5-MoE experts through
// Apply over the shared real trace, under LRU and under LRU with history
// prefetch.
func storeReplay(t *testing.T, raw float64) []row {
	shape, calls := realTrace(t)
	shape.ExpertBytes = sizes[0].bytes
	var rows []row
	for _, mode := range []string{"pipelined", "synchronous", "prefetch"} {
		spec := rt.NewSpec("lru60", 60)
		if mode == "prefetch" {
			spec.Name = "lru60_history2"
			spec.Prefetch.Strategy, spec.Prefetch.Budget = rt.History, 2
		}
		pol, err := rt.New(spec, shape)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(OptionsFor(spec, shape))
		if err != nil {
			t.Fatal(err)
		}
		fillRandom(unsafe.Slice((*byte)(s.host), s.hostBytes))
		demand, prefetch := s.Streams()
		a, b := timingEvents(t)
		a2, b2 := timingEvents(t)
		var plan rt.Plan
		// Warm the cache so that the measured copies are the steady state.
		i := 0
		for ; i < 500; i++ {
			c := &calls[i]
			pol.Dispatch(c.layer, c.experts, c.scores, &plan)
			if err := s.Apply(&plan); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		c0 := s.Counters()
		start := time.Now()
		must(t, a.Record(demand))
		must(t, a2.Record(prefetch))
		for ; i < len(calls); i++ {
			c := &calls[i]
			pol.Dispatch(c.layer, c.experts, c.scores, &plan)
			if err := s.Apply(&plan); err != nil {
				t.Fatal(err)
			}
			if mode == "synchronous" {
				if err := s.Wait(); err != nil {
					t.Fatal(err)
				}
			}
			if n := s.Counters(); n.Demand.Bytes+n.Prefetch.Bytes-c0.Demand.Bytes-c0.Prefetch.Bytes >= *replayBytes {
				i++
				break
			}
		}
		must(t, b.Record(demand))
		must(t, b2.Record(prefetch))
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		wall := float64(time.Since(start)) / 1e6
		n := s.Counters()
		moved := n.Demand.Bytes + n.Prefetch.Bytes - c0.Demand.Bytes - c0.Prefetch.Bytes
		copies := n.Demand.Copies + n.Prefetch.Copies - c0.Demand.Copies - c0.Prefetch.Copies
		gpu := max(elapsed(t, a, b), elapsed(t, a2, b2))
		note := fmt.Sprintf("%s; %d dispatches, %d copies (%d prefetch), %.1f GB; %.0f%% of (1) back to back",
			spec.Name, i-500, copies, n.Prefetch.Copies-c0.Prefetch.Copies, float64(moved)/1e9, 100*gbps(moved, gpu)/raw)
		what := "(2) Store.Apply, trace replay, " + mode
		switch mode {
		case "synchronous":
			note = fmt.Sprintf("%s; Wait after every Apply: wall %.0f ms, %.1f GB/s, %.0f%% of (1); demand wait %.0f ms",
				note, wall, gbps(moved, wall), 100*gbps(moved, wall)/raw, float64(n.DemandWait-c0.DemandWait)/1e6)
		case "prefetch":
			what = "(2) Store.Apply, trace replay, pipelined, with prefetch"
		}
		rows = append(rows, row{what, sizes[0].name, note, gpu / float64(copies), gbps(moved, gpu)})
		for _, e := range []*cu.Event{&a, &b, &a2, &b2} {
			cu.DestroyEvent(e)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

// torchRows is (3): testdata/torch_baseline.py run by the device's python.
func torchRows(t *testing.T, store float64) []row {
	dir := t.TempDir()
	script := filepath.Join(dir, "torch_baseline.py")
	if err := os.WriteFile(script, torchBaseline, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{script}
	for _, sz := range sizes {
		args = append(args, fmt.Sprintf("%s=%d", sz.name, sz.bytes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, *python, args...)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return []row{{what: "(3) torch baseline", note: fmt.Sprintf("not run: %v: %s", err, lastLine(stderr.String()))}}
	}
	var rows []row
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r struct {
			Name     string  `json:"name"`
			Path     string  `json:"path"`
			Pool     int     `json:"pool"`
			MedianMS float64 `json:"median_ms"`
			GBps     float64 `json:"gbps"`
			Error    string  `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if r.Error != "" {
			return []row{{what: "(3) torch baseline", note: "not run: " + r.Error}}
		}
		what, note := `(3) torch tensor.to("cuda"), pageable, 2 experts alternating`, "wall time, median"
		switch r.Path {
		case "pinned":
			what, note = `(3) torch .to("cuda", non_blocking=True), pinned`, "median of event-timed copies"
		case "pageable_pool":
			what, note = `(3) torch tensor.to("cuda"), pageable, distinct experts`, fmt.Sprintf("wall time, median; a pool of %d experts (>= 1 GiB)", r.Pool)
		}
		if r.Path != "pinned" && r.Name == sizes[0].name && store > 0 {
			note += fmt.Sprintf("; Store pipelined is %.1fx this", store/r.GBps)
		}
		rows = append(rows, row{what, r.Name, note, r.MedianMS, r.GBps})
	}
	return rows
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// overlap is (4): prefetch copies through the Store while a kernel spins
// on every multiprocessor on another stream, against copy-then-kernel.
func overlap(t *testing.T) []row {
	const batch = 16 // experts per prefetch plan: 277 MB, about 5 ms
	shape := rt.Shape{Layers: 1, Experts: 2 * batch, TopK: 1, ExpertBytes: sizes[0].bytes}
	s, err := Open(Options{Shape: shape, Capacity: 2 * batch})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillRandom(unsafe.Slice((*byte)(s.host), s.hostBytes))
	mod, fn := spinKernel(t)
	defer mod.Unload()
	dev := mustDevice(t)
	sms, _ := dev.Attribute(cu.MultiprocessorCount)
	clock, _ := dev.Attribute(cu.ClockRate)
	compute, err := cu.MakeStream(cu.NonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	defer compute.Destroy()
	_, prefetch := s.Streams()
	a, b := timingEvents(t)
	mid, mid2 := timingEvents(t)
	for _, e := range []*cu.Event{&a, &b, &mid, &mid2} {
		defer cu.DestroyEvent(e)
	}
	plans := [2]rt.Plan{}
	for set := range 2 {
		for e := range batch {
			plans[set].Prefetch = append(plans[set].Prefetch, rt.Key{Expert: int32(set*batch + e)})
			plans[1-set].Evict = append(plans[1-set].Evict, rt.Key{Expert: int32(set*batch + e)})
		}
	}
	if err := s.Apply(&rt.Plan{Prefetch: plans[0].Prefetch}); err != nil {
		t.Fatal(err)
	}
	next := 1
	copyBatch := func() {
		if err := s.Apply(&plans[next]); err != nil {
			t.Fatal(err)
		}
		next = 1 - next
	}
	kernel := func(cycles uint64) {
		if err := launchSpin(fn, 4*sms, 128, compute, cycles, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	timeIt := func(f func()) float64 {
		must(t, a.Record(compute))
		must(t, prefetch.Wait(a, 0))
		f()
		must(t, mid.Record(prefetch))
		must(t, compute.Wait(mid, 0))
		must(t, b.Record(compute))
		return elapsed(t, a, b)
	}
	// Copy time, then a kernel as long.
	var tc []float64
	for range 5 {
		tc = append(tc, timeIt(copyBatch))
	}
	copyMS := median(tc)
	cycles := uint64(float64(clock) * copyMS) // kHz x ms
	var tk []float64
	for range 3 {
		tk = append(tk, timeIt(func() { kernel(cycles) }))
	}
	cycles = uint64(float64(cycles) * copyMS / median(tk))
	tk = tk[:0]
	for range 5 {
		tk = append(tk, timeIt(func() { kernel(cycles) }))
	}
	kernelMS := median(tk)
	var ser, ovl []float64
	for range 5 {
		ser = append(ser, timeIt(func() {
			copyBatch()
			must(t, mid2.Record(prefetch))
			must(t, compute.Wait(mid2, 0))
			kernel(cycles)
		}))
		ovl = append(ovl, timeIt(func() {
			kernel(cycles)
			copyBatch()
		}))
	}
	serial, overlapped := median(ser), median(ovl)
	hidden := (serial - overlapped) / min(copyMS, kernelMS)
	moved := batch * shape.ExpertBytes
	return []row{
		{"(4) prefetch copies alone (Store, prefetch stream)", sizes[0].name, fmt.Sprintf("%d experts per plan", batch), copyMS, gbps(moved, copyMS)},
		{"(4) spin kernel alone (compute stream)", "", fmt.Sprintf("%d blocks x 128 threads", 4*sms), kernelMS, 0},
		{"(4) copies then kernel (serial)", sizes[0].name, "", serial, gbps(moved, serial)},
		{"(4) copies and kernel at once (overlapped)", sizes[0].name,
			fmt.Sprintf("overlapped/serial = %.2f (ideal %.2f); %.0f%% of the shorter hidden", overlapped/serial, max(copyMS, kernelMS)/(copyMS+kernelMS), 100*hidden),
			overlapped, gbps(moved, overlapped)},
	}
}

// TestBenchTable prints the table of the four measurements (see the top
// of the file). Skipped with -short.
func TestBenchTable(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmarks skipped with -short")
	}
	var rows []row
	var name string
	var store float64
	withContext(t, func() {
		name, _ = mustDevice(t).Name()
		raw, streamed := rawCopies(t)
		rows = append(rows, raw...)
		if _, err := os.Stat(*tracePath); err == nil {
			rep := storeReplay(t, streamed[sizes[0].name])
			rows = append(rows, rep...)
			store = rep[0].gbps
		} else {
			rows = append(rows, row{what: "(2) Store.Apply, trace replay", note: fmt.Sprintf("not run: %v", err)})
		}
		rows = append(rows, overlap(t)...)
	})
	rows = append(rows, torchRows(t, store)...)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "\n%s, driver API %d, %s\n\n", name, cu.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintln(&buf, "| measurement | expert | time (ms) | GB/s | notes |")
	fmt.Fprintln(&buf, "|---|---|---:|---:|---|")
	for _, r := range rows {
		ms, g := fmt.Sprintf("%.3f", r.ms), fmt.Sprintf("%.1f", r.gbps)
		if r.ms == 0 {
			ms = ""
		}
		if r.gbps == 0 {
			g = ""
		}
		fmt.Fprintf(&buf, "| %s | %s | %s | %s | %s |\n", r.what, r.size, ms, g, r.note)
	}
	fmt.Print(buf.String())
	if *tableOut != "" {
		if err := os.WriteFile(*tableOut, buf.Bytes(), 0o644); err != nil {
			t.Error(err)
		}
	}
}
