package replay_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/rttest"
)

// The worked example of TestRunLRU: 2 layers of 4 experts, top-2, a flat
// LRU of 3 slots. Residents are listed least recently used first.
//
//	step 0, layer 0 [0 1]: miss, miss; load (0,0) (0,1)         -> (0,0) (0,1)
//	step 1, layer 1 [0 1]: miss; miss evicts (0,0); load both  -> (0,1) (1,0) (1,1)
//	step 2, layer 0 [1 2]: hit; miss evicts (1,0); load (0,2)  -> (1,1) (0,1) (0,2)
//	step 3, layer 1 [1 3]: hit; miss evicts (0,1); load (1,3)  -> (0,2) (1,1) (1,3)
//
// Hits 2, misses 6 (each layer 1 and 3), 6 loads, 3 evictions, 2 tokens.
var (
	exampleShape = rt.Shape{Layers: 2, Experts: 4, TopK: 2, ExpertBytes: 1000}
	exampleRows  = []replay.Row{
		{Layer: 0, Experts: []int32{0, 1}},
		{Layer: 1, Experts: []int32{0, 1}},
		{Layer: 0, Experts: []int32{1, 2}},
		{Layer: 1, Experts: []int32{1, 3}},
	}
)

func TestRunLRU(t *testing.T) {
	lru, err := rttest.NewLRU(exampleShape, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var decisions bytes.Buffer
	got, err := replay.Run(lru, replay.NewSliceSource(exampleRows), replay.Options{Shape: exampleShape, Slots: 3, Decisions: &decisions})
	if err != nil {
		t.Fatal(err)
	}
	want := &replay.Result{
		Policy: "rttest_lru", Shape: exampleShape, Slots: 3,
		Dispatches: 4, Tokens: 2,
		Count: replay.Count{Hits: 2, Misses: 6},
		Layers: []replay.LayerResult{
			{Dispatches: 2, Count: replay.Count{Hits: 1, Misses: 3}},
			{Dispatches: 2, Count: replay.Count{Hits: 1, Misses: 3}},
		},
		GPU: 8, Loads: 6, Evictions: 3, DemandBytes: 6000, Peak: 3, PeakInUse: 3,
		// Steps 2 and 3 load one expert, steps 0 and 1 two.
		Overlap: []replay.Overlap{{Prefetches: 0, GPU: 2, Loads: 1, Dispatches: 2}, {Prefetches: 0, GPU: 2, Loads: 2, Dispatches: 2}},
		Stats: rt.Stats{
			Name: "rttest_lru", Steps: 4,
			Cache:     rt.CacheStats{Hits: 2, Misses: 6, Evictions: 3, HitRate: 0.25},
			Scheduler: rt.SchedulerStats{GPU: 8, Transfers: 6},
			Transfer:  rt.TransferStats{DemandBytes: 6000},
			Layers:    []rt.LayerStats{{Hits: 1, Misses: 3, HitRate: 0.25}, {Hits: 1, Misses: 3, HitRate: 0.25}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Run (-want +got):\n%s", diff)
	}
	wantDecisions := `{"l":0,"hit":[false,false],"dev":["gpu","gpu"],"load":[[0,0],[0,1]],"prefetch":[],"evict":[]}
{"l":1,"hit":[false,false],"dev":["gpu","gpu"],"load":[[1,0],[1,1]],"prefetch":[],"evict":[[0,0]]}
{"l":0,"hit":[true,false],"dev":["gpu","gpu"],"load":[[0,2]],"prefetch":[],"evict":[[1,0]]}
{"l":1,"hit":[true,false],"dev":["gpu","gpu"],"load":[[1,3]],"prefetch":[],"evict":[[0,1]]}
`
	if diff := cmp.Diff(wantDecisions, decisions.String()); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	if got.HitRate() != 0.25 || got.Layers[1].HitRate() != 0.25 {
		t.Errorf("HitRate %v, layer 1 %v; want 0.25, 0.25", got.HitRate(), got.Layers[1].HitRate())
	}
}

// TestRunLRUOnCPU is the worked example with every miss run on the CPU: the
// same residents, but each miss is a background copy (Plan.Prefetch).
func TestRunLRUOnCPU(t *testing.T) {
	lru, err := rttest.NewLRU(exampleShape, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	lru.CPUOnMiss = true
	got, err := replay.Run(lru, replay.NewSliceSource(exampleRows), replay.Options{Shape: exampleShape, Slots: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got.Hits != 2 || got.Misses != 6 || got.GPU != 2 || got.CPU != 6 || got.Loads != 0 ||
		got.Prefetches != 6 || got.PrefetchBytes != 6000 || got.DemandBytes != 0 || got.Evictions != 3 {
		t.Errorf("Run = %v, want hits 2, misses 6, gpu 2, cpu 6, loads 0, prefetches 6 (6000 bytes), evictions 3", got)
	}
	// Steps 0 and 1 copy two CPU misses each and run nothing on the GPU;
	// steps 2 and 3 copy one and run one hit on the GPU.
	want := []replay.Overlap{{Prefetches: 1, GPU: 1, CPU: 1, Dispatches: 2}, {Prefetches: 2, GPU: 0, CPU: 2, Dispatches: 2}}
	if diff := cmp.Diff(want, got.Overlap); diff != "" {
		t.Errorf("Overlap (-want +got):\n%s", diff)
	}
	if got.Stats.Scheduler.CPU != 6 || got.Stats.Transfer.PrefetchBytes != 6000 {
		t.Errorf("Stats = %+v, want 6 on the CPU and 6000 prefetch bytes", got.Stats)
	}
}

// TestRunReferenceGoldens replays the reference's LRU goldens (reference
// §4.11) on one layer.
func TestRunReferenceGoldens(t *testing.T) {
	one := rt.Shape{Layers: 1, Experts: 8, TopK: 1}
	rows := func(es ...int32) []replay.Row {
		var r []replay.Row
		for _, e := range es {
			r = append(r, replay.Row{Layer: 0, Experts: []int32{e}})
		}
		return r
	}
	for _, tc := range []struct {
		name      string
		pin       []int
		rows      []replay.Row
		hits      []bool
		misses    int64
		evictions int64
	}{
		// G1: capacity 2, LRU: M M H M M M, evictions 3.
		{"G1", nil, rows(1, 2, 1, 3, 2, 1), []bool{false, false, true, false, false, false}, 5, 3},
		// G3: capacity 2, pin 7: M M H M, evictions 2.
		{"G3", []int{7}, rows(1, 2, 7, 1), []bool{false, false, true, false}, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lru, err := rttest.NewLRU(one, 2, tc.pin)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{Policy: lru}
			r, err := replay.Run(rec, replay.NewSliceSource(tc.rows), replay.Options{Shape: one, Slots: 2, Pinned: replay.PinnedKeys(1, tc.pin)})
			if err != nil {
				t.Fatal(err)
			}
			var hits []bool
			for _, p := range rec.plans {
				hits = append(hits, p.Hit...)
			}
			if diff := cmp.Diff(tc.hits, hits); diff != "" {
				t.Errorf("hits (-want +got):\n%s", diff)
			}
			if r.Misses != tc.misses || r.Evictions != tc.evictions || r.Loads != tc.misses {
				t.Errorf("Run = %v, want misses %d, evictions %d, loads %d", r, tc.misses, tc.evictions, tc.misses)
			}
		})
	}
}

// TestRunCatchesRandomFaults replays policies that break their plans at
// random steps: the replay must stop at the first broken plan, with an
// error naming its step and saying what is wrong.
func TestRunCatchesRandomFaults(t *testing.T) {
	says := map[rttest.FaultKind]*regexp.Regexp{
		rttest.WrongLayer:   regexp.MustCompile(`^the routing is for layer \d+$`),
		rttest.ShortPlan:    regexp.MustCompile(`^\d+ hit flags and \d+ devices for \d+ selected experts$`),
		rttest.FlipHit:      regexp.MustCompile(`^expert \(\d+, \d+\) (hits, but it is neither resident nor in Load|misses, but it is resident and not evicted)$`),
		rttest.EvictMissing: regexp.MustCompile(`^evicts expert \(\d+, \d+\), which is not resident$`),
		rttest.EvictPinned:  regexp.MustCompile(`^evicts pinned expert \(\d+, \d+\)$`),
		rttest.LoadResident: regexp.MustCompile(`^copies expert \(\d+, \d+\), which is already resident$`),
		rttest.DropLoad:     regexp.MustCompile(`^expert \(\d+, \d+\) misses and runs on the GPU, but it is not in Load$`),
		rttest.Overflow:     regexp.MustCompile(`^leaves \d+ experts resident, more than the capacity \d+$`),
	}
	seen := map[rttest.FaultKind]int{}
	for seed := range uint64(400) {
		rng := rand.New(rand.NewPCG(seed, 1))
		shape := rt.Shape{Layers: 1 + rng.IntN(4), Experts: 4 + rng.IntN(12), ExpertBytes: 7}
		shape.TopK = 1 + rng.IntN(3)
		var pin []int
		if rng.IntN(2) == 0 {
			pin = []int{rng.IntN(shape.Experts)}
		}
		slots := len(pin)*shape.Layers + shape.TopK + rng.IntN(8)
		lru, err := rttest.NewLRU(shape, slots, pin)
		if err != nil {
			t.Fatal(err)
		}
		lru.CPUOnMiss = rng.IntN(3) == 0
		bad := rttest.NewRandom(lru, seed, 0.02)
		rows := randomRows(rng, shape, 2000)
		_, err = replay.Run(bad, replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: slots, Pinned: replay.PinnedKeys(shape.Layers, pin)})
		faults := bad.Faults()
		if len(faults) == 0 {
			if err != nil {
				t.Errorf("seed %d: no fault injected, Run = %v", seed, err)
			}
			continue
		}
		f := faults[0]
		layer := rows[f.Step].Layer
		if f.Kind == rttest.WrongLayer {
			layer++
		}
		prefix := fmt.Sprintf("step %d: plan for layer %d: ", f.Step, layer)
		if err == nil {
			t.Errorf("seed %d: %v at step %d, but Run succeeded", seed, f.Kind, f.Step)
			continue
		}
		if msg, ok := strings.CutPrefix(err.Error(), prefix); !ok || !says[f.Kind].MatchString(msg) {
			t.Errorf("seed %d: %v at step %d, but Run = %v", seed, f.Kind, f.Step, err)
		}
		seen[f.Kind]++
	}
	for k := range says {
		if seen[k] == 0 {
			t.Errorf("no seed injected %v", k)
		}
	}
}

// TestRunMatchesPolicyStats checks, on random traces, that what the
// simulator counted from the plans agrees with what the LRU counted
// itself, and that pins and slots are honoured.
func TestRunMatchesPolicyStats(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 2))
		shape := rt.Shape{Layers: 1 + rng.IntN(6), Experts: 4 + rng.IntN(60), TopK: 1 + rng.IntN(4), ExpertBytes: 1 + rng.Int64N(1e6)}
		pin := []int{rng.IntN(shape.Experts)}
		slots := shape.Layers + shape.TopK + rng.IntN(40)
		lru, err := rttest.NewLRU(shape, slots, pin)
		if err != nil {
			t.Fatal(err)
		}
		lru.CPUOnMiss = seed%2 == 1
		r, err := replay.Run(lru, replay.NewSliceSource(randomRows(rng, shape, 3000)), replay.Options{Shape: shape, Slots: slots, Pinned: replay.PinnedKeys(shape.Layers, pin)})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		s := r.Stats
		if r.Hits != s.Cache.Hits || r.Misses != s.Cache.Misses || r.Evictions != s.Cache.Evictions ||
			r.GPU != s.Scheduler.GPU || r.CPU != s.Scheduler.CPU || r.Loads != s.Scheduler.Transfers ||
			r.DemandBytes != s.Transfer.DemandBytes || r.PrefetchBytes != s.Transfer.PrefetchBytes {
			t.Errorf("seed %d: Run = %v, policy stats %+v", seed, r, s)
		}
		for l := range r.Layers {
			if r.Layers[l].Hits != s.Layers[l].Hits || r.Layers[l].Misses != s.Layers[l].Misses {
				t.Errorf("seed %d: layer %d: Run %+v, policy %+v", seed, l, r.Layers[l], s.Layers[l])
			}
		}
		if r.Peak > slots || r.Tokens != 3000/int64(shape.Layers)+min(1, 3000%int64(shape.Layers)) {
			t.Errorf("seed %d: peak %d of %d slots, %d tokens", seed, r.Peak, slots, r.Tokens)
		}
	}
}

// TestFastLRUMatchesReference holds the benchmarks' LRU to rttest.LRU,
// plan by plan.
func TestFastLRUMatchesReference(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 3))
		shape := rt.Shape{Layers: 1 + rng.IntN(6), Experts: 4 + rng.IntN(60), TopK: 1 + rng.IntN(4)}
		pin := replay.PinnedKeys(shape.Layers, []int{0})
		slots := len(pin) + shape.TopK + rng.IntN(40)
		ref, err := rttest.NewLRU(shape, slots, []int{0})
		if err != nil {
			t.Fatal(err)
		}
		rows := randomRows(rng, shape, 2000)
		a, b := &recorder{Policy: ref}, &recorder{Policy: newFastLRU(shape, slots, pin)}
		for _, p := range []*recorder{a, b} {
			if _, err := replay.Run(p, replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: slots, Pinned: pin}); err != nil {
				t.Fatalf("seed %d: %s: %v", seed, p.Name(), err)
			}
		}
		if diff := cmp.Diff(a.plans, b.plans); diff != "" {
			t.Fatalf("seed %d: plans (-rttest +fast):\n%s", seed, diff)
		}
	}
}

func TestRunTwiceSameDecisions(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	shape := rt.Shape{Layers: 5, Experts: 60, TopK: 4}
	rows := randomRows(rng, shape, 5000)
	var out [2]bytes.Buffer
	for i := range out {
		lru, err := rttest.NewLRU(shape, 64, []int{3})
		if err != nil {
			t.Fatal(err)
		}
		lru.CPUOnMiss = true
		if _, err := replay.Run(lru, replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: 64, Pinned: replay.PinnedKeys(5, []int{3}), Decisions: &out[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Error("two replays of the same policy wrote different decisions")
	}
	if n := bytes.Count(out[0].Bytes(), []byte("\n")); n != len(rows) {
		t.Errorf("%d decision lines, want %d", n, len(rows))
	}
}

// decision is a decisions line as encoding/json reads it.
type decision struct {
	L        int        `json:"l"`
	Hit      []bool     `json:"hit"`
	Dev      []string   `json:"dev"`
	Load     [][2]int32 `json:"load"`
	Prefetch [][2]int32 `json:"prefetch"`
	Evict    [][2]int32 `json:"evict"`
}

func decisionOf(p rt.Plan) decision {
	keys := func(ks []rt.Key) [][2]int32 {
		out := [][2]int32{}
		for _, k := range ks {
			out = append(out, [2]int32{k.Layer, k.Expert})
		}
		return out
	}
	d := decision{L: p.Layer, Hit: append([]bool{}, p.Hit...), Dev: []string{}, Load: keys(p.Load), Prefetch: keys(p.Prefetch), Evict: keys(p.Evict)}
	for _, dev := range p.Device {
		d.Dev = append(d.Dev, dev.String())
	}
	return d
}

func TestDecisionsParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	shape := rt.Shape{Layers: 3, Experts: 16, TopK: 3}
	rows := randomRows(rng, shape, 3000)
	lru, err := rttest.NewLRU(shape, 12, nil)
	if err != nil {
		t.Fatal(err)
	}
	lru.CPUOnMiss = true
	rec := &recorder{Policy: lru}
	var out bytes.Buffer
	if _, err := replay.Run(rec, replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: 12, Decisions: &out}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	i := 0
	for ; sc.Scan(); i++ {
		var got decision
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, sc.Bytes())
		}
		if i >= len(rec.plans) {
			t.Fatalf("line %d: more lines than plans", i+1)
		}
		if diff := cmp.Diff(decisionOf(rec.plans[i]), got); diff != "" {
			t.Fatalf("line %d (-plan +line):\n%s", i+1, diff)
		}
	}
	if i != len(rec.plans) {
		t.Errorf("%d lines for %d plans", i, len(rec.plans))
	}
}

func TestAppendDecisionUnknownDevice(t *testing.T) {
	p := &rt.Plan{Layer: 2, Hit: []bool{true}, Device: []rt.Device{9}}
	want := `{"l":2,"hit":[true],"dev":["unknown(9)"],"load":[],"prefetch":[],"evict":[]}` + "\n"
	if got := string(replay.AppendDecision(nil, p)); got != want {
		t.Errorf("AppendDecision = %q, want %q", got, want)
	}
}

// TestRunWritesTheBadPlan: the decisions end with the plan that broke the
// contract, so the file shows what went wrong.
func TestRunWritesTheBadPlan(t *testing.T) {
	shape := rt.Shape{Layers: 1, Experts: 8, TopK: 1}
	lru, err := rttest.NewLRU(shape, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := rttest.NewRandom(lru, 1, 1) // every plan broken
	var out bytes.Buffer
	_, err = replay.Run(bad, replay.NewSliceSource([]replay.Row{{Layer: 0, Experts: []int32{5}}}), replay.Options{Shape: shape, Slots: 2, Decisions: &out})
	if err == nil || !strings.HasPrefix(err.Error(), "step 0: plan for layer ") {
		t.Fatalf("Run = %v, want an error at step 0", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("decisions %q, want the one bad plan", out.String())
	}
}

func TestRunProgress(t *testing.T) {
	var calls []int64
	rows := make([]replay.Row, 10)
	for i := range rows {
		rows[i] = replay.Row{Layer: 0, Experts: []int32{0}}
	}
	shape := rt.Shape{Layers: 1, Experts: 1, TopK: 1}
	_, err := replay.Run(&rttest.AlwaysHit{}, replay.NewSliceSource(rows), replay.Options{
		Shape: shape, Slots: 1, Pinned: []rt.Key{{}},
		Progress:      func(n int64) { calls = append(calls, n) },
		ProgressEvery: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{3, 6, 9, 10}, calls); diff != "" {
		t.Errorf("Progress calls (-want +got):\n%s", diff)
	}
}

type failingSource struct{ n int }

func (f *failingSource) Next() (int, []int32, []float32, error) {
	if f.n == 0 {
		return 0, nil, nil, errors.New("trace.jsonl:3: truncated line")
	}
	f.n--
	return 0, []int32{1}, nil, nil
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRunErrors(t *testing.T) {
	shape := rt.Shape{Layers: 2, Experts: 4, TopK: 1}
	newLRU := func() rt.Policy {
		lru, err := rttest.NewLRU(shape, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		return lru
	}
	for _, tc := range []struct {
		name string
		src  replay.Source
		opts replay.Options
		want string
	}{
		{"source", &failingSource{n: 2}, replay.Options{Shape: shape, Slots: 2},
			"trace.jsonl:3: truncated line"},
		// The LRU would index past its per-layer stats on layer 2: the
		// routing is refused before it sees it.
		{"layer out of range", replay.NewSliceSource([]replay.Row{{Layer: 0, Experts: []int32{0}}, {Layer: 2, Experts: []int32{0}}}), replay.Options{Shape: shape, Slots: 2},
			"step 1: routing layer 2 is out of range [0,2)"},
		{"scores misaligned", replay.NewSliceSource([]replay.Row{{Layer: 1, Experts: []int32{0}, Scores: []float32{1, 2}}}), replay.Options{Shape: shape, Slots: 2},
			"step 0 (layer 1): routing has 1 experts but 2 scores"},
		{"decisions write", &failingSource{n: 1}, replay.Options{Shape: shape, Slots: 2, Decisions: failingWriter{}},
			"trace.jsonl:3: truncated line"},
		{"slots", replay.NewSliceSource(nil), replay.Options{Shape: shape},
			"simulator: capacity 0, need at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := replay.Run(newLRU(), tc.src, tc.opts)
			if err == nil || err.Error() != tc.want || r != nil {
				t.Errorf("Run = %v, %v; want nil, %q", r, err, tc.want)
			}
		})
	}

	// A failed write ends the replay when the decisions are written out.
	rows := make([]replay.Row, 20000)
	for i := range rows {
		rows[i] = replay.Row{Layer: i % 2, Experts: []int32{int32(i % 3)}}
	}
	_, err := replay.Run(newLRU(), replay.NewSliceSource(rows), replay.Options{Shape: shape, Slots: 2, Decisions: failingWriter{}})
	if err == nil || err.Error() != "disk full" {
		t.Errorf("Run with a failing writer = %v, want disk full", err)
	}
}

func TestAccesses(t *testing.T) {
	keys, err := replay.Accesses(replay.NewSliceSource(exampleRows))
	if err != nil {
		t.Fatal(err)
	}
	want := []rt.Key{k(0, 0), k(0, 1), k(1, 0), k(1, 1), k(0, 1), k(0, 2), k(1, 1), k(1, 3)}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("Accesses (-want +got):\n%s", diff)
	}
	if _, err := replay.Accesses(&failingSource{n: 1}); err == nil {
		t.Error("Accesses of a failing source succeeded")
	}
	if _, err := replay.Accesses(replay.NewSliceSource([]replay.Row{{Layer: -1}})); err == nil {
		t.Error("Accesses of layer -1 succeeded")
	}
}

func TestSliceSourceRewind(t *testing.T) {
	s := replay.NewSliceSource(exampleRows[:1])
	for range 2 {
		if l, e, _, err := s.Next(); err != nil || l != 0 || len(e) != 2 {
			t.Fatalf("Next = %d, %v, %v", l, e, err)
		}
		if _, _, _, err := s.Next(); err != io.EOF {
			t.Fatalf("Next at the end = %v, want EOF", err)
		}
		s.Rewind()
	}
}

func TestPinnedKeys(t *testing.T) {
	want := []rt.Key{k(0, 2), k(0, 0), k(1, 2), k(1, 0)}
	if diff := cmp.Diff(want, replay.PinnedKeys(2, []int{2, 0})); diff != "" {
		t.Errorf("PinnedKeys (-want +got):\n%s", diff)
	}
}
