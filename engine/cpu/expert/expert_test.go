package expert

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/moepolicy/moec/engine/cpu"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/model/modeltest"
)

// randomWeights returns n random elements of dt as little-endian bytes:
// magnitudes from 2^-9 to 1, either sign, and for F16 one in 64 a
// subnormal or zero, so that every conversion's cases are met.
func randomWeights(rng *rand.Rand, dt model.DType, n int) []byte {
	exp := func(bias uint32) uint32 { return bias - 9 + rng.Uint32N(9) }
	switch dt {
	case "F32":
		b := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], rng.Uint32()&0x8000_0000|exp(127)<<23|rng.Uint32()&0x7f_ffff)
		}
		return b
	case "BF16":
		b := make([]byte, 2*n)
		for i := range n {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(rng.Uint32()&0x8000|exp(127)<<7|rng.Uint32()&0x7f))
		}
		return b
	}
	b := make([]byte, 2*n)
	for i := range n {
		e := exp(15)
		if rng.IntN(64) == 0 {
			e = 0
		}
		binary.LittleEndian.PutUint16(b[2*i:], uint16(rng.Uint32()&0x8000|e<<10|rng.Uint32()&0x3ff))
	}
	return b
}

func randomVector(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// packed writes an expert's three projections into a checkpoint as
// Qwen2-MoE names them, packs it with model.Experts.Pack, checks that
// Pack lays out gate, up and down as Run reads them, and returns the
// bytes with the experts, whose Unpack the reference widens with.
func packed(t testing.TB, rng *rand.Rand, dt model.DType, hidden, inter int) ([]byte, *model.Experts) {
	t.Helper()
	name := func(p string) string { return "model.layers.0.mlp.experts.0." + p + "_proj.weight" }
	g, u, d := randomWeights(rng, dt, inter*hidden), randomWeights(rng, dt, inter*hidden), randomWeights(rng, dt, hidden*inter)
	ck := modeltest.Open(t, []modeltest.Tensor{
		{Name: name("gate"), DType: string(dt), Shape: []int64{int64(inter), int64(hidden)}, Data: g},
		{Name: name("up"), DType: string(dt), Shape: []int64{int64(inter), int64(hidden)}, Data: u},
		{Name: name("down"), DType: string(dt), Shape: []int64{int64(hidden), int64(inter)}, Data: d},
	})
	x, err := ck.Experts(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, x.ExpertBytes)
	if err := x.Pack(0, 0, b); err != nil {
		t.Fatal(err)
	}
	if want := string(g) + string(u) + string(d); string(b) != want {
		t.Fatalf("model.Experts.Pack does not lay out gate, up, down contiguously")
	}
	return b, x
}

// reference returns engine/cpu's result (cpu.MLP.Apply on the widened
// weights, summed in float64) and, by output, the bound Run's float32
// sums must stay within: to first order, a sum of n terms in sixteen
// lanes then a tree of four levels errs by at most (n/16 + 5)·2^-24 times
// the sum of its terms' magnitudes, and an error in the activation h of
// gate and up reaches the output through down (silu' is at most 1.1). The
// bound takes eps = (max(hidden, inter)/16 + 8)·2^-24 for every sum, the
// slack covering the roundings of silu and of its product with up.
func reference(t testing.TB, x *model.Experts, b []byte, in []float32) (out, tol []float32) {
	t.Helper()
	inter, hidden := int(x.Gate[0]), int(x.Gate[1])
	m := cpu.MLP{Inter: inter, Gate: make([]float32, inter*hidden), Up: make([]float32, inter*hidden), Down: make([]float32, hidden*inter)}
	if err := x.Unpack(b, m.Gate, m.Up, m.Down); err != nil {
		t.Fatal(err)
	}
	out = make([]float32, hidden)
	m.Apply(out, in, make([]float32, inter), make([]float32, inter))

	eps := float64(max(hidden, inter)/16+8) * 0x1p-24
	abs := func(w []float32, v []float32) (s, mag float64) {
		for i := range v {
			p := float64(w[i]) * float64(v[i])
			s, mag = s+p, mag+math.Abs(p)
		}
		return s, mag
	}
	h, dh := make([]float32, inter), make([]float64, inter) // the activation and a bound on its error
	for r := range inter {
		g, gm := abs(m.Gate[r*hidden:(r+1)*hidden], in)
		u, um := abs(m.Up[r*hidden:(r+1)*hidden], in)
		s := float64(cpu.SiLU(float32(g)))
		h[r] = float32(s * u)
		dh[r] = eps * (1.1*gm*math.Abs(u) + math.Abs(s)*um)
	}
	tol = make([]float32, hidden)
	for r := range hidden {
		w := m.Down[r*inter : (r+1)*inter]
		_, mag := abs(w, h)
		var prop float64
		for i, d := range dh {
			prop += math.Abs(float64(w[i])) * d
		}
		tol[r] = float32(eps*mag + prop)
	}
	return out, tol
}

// sizes are experts' (hidden, inter): Qwen1.5-MoE's, and odd ones that
// leave partial row blocks and partial lanes in every projection.
var sizes = []struct{ hidden, inter int }{
	{2048, 1408}, // Qwen1.5-MoE-A2.7B
	{1, 1}, {16, 4}, {17, 5}, {37, 19}, {100, 33}, {130, 258},
}

// TestPaths checks, for each dtype and size, that every path this CPU
// runs, forced through the Workspace's knob, and every worker count gives
// Go's single-worker result bit for bit, and that this result is within
// reference's bound of engine/cpu's.
func TestPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	probe := NewWorkspace(1)
	t.Logf("paths on this CPU: %v", probe.paths)
	for _, dt := range []model.DType{"BF16", "F16", "F32"} {
		for _, sz := range sizes {
			if testing.Short() && sz.hidden > 1000 {
				continue
			}
			t.Run(fmt.Sprintf("%s/%dx%d", dt, sz.hidden, sz.inter), func(t *testing.T) {
				b, x := packed(t, rng, dt, sz.hidden, sz.inter)
				in := randomVector(rng, sz.hidden)
				want, tol := reference(t, x, b, in)

				base := NewWorkspace(1)
				base.path = pathGo
				got := make([]float32, sz.hidden)
				if err := Run(got, in, b, dt, sz.hidden, sz.inter, base); err != nil {
					t.Fatal(err)
				}
				worst := 0.0
				for r := range got {
					d := math.Abs(float64(got[r]) - float64(want[r]))
					if !(d <= float64(tol[r])) {
						t.Fatalf("out[%d] = %v, engine/cpu's %v: off by %.3g, the bound is %.3g", r, got[r], want[r], d, tol[r])
					}
					worst = max(worst, d/float64(tol[r]))
				}
				t.Logf("worst error %.3f of the bound", worst)

				for _, p := range probe.paths {
					for _, n := range []int{1, 2, 3, 8} {
						ws := NewWorkspace(n)
						ws.path = p
						out := make([]float32, sz.hidden)
						if err := Run(out, in, b, dt, sz.hidden, sz.inter, ws); err != nil {
							t.Fatal(err)
						}
						ws.Close()
						for r := range out {
							if math.Float32bits(out[r]) != math.Float32bits(got[r]) {
								t.Fatalf("path %s, %d workers: out[%d] = %v, Go's %v", p, n, r, out[r], got[r])
							}
						}
					}
				}
			})
		}
	}
}

// TestPathsOffered checks that the paths offered are Go's first and the
// chosen one last, and that a Workspace has GOMAXPROCS workers by
// default; TestCPathsOffered (cgo amd64 builds) checks the C paths.
func TestPathsOffered(t *testing.T) {
	ws := NewWorkspace(0)
	if ws.paths[0] != pathGo || ws.path != ws.paths[len(ws.paths)-1] || ws.Kernel() != ws.path.String() {
		t.Fatalf("paths %v, chosen %v", ws.paths, ws.path)
	}
	if ws.workers != runtime.GOMAXPROCS(0) {
		t.Errorf("NewWorkspace(0) has %d workers, want GOMAXPROCS %d", ws.workers, runtime.GOMAXPROCS(0))
	}
}

// TestNoAlloc checks that a Run on a warm Workspace allocates nothing.
func TestNoAlloc(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const hidden, inter = 256, 512 // several chunks a phase, so the workers run
	b := randomWeights(rng, "BF16", 3*hidden*inter)
	in, out := randomVector(rng, hidden), make([]float32, hidden)
	ws := NewWorkspace(4)
	defer ws.Close()
	run := func() {
		if err := Run(out, in, b, "BF16", hidden, inter, ws); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("Run allocates %v times per call", n)
	}
}

// TestClose checks that a Run after Close starts the workers again and
// computes the same.
func TestClose(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const hidden, inter = 48, 24
	b := randomWeights(rng, "F16", 3*hidden*inter)
	in := randomVector(rng, hidden)
	ws := NewWorkspace(3)
	first, again := make([]float32, hidden), make([]float32, hidden)
	if err := Run(first, in, b, "F16", hidden, inter, ws); err != nil {
		t.Fatal(err)
	}
	ws.Close()
	ws.Close()
	if err := Run(again, in, b, "F16", hidden, inter, ws); err != nil {
		t.Fatal(err)
	}
	ws.Close()
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("out[%d] = %v after Close, %v before", i, again[i], first[i])
		}
	}
}

// TestErrors checks Run's refusals.
func TestErrors(t *testing.T) {
	ws := NewWorkspace(1)
	b := make([]byte, 3*2*4*3)
	v := make([]float32, 4)
	for _, tc := range []struct {
		name          string
		dst, x        []float32
		b             []byte
		dt            model.DType
		hidden, inter int
		ws            *Workspace
		want          string
	}{
		{"dtype", v, v, b, "I8", 4, 3, ws, `expert: the weights are "I8"; the CPU runs F32, F16 and BF16 experts`},
		{"workspace", v, v, b, "BF16", 4, 3, nil, "expert: no workspace"},
		{"hidden", v, v, b, "BF16", 0, 3, ws, "hidden size 0 and intermediate size 3"},
		{"inter", v, v, b, "BF16", 4, -1, ws, "hidden size 4 and intermediate size -1"},
		{"huge", v, v, b, "BF16", 1 << 20, 1 << 20, ws, "at most 1073741824 elements"},
		{"x", v, v[:3], b, "BF16", 4, 3, ws, "input of 3 and output of 4 elements, want the hidden size 4"},
		{"dst", v[:2], v, b, "BF16", 4, 3, ws, "input of 4 and output of 2 elements"},
		{"bytes", v, v, b[1:], "BF16", 4, 3, ws, "expert: 71 bytes packed, want 72 (gate, up and down of 3 x 4 BF16)"},
		{"f32 bytes", v, v, b, "F32", 4, 3, ws, "72 bytes packed, want 144"},
	} {
		err := Run(tc.dst, tc.x, tc.b, tc.dt, tc.hidden, tc.inter, tc.ws)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
