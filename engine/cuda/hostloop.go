//go:build cuda

package cuda

/*
#include <cuda.h>
#include "params.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unsafe"

	"gorgonia.org/cu"
)

// Experts places the routed experts of each sparse layer when they are
// not all resident (Options.Experts): package engine implements it with a
// policy and a cudart.Store.
//
// A step then runs on the host loop: the GPU runs each sparse layer up to
// its router, whose choice reaches the host through pinned memory; the
// host calls Options.Route and Place, writes the addresses Place gave into
// the layer's table (one small copy on the stream), launches the layer's
// expert kernels, which read the table, runs the experts the plan sends to
// the host meanwhile (their outputs copied on the stream after the
// kernels), and calls Launched. The kernels are captured graph
// segments, valid whichever slots the experts occupy.
type Experts interface {
	// Place is called at each sparse layer of each step with the layer's
	// selected experts and their combine weights (after Options.Route).
	// It sets dev[k] to the device address of expert ids[k]'s weights
	// (gate, up and down in bf16, contiguous, as a cudart.Store's slot
	// holds them), having made Stream wait until they are there, or to 0
	// to run the expert on the host through Host.
	Place(layer int, ids []int32, weights []float32, dev []uint64) error
	// Host sets out to expert id of layer applied to x, unweighted:
	// down(silu(gate x) * up x).
	Host(layer int, id int32, x, out []float32) error
	// Launched is called once the layer's expert kernels are launched on
	// Stream.
	Launched(layer int) error
}

// Stream returns the stream the engine computes on, for an Experts to
// order its copies against (cudart.Store's Ptr events and Used).
func (e *Engine) Stream() cu.Stream { return e.d.cs }

// A hostLoop runs a decode step as graph segments with the host between
// them: segs[2j] runs up to sparse layer j's router and copies its choice
// to pinned memory, segs[2j+1] runs that layer's experts, and the last
// segment the rest of the step.
type hostLoop struct {
	segs   []*graph
	sparse []int // the sparse layers, in order
	index  []int // by layer: its place in sparse, -1 for a dense layer

	// Per sparse layer, a device table (dptr [topk][3] then float
	// [topk+1]: the entries' gate, up and down, and the combine weights)
	// and a pinned block: the router's choice (int [topk], float
	// [topk+1]), the table as staged for its copy, and the parts of the
	// experts the host runs (float [topk][hidden]).
	tabs                      C.CUdeviceptr
	tabStride, tabBytes       int
	tabWeights                int // where a table's combine weights start
	pin                       unsafe.Pointer
	per, stageAt, partsAt     int
	topk, hidden, inter, nexp int

	// Per sparse layer and step parity, two events: routed, recorded
	// after the router's segment, which the host waits for, and ready,
	// recorded once Place made the stream wait for the copies; the time
	// between them is what the layer's step stood still.
	ev     [][2][2]C.CUevent
	marked [][2]bool // recorded and not yet read
	par    int
	stall  []float64     // ms, by sparse layer
	host   time.Duration // the host's time between routed and ready, summed

	ids []int32
	w   []float32
	dev []uint64
	x   []float32
	out []float32
}

func align16(n int) int { return (n + 15) &^ 15 }

// openHostLoop allocates the tables, the pinned blocks and the events,
// and captures the step's segments.
func (e *Engine) openHostLoop() error {
	cfg := e.cfg
	h := &hostLoop{index: make([]int, len(e.layers)), topk: e.topk, hidden: e.hidden, inter: cfg.ExpertIntermediate, nexp: cfg.Experts}
	for i := range e.layers {
		h.index[i] = -1
		if e.layers[i].sparse {
			h.index[i] = len(h.sparse)
			h.sparse = append(h.sparse, i)
		}
	}
	n := len(h.sparse)
	h.tabWeights = 3 * 8 * h.topk
	h.tabBytes = h.tabWeights + 4*(h.topk+1)
	h.tabStride = align16(h.tabBytes)
	h.stageAt = align16(4 * (2*h.topk + 1))
	h.partsAt = h.stageAt + h.tabStride
	h.per = align16(h.partsAt + 4*h.topk*h.hidden)
	var err error
	if h.tabs, err = e.work(int64(max(n, 1) * h.tabStride)); err != nil {
		return err
	}
	if h.pin, err = e.d.pin(int64(max(n, 1) * h.per)); err != nil {
		return err
	}
	h.ev = make([][2][2]C.CUevent, n)
	h.marked = make([][2]bool, n)
	h.stall = make([]float64, n)
	e.h = h // before any error: Close destroys what was made
	for j := range h.ev {
		for p := range 2 {
			for q := range 2 {
				if err := check("cuEventCreate", C.cuEventCreate(&h.ev[j][p][q], C.CU_EVENT_DEFAULT)); err != nil {
					return err
				}
			}
		}
	}
	h.ids, h.w, h.dev = make([]int32, h.topk), make([]float32, h.topk+1), make([]uint64, h.topk)
	h.x, h.out = make([]float32, h.hidden), make([]float32, h.hidden)

	if err := e.d.beginCapture(); err != nil {
		return err
	}
	cut := func(layer int, experts bool) error {
		if !experts { // the router's choice to the host, in the segment
			b := h.block(h.index[layer])
			if err := check("cuMemcpyDtoHAsync", C.cuMemcpyDtoHAsync(b, e.sel, C.size_t(4*h.topk), e.d.stream)); err != nil {
				return err
			}
			if err := check("cuMemcpyDtoHAsync", C.cuMemcpyDtoHAsync(unsafe.Add(b, 4*h.topk), e.weights, C.size_t(4*(h.topk+1)), e.d.stream)); err != nil {
				return err
			}
		}
		g, err := e.d.endCapture()
		h.segs = append(h.segs, g)
		if err != nil {
			return err
		}
		return e.d.beginCapture()
	}
	err = e.launchStep(cut)
	g, err2 := e.d.endCapture()
	h.segs = append(h.segs, g)
	return errors.Join(err, err2)
}

// block returns sparse layer j's pinned block.
func (h *hostLoop) block(j int) unsafe.Pointer { return unsafe.Add(h.pin, j*h.per) }

// table returns the device table of layer, a sparse layer.
func (h *hostLoop) table(layer int) C.CUdeviceptr {
	return h.tabs + C.CUdeviceptr(h.index[layer]*h.tabStride)
}

// close destroys the segments and the events; the device frees the
// memory.
func (h *hostLoop) close() {
	for _, g := range h.segs {
		g.destroy()
	}
	for _, p := range h.ev {
		for _, q := range p {
			for _, ev := range q {
				if ev != nil {
					C.cuEventDestroy(ev)
				}
			}
		}
	}
	h.ev = nil
}

// runStep runs one decode step: the graph, or the host loop.
func (e *Engine) runStep() error {
	if e.h == nil {
		return e.d.run(e.step)
	}
	return e.h.step(e)
}

func (h *hostLoop) step(e *Engine) error {
	d := e.d
	par := h.par
	h.par ^= 1
	for j, layer := range h.sparse {
		if err := d.run(h.segs[2*j]); err != nil {
			return err
		}
		ev := &h.ev[j][par]
		if err := check("cuEventRecord", C.cuEventRecord(ev[0], d.stream)); err != nil {
			return err
		}
		if err := check("cuEventSynchronize", C.cuEventSynchronize(ev[0])); err != nil {
			return err
		}
		t0 := time.Now()
		// The pair recorded at this layer in the step before is complete.
		if err := h.read(j, par^1); err != nil {
			return err
		}
		b := h.block(j)
		copy(h.ids, unsafe.Slice((*int32)(b), h.topk))
		copy(h.w, unsafe.Slice((*float32)(unsafe.Add(b, 4*h.topk)), h.topk+1))
		w := h.w[:h.topk]
		if e.o.Route != nil {
			if err := e.o.Route(layer, h.ids, w); err != nil {
				return err
			}
		}
		for k, id := range h.ids {
			if id < 0 || int(id) >= h.nexp {
				return fmt.Errorf("cuda: layer %d: expert %d is outside [0, %d)", layer, id, h.nexp)
			}
			if e.o.Experts == nil {
				h.dev[k] = uint64(e.layers[layer].experts[id])
			}
		}
		if e.o.Experts != nil {
			if err := e.o.Experts.Place(layer, h.ids, w, h.dev); err != nil {
				return err
			}
		}
		if err := check("cuEventRecord", C.cuEventRecord(ev[1], d.stream)); err != nil {
			return err
		}
		h.marked[j][par] = true
		host, err := h.fetchX(e)
		if err != nil {
			return err
		}
		// The table, staged in the pinned block: this layer's copy of the
		// step before has run, since the stream passed this layer's router.
		stage := unsafe.Add(b, h.stageAt)
		ptrs := unsafe.Slice((*uint64)(stage), 3*h.topk)
		proj := uint64(2 * h.inter * h.hidden)
		for k, p := range h.dev {
			if p == 0 {
				ptrs[3*k], ptrs[3*k+1], ptrs[3*k+2] = 0, 0, 0
				continue
			}
			ptrs[3*k], ptrs[3*k+1], ptrs[3*k+2] = p, p+proj, p+2*proj
		}
		copy(unsafe.Slice((*float32)(unsafe.Add(stage, h.tabWeights)), h.topk+1), h.w)
		if err := check("cuMemcpyHtoDAsync", C.cuMemcpyHtoDAsync(h.table(layer), stage, C.size_t(h.tabBytes), d.stream)); err != nil {
			return err
		}
		if err := d.run(h.segs[2*j+1]); err != nil {
			return err
		}
		h.host += time.Since(t0)
		if host { // while the GPU runs the layer's other experts
			if err := h.hostExperts(e, layer, b); err != nil {
				return err
			}
		}
		if e.o.Experts != nil {
			if err := e.o.Experts.Launched(layer); err != nil {
				return err
			}
		}
	}
	return d.run(h.segs[len(h.segs)-1])
}

// fetchX copies the layer's normalised input to the host when Place sent
// an entry there, and says whether it did. The router's segment is done,
// so xn is final until the next segment's norm, which the host launches
// after hostExperts.
func (h *hostLoop) fetchX(e *Engine) (bool, error) {
	if !slices.Contains(h.dev, 0) {
		return false, nil
	}
	err := check("cuMemcpyDtoH", C.cuMemcpyDtoH(unsafe.Pointer(&h.x[0]), e.xn, C.size_t(4*len(h.x))))
	return err == nil, err
}

// hostExperts runs the entries Place sent to the host, once the layer's
// expert kernels are launched, so that the CPU and the GPU work at once:
// each entry's part, weighted, is copied on the stream to its slice of
// parts, which the kernels leave alone, before the next segment's norm
// adds the parts up.
func (h *hostLoop) hostExperts(e *Engine, layer int, b unsafe.Pointer) error {
	for k, p := range h.dev {
		if p != 0 {
			continue
		}
		if err := e.o.Experts.Host(layer, h.ids[k], h.x, h.out); err != nil {
			return err
		}
		part := unsafe.Add(b, h.partsAt+4*k*h.hidden)
		dst := unsafe.Slice((*float32)(part), h.hidden)
		for i, v := range h.out {
			dst[i] = h.w[k] * v
		}
		if err := check("cuMemcpyHtoDAsync", C.cuMemcpyHtoDAsync(e.parts+C.CUdeviceptr(4*k*h.hidden), part, C.size_t(4*h.hidden), e.d.stream)); err != nil {
			return err
		}
	}
	return nil
}

// read adds sparse layer j's stall of parity par, if recorded and not yet
// read; the caller knows its events are complete.
func (h *hostLoop) read(j, par int) error {
	if !h.marked[j][par] {
		return nil
	}
	var ms C.float
	ev := &h.ev[j][par]
	if err := check("cuEventElapsedTime", C.cuEventElapsedTime(&ms, ev[0], ev[1])); err != nil {
		return err
	}
	h.stall[j] += float64(ms)
	h.marked[j][par] = false
	return nil
}

// AddStalls adds to stall (by decoder layer: 0 for dense ones) how long
// each sparse layer's step stood still between its router and its
// experts since the last call, under the host loop (Options.Route or
// Experts): the host's decision and the copies the compute did not
// hide. It returns the host's own share of it, measured on the host
// clock, and allocates nothing; without the host loop it adds nothing.
func (e *Engine) AddStalls(stall []time.Duration) (host time.Duration, err error) {
	h := e.h
	if h == nil {
		return 0, nil
	}
	if len(stall) < len(e.layers) {
		return 0, fmt.Errorf("cuda: AddStalls: room for %d layers' stalls, want %d", len(stall), len(e.layers))
	}
	if err := e.d.sync(); err != nil {
		return 0, err
	}
	for j, layer := range h.sparse {
		for p := range 2 {
			if err := h.read(j, p); err != nil {
				return 0, err
			}
		}
		stall[layer] += time.Duration(math.Round(h.stall[j] * float64(time.Millisecond)))
		h.stall[j] = 0
	}
	host, h.host = h.host, 0
	return host, nil
}
