// Package expert runs one routed expert for one token straight from its
// packed bytes on all cores: the fast path of the experts a policy sends
// to the CPU.
//
// An expert packed as cudart.Pack and model.Experts.Pack lay it out is its
// gate [inter][hidden], up [inter][hidden] and down [hidden][inter]
// projections, contiguous, in the checkpoint's dtype. Run computes
//
//	out = down · (silu(gate · x) * (up · x))
//
// without widening them first: each worker claims chunks of the rows,
// widens sixteen elements at a time in registers and sums in float32, gate
// and up first, then down once every worker is past the barrier. At batch 1
// the expert's bytes are read once and used once, so Run is bound by the
// host's read bandwidth; the kernels exist to keep it there.
//
// The kernels are C that gcc or clang compiles per target (AVX-512F,
// AVX2) with runtime dispatch on the CPU's features, built with cgo on
// amd64, and a Go loop everywhere else (CGO_ENABLED=0, other
// architectures). All of
// them sum a row in one order (sixteen lanes, lane j taking elements i
// with i % 16 == j, each product rounded to float32 before it is added,
// the lanes summed by halves), so every path and every worker count gives
// the same bits. That order is not engine/cpu's, whose dot products are
// summed in float64 and rounded once: against it Run's result differs by
// the float32 rounding of the sums, a relative error of order
// sqrt(n)·2^-24 of the sum of |terms| (the package's tests bound it).
//
// This package uses cgo only in kernel_cgo.go; engine/cpu, the reference,
// stays pure Go.
package expert

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"

	"github.com/moepolicy/moec/engine/cpu"
	"github.com/moepolicy/moec/model"
)

// A path is a set of kernels: Go's, or one of kernels.c's. Its values are
// kernels.h's MOEC_AVX2 and MOEC_AVX512.
type path int

const (
	pathGo     path = 0
	pathAVX2   path = 1
	pathAVX512 path = 2
)

var pathNames = [...]string{pathGo: "go", pathAVX2: "avx2", pathAVX512: "avx512f"}

func (p path) String() string { return pathNames[p] }

// A dtype is an element type of the packed weights; its values are
// kernels.h's.
type dtype int

const (
	f32  dtype = 0
	bf16 dtype = 1
	f16  dtype = 2
)

// size returns the bytes of one element.
func (d dtype) size() int {
	if d == f32 {
		return 4
	}
	return 2
}

// dtypeOf returns the dtype of a checkpoint's dtype.
func dtypeOf(d model.DType) (dtype, error) {
	switch d {
	case "F32":
		return f32, nil
	case "BF16":
		return bf16, nil
	case "F16":
		return f16, nil
	}
	return 0, fmt.Errorf("expert: the weights are %q; the CPU runs F32, F16 and BF16 experts", d)
}

// maxElems bounds an expert's elements, so that no size computed from
// hidden and inter overflows an int anywhere (on 32-bit machines too):
// 2^30 elements is 2 GiB of bf16, six times Mixtral's expert.
const maxElems = 1 << 30

// A Workspace is Run's scratch memory and worker goroutines, reused from
// call to call so that a call allocates nothing. A Workspace runs one Run
// at a time. Its workers start with the first Run and stop at Close (or
// when the Workspace is garbage collected); a Run after Close starts them
// again.
type Workspace struct {
	workers int
	path    path   // the kernels Run uses: the best the CPU runs; tests force others
	paths   []path // those it runs, Go's first
	t       *team
	g, u    []float32 // by intermediate row: the gate's (then the activation's) and up's
}

// NewWorkspace returns a Workspace whose Run splits its rows between
// workers goroutines, the caller's included; workers < 1 means
// runtime.GOMAXPROCS(0).
func NewWorkspace(workers int) *Workspace {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	ps := cpuPaths()
	ws := &Workspace{workers: workers, paths: ps, path: ps[len(ps)-1], t: &team{}}
	// The workers hold the team, never the Workspace, so a Workspace
	// dropped without Close is collected, and stops them then.
	runtime.AddCleanup(ws, (*team).stop, ws.t)
	return ws
}

// Kernel names the kernels Run uses on this CPU: "avx512f", "avx2" or
// "go".
func (ws *Workspace) Kernel() string { return ws.path.String() }

// Close stops the workspace's worker goroutines.
func (ws *Workspace) Close() { ws.t.stop() }

// Run sets dst to the expert whose packed bytes are packed applied to x:
// down · (silu(gate · x) * (up · x)), with gate and up [inter][hidden] and
// down [hidden][inter] in dtype ("BF16", "F16" or "F32"). dst and x are
// hidden long and packed 3·hidden·inter elements. Run uses ws, which must
// not be in use by another Run.
func Run(dst, x []float32, packed []byte, dtype model.DType, hidden, inter int, ws *Workspace) error {
	dt, err := dtypeOf(dtype)
	if err != nil {
		return err
	}
	switch {
	case ws == nil:
		return fmt.Errorf("expert: no workspace")
	case hidden < 1 || inter < 1 || hidden > maxElems || inter > maxElems/3/hidden:
		return fmt.Errorf("expert: an expert of hidden size %d and intermediate size %d; both must be at least 1 and the expert at most %d elements", hidden, inter, maxElems)
	case len(x) != hidden || len(dst) != hidden:
		return fmt.Errorf("expert: input of %d and output of %d elements, want the hidden size %d", len(x), len(dst), hidden)
	}
	size := dt.size()
	proj := hidden * inter * size // one projection's bytes
	if len(packed) != 3*proj {
		return fmt.Errorf("expert: %d bytes packed, want %d (gate, up and down of %d x %d %s)", len(packed), 3*proj, inter, hidden, dtype)
	}
	if len(ws.g) < inter {
		ws.g, ws.u = make([]float32, inter), make([]float32, inter)
	}
	c := &ws.t.c
	*c = call{path: ws.path, dt: dt, hidden: hidden, inter: inter,
		gate: packed[:proj], up: packed[proj : 2*proj], down: packed[2*proj:],
		x: x, dst: dst, g: ws.g[:inter], u: ws.u[:inter]}
	ws.t.run(ws.workers, gateUp, inter, 2*hidden*size)
	ws.t.run(ws.workers, down, hidden, inter*size)
	*c = call{} // drop the caller's slices
	// ws must outlive the phases: its cleanup would stop the workers
	// under them.
	runtime.KeepAlive(ws)
	return nil
}

// A phase is one of Run's two passes over rows.
type phase int

const (
	gateUp phase = iota // rows of gate and up: g, u, then g = silu(g) * u
	down                // rows of down: dst = down · g
)

// A call is what one Run computes.
type call struct {
	path           path
	dt             dtype
	hidden, inter  int
	gate, up, down []byte
	x, dst, g, u   []float32
}

// do runs rows lo to hi of phase ph.
func (c *call) do(ph phase, lo, hi int) {
	switch ph {
	case gateUp:
		matVec(c.path, c.dt, c.gate, c.x, c.g, c.hidden, lo, hi)
		matVec(c.path, c.dt, c.up, c.x, c.u, c.hidden, lo, hi)
		for r := lo; r < hi; r++ {
			c.g[r] = cpu.SiLU(c.g[r]) * c.u[r]
		}
	case down:
		matVec(c.path, c.dt, c.down, c.g, c.dst, c.inter, lo, hi)
	}
}

// matVec sets y[r] = w[r,:] · x for rows lo to hi of w, a row-major
// matrix of cols columns, with path's kernels.
func matVec(p path, dt dtype, w []byte, x, y []float32, cols, lo, hi int) {
	if lo == hi {
		return
	}
	if p != pathGo {
		matVecC(p, dt, w, x, y, cols, lo, hi)
		return
	}
	size := dt.size()
	x = x[:cols]
	for r := lo; r < hi; r++ {
		row := w[r*cols*size : (r+1)*cols*size]
		switch dt {
		case bf16:
			y[r] = dotBF16(row, x)
		case f16:
			y[r] = dotF16(row, x)
		default:
			y[r] = dotF32(row, x)
		}
	}
}

// The Go kernels. Each sums a row as kernels.c does (the package comment
// says how); the float32 conversion of each product keeps the compiler
// from fusing it with the add, which the Go spec would allow.

func dotBF16(w []byte, x []float32) float32 {
	var acc [16]float32
	i := 0
	for ; i+16 <= len(x); i += 16 {
		ws, xs := w[2*i:2*i+32], x[i:i+16]
		for j := range 16 {
			v := model.BF16ToFloat32(binary.LittleEndian.Uint16(ws[2*j:]))
			acc[j] += float32(v * xs[j])
		}
	}
	for j := 0; i+j < len(x); j++ {
		v := model.BF16ToFloat32(binary.LittleEndian.Uint16(w[2*(i+j):]))
		acc[j] += float32(v * x[i+j])
	}
	return reduce16(&acc)
}

func dotF16(w []byte, x []float32) float32 {
	var acc [16]float32
	i := 0
	for ; i+16 <= len(x); i += 16 {
		ws, xs := w[2*i:2*i+32], x[i:i+16]
		for j := range 16 {
			acc[j] += float32(model.HalfToFloat32(binary.LittleEndian.Uint16(ws[2*j:])) * xs[j])
		}
	}
	for j := 0; i+j < len(x); j++ {
		acc[j] += float32(model.HalfToFloat32(binary.LittleEndian.Uint16(w[2*(i+j):])) * x[i+j])
	}
	return reduce16(&acc)
}

func dotF32(w []byte, x []float32) float32 {
	var acc [16]float32
	i := 0
	for ; i+16 <= len(x); i += 16 {
		ws, xs := w[4*i:4*i+64], x[i:i+16]
		for j := range 16 {
			acc[j] += float32(math.Float32frombits(binary.LittleEndian.Uint32(ws[4*j:])) * xs[j])
		}
	}
	for j := 0; i+j < len(x); j++ {
		acc[j] += float32(math.Float32frombits(binary.LittleEndian.Uint32(w[4*(i+j):])) * x[i+j])
	}
	return reduce16(&acc)
}

// reduce16 sums the lanes by halves: lane j and j+8, then j and j+4, j
// and j+2, and the last two.
func reduce16(a *[16]float32) float32 {
	for h := 8; h >= 1; h /= 2 {
		for j := range h {
			a[j] += a[j+h]
		}
	}
	return a[0]
}

// readSumGo is readSum's Go loop: the sum of b's 64-bit words, modulo
// 2^64.
func readSumGo(b []byte) uint64 {
	var s0, s1, s2, s3 uint64
	for i := 0; i+32 <= len(b); i += 32 {
		s0 += binary.LittleEndian.Uint64(b[i:])
		s1 += binary.LittleEndian.Uint64(b[i+8:])
		s2 += binary.LittleEndian.Uint64(b[i+16:])
		s3 += binary.LittleEndian.Uint64(b[i+24:])
	}
	return s0 + s1 + s2 + s3
}
