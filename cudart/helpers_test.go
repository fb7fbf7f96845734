package cudart

// Test support shared by the host tests and the cuda-tagged GPU tests:
// expert patterns, routing (random and the shared real trace), an
// independent model of the contract, and the slot checks.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
	"github.com/moepolicy/moec/rt/trace"
)

var tracePath = flag.String("trace", "../testdata/traces/qwen15moe-gsm8k-5layer.jsonl", "the shared real routing trace")

// fillExpert writes expert k's pattern into dst: 64-bit words of a hash of
// (layer, expert, word), so that any two experts, and any two places in
// one expert, differ.
func fillExpert(dst []byte, k rt.Key) {
	seed := uint64(uint32(k.Layer))<<32 | uint64(uint32(k.Expert))
	var w [8]byte
	for j := 0; j < len(dst); j += 8 {
		binary.LittleEndian.PutUint64(w[:], mix(seed*0x9e3779b97f4a7c15+uint64(j)))
		copy(dst[j:], w[:])
	}
}

// mix is splitmix64's finalizer.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fillAll writes every expert's pattern through host.
func fillAll(s rt.Shape, host func(rt.Key) []byte) {
	for l := range s.Layers {
		for e := range s.Experts {
			k := rt.Key{Layer: int32(l), Expert: int32(e)}
			fillExpert(host(k), k)
		}
	}
}

// call is one dispatch of routing.
type call struct {
	layer   int
	experts []int32
	scores  []float32
}

// randomCalls returns n dispatches over the layers in order, each
// selecting topK distinct experts with a skew (a few experts per layer
// are popular), and random router weights.
func randomCalls(seed uint64, n int, s rt.Shape) []call {
	r := rand.New(rand.NewPCG(seed, 11))
	calls := make([]call, n)
	for i := range calls {
		c := call{layer: i % s.Layers}
		for len(c.experts) < s.TopK {
			var e int32
			if r.IntN(3) > 0 {
				e = int32(math.Min(float64(s.Experts-1), math.Abs(r.NormFloat64())*float64(s.Experts)/6))
			} else {
				e = int32(r.IntN(s.Experts))
			}
			dup := false
			for _, x := range c.experts {
				dup = dup || x == e
			}
			if !dup {
				c.experts = append(c.experts, e)
				c.scores = append(c.scores, r.Float32())
			}
		}
		calls[i] = c
	}
	return calls
}

// randomPolicy returns the seed-th random policy, on one of shapes, with n
// dispatches of routing for it; for one seed in four an expert is
// selected twice in some dispatches.
func randomPolicy(t *testing.T, seed int, shapes []rt.Shape, n int) (*rt.Spec, rt.Shape, rt.Policy, []call) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	shape := shapes[seed%len(shapes)]
	spec := rttest.RandomSpec(r, shape)
	pol, err := rt.New(spec, shape)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	calls := randomCalls(uint64(seed), n, shape)
	if seed%4 == 0 && shape.TopK > 1 {
		for i := 0; i < len(calls); i += 7 {
			calls[i].experts[1] = calls[i].experts[0]
		}
	}
	return spec, shape, pol, calls
}

var (
	traceOnce  sync.Once
	traceShape rt.Shape
	traceRows  []call
	traceErr   error
)

// realTrace returns the shared real trace (Qwen1.5-MoE routing, 5 layers)
// and its shape, or skips the test when the file is not there.
func realTrace(t testing.TB) (rt.Shape, []call) {
	t.Helper()
	traceOnce.Do(func() {
		f, err := os.Open(*tracePath)
		if err != nil {
			traceErr = err
			return
		}
		defer f.Close()
		rd, err := trace.NewReader(f, *tracePath)
		if err != nil {
			traceErr = err
			return
		}
		traceShape = rd.Header().Shape()
		for {
			row, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				traceErr = err
				return
			}
			traceRows = append(traceRows, call{
				layer:   row.Layer,
				experts: append([]int32(nil), row.Experts...),
				scores:  append([]float32(nil), row.Scores...),
			})
		}
	})
	if errors.Is(traceErr, os.ErrNotExist) {
		t.Skipf("no trace: %v", traceErr)
	}
	if traceErr != nil {
		t.Fatal(traceErr)
	}
	return traceShape, traceRows
}

// model is an independent, plain transcription of the contract (maps, no
// slots): what is resident after each plan.
type model struct {
	resident         map[rt.Key]bool
	demand, prefetch int64 // copies made
}

func newModel(o Options) *model {
	m := &model{resident: map[rt.Key]bool{}}
	for _, k := range o.Pinned {
		m.resident[k] = true
	}
	return m
}

func (m *model) apply(p *rt.Plan) {
	before := map[rt.Key]bool{}
	for k := range m.resident {
		before[k] = true
	}
	net := map[rt.Key]int{}
	for _, k := range p.Load {
		net[k]++
	}
	for _, k := range p.Prefetch {
		net[k]++
	}
	for _, k := range p.Evict {
		net[k]--
	}
	for k, d := range net {
		if d > 0 {
			m.resident[k] = true
		} else if d < 0 {
			delete(m.resident, k)
		}
	}
	// Copies: an expert not resident before that is resident after, or
	// that the layer loads to run it from a slot it does not keep.
	loaded := map[rt.Key]bool{}
	for _, k := range p.Load {
		loaded[k] = true
	}
	for k := range net {
		switch {
		case before[k]:
		case loaded[k]:
			m.demand++
		case m.resident[k]:
			m.prefetch++
		}
	}
}

// keys returns the model's resident experts, sorted.
func (m *model) keys() []rt.Key {
	var ks []rt.Key
	for k := range m.resident {
		ks = append(ks, k)
	}
	sortKeys(ks)
	return ks
}

func sortKeys(ks []rt.Key) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].Layer != ks[j].Layer {
			return ks[i].Layer < ks[j].Layer
		}
		return ks[i].Expert < ks[j].Expert
	})
}

// keptKeys returns the experts the table holds after its deferred frees.
func (t *slots) keptKeys() []rt.Key {
	var ks []rt.Key
	for _, i := range t.keyOf {
		if i < 0 {
			continue
		}
		deferred := false
		for _, d := range t.deferred {
			deferred = deferred || d == i
		}
		if !deferred {
			ks = append(ks, t.key(i))
		}
	}
	sortKeys(ks)
	return ks
}

// checkTable checks the table's own invariants: slotOf and keyOf are
// inverse, the free ring holds exactly the free slots, count is right,
// pinned experts are resident once begun.
func checkTable(t *slots) error {
	n := 0
	for i, s := range t.slotOf {
		if s < 0 {
			continue
		}
		n++
		if t.keyOf[s] != int32(i) {
			return fmt.Errorf("expert %v has slot %d, which holds index %d", t.key(int32(i)), s, t.keyOf[s])
		}
	}
	if n != t.count {
		return fmt.Errorf("%d experts in the table, count says %d", n, t.count)
	}
	free := map[int32]bool{}
	for j := range t.free.n {
		s := t.free.buf[(t.free.head+j)%len(t.free.buf)]
		if free[s] || t.keyOf[s] >= 0 {
			return fmt.Errorf("slot %d is free twice or held", s)
		}
		free[s] = true
	}
	if len(free)+n != int(t.n) {
		return fmt.Errorf("%d free and %d held slots of %d", len(free), n, t.n)
	}
	if t.begun {
		for _, i := range t.pins {
			if t.slotOf[i] < 0 {
				return fmt.Errorf("pinned expert %v is not resident", t.key(i))
			}
		}
	}
	return nil
}

// checkSlots checks that every held slot's bytes (all the slots, read
// back) are exactly its expert's arena bytes.
func checkSlots(t *slots, eb int64, slotBytes []byte, host func(rt.Key) []byte) error {
	for s, i := range t.keyOf {
		if i < 0 {
			continue
		}
		got := slotBytes[int64(s)*eb : int64(s+1)*eb]
		if want := host(t.key(i)); !bytes.Equal(got, want) {
			j := 0
			for j < len(got) && got[j] == want[j] {
				j++
			}
			return fmt.Errorf("slot %d holds expert %v, but its byte %d is %#x, want %#x", s, t.key(i), j, got[j], want[j])
		}
	}
	return nil
}

// checkArena checks that the arena still holds every expert's pattern.
func checkArena(s rt.Shape, host func(rt.Key) []byte) error {
	want := make([]byte, s.ExpertBytes)
	for l := range s.Layers {
		for e := range s.Experts {
			k := rt.Key{Layer: int32(l), Expert: int32(e)}
			fillExpert(want, k)
			if !bytes.Equal(host(k), want) {
				return fmt.Errorf("arena bytes of expert %v changed", k)
			}
		}
	}
	return nil
}

// sameKeys compares the table with the model.
func sameKeys(got, want []rt.Key) error {
	if len(got) != len(want) {
		return fmt.Errorf("resident %v, model %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("resident %v, model %v", got, want)
		}
	}
	return nil
}
