//go:build cuda

package cuda

/*
#cgo CFLAGS: -I${SRCDIR}/../kernels
#cgo LDFLAGS: -lcuda
#include <cuda.h>
#include <stdlib.h>
#include <string.h>
#include "params.h"

static const char *errName(CUresult r) {
	const char *s = 0;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == 0) return "CUDA_ERROR_UNKNOWN";
	return s;
}

// launch passes the kernel's one parameter block by address, as
// cuLaunchKernel wants; gorgonia's Launch would widen every argument to
// 8 bytes.
static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned smem, CUstream s, void *params) {
	void *args[1] = {params};
	return cuLaunchKernel(f, gx, gy, 1, bx, 1, 1, smem, s, args, 0);
}

static CUresult beginCapture(CUstream s) {
	return cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
}

static CUresult instantiate(CUgraphExec *e, CUgraph g) {
	return cuGraphInstantiateWithFlags(e, g, 0);
}

static CUresult setMaxSmem(CUfunction f, int n) {
	return cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, n);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/moepolicy/moec/engine/kernels"
)

// check turns a CUresult into an error naming the call.
func check(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("cuda: %s: %s", what, C.GoString(C.errName(r)))
}

// A device is one GPU's primary context, current on the OS thread of the
// goroutine that opened it (CUDA contexts are per thread), with the
// kernels loaded and one stream.
type device struct {
	dev    C.CUdevice
	ctx    C.CUcontext
	mod    C.CUmodule
	cs     cu.Stream  // the stream, for cudart's store to order its events on
	stream C.CUstream // the same stream, for this package's cgo
	fn     map[string]C.CUfunction
	name   string
	allocs []C.CUdeviceptr
	pinned []unsafe.Pointer // page-locked host memory, freed by close
	bytes  int64
	prof   *profiler // when set, each launch is timed
}

// A profiler times each launch between two events and sums the times and
// the bytes the launches read and write by kernel.
type profiler struct {
	events []C.CUevent // a pool, two per launch
	used   int
	names  []string
	bytes  []int64
}

// kernelNames are the entry points of the fatbin.
var kernelNames = []string{"embed", "gemv1", "gemv2", "gemv4", "gemv8", "add_norm", "rope", "rope_f32", "attn", "attn_f32", "attn_combine", "router", "moe_up", "moe_down", "argmax",
	"attn_mla", "attn_mla_f32", "mla_rope", "mla_rope_f32",
	"embed_rows", "add_norm_rows", "rope_rows", "rope_rows_f32", "attn_rows", "attn_rows_f32", "router_rows", "group_experts", "gemm", "gemm_gated",
	"mla_rope_rows", "mla_rope_rows_f32", "attn_mla_rows", "attn_mla_rows_f32"}

// openDevice locks the calling goroutine to its thread and makes GPU
// ordinal current there.
func openDevice(ordinal int) (*device, error) {
	runtime.LockOSThread()
	d := &device{fn: map[string]C.CUfunction{}}
	err := d.open(ordinal)
	if err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *device) open(ordinal int) error {
	if err := check("cuInit", C.cuInit(0)); err != nil {
		return err
	}
	var n C.int
	if err := check("cuDeviceGetCount", C.cuDeviceGetCount(&n)); err != nil {
		return err
	}
	if ordinal < 0 || ordinal >= int(n) {
		return fmt.Errorf("cuda: device %d does not exist (%d devices)", ordinal, int(n))
	}
	if err := check("cuDeviceGet", C.cuDeviceGet(&d.dev, C.int(ordinal))); err != nil {
		return err
	}
	var name [256]C.char
	C.cuDeviceGetName(&name[0], 256, d.dev)
	d.name = C.GoString(&name[0])
	if err := check("cuDevicePrimaryCtxRetain", C.cuDevicePrimaryCtxRetain(&d.ctx, d.dev)); err != nil {
		return err
	}
	if err := check("cuCtxSetCurrent", C.cuCtxSetCurrent(d.ctx)); err != nil {
		return err
	}
	fat := C.CBytes(kernels.Fatbin)
	defer C.free(fat)
	if err := check("cuModuleLoadData", C.cuModuleLoadData(&d.mod, fat)); err != nil {
		return err
	}
	for _, k := range kernelNames {
		var f C.CUfunction
		cs := C.CString(k)
		err := check("cuModuleGetFunction "+k, C.cuModuleGetFunction(&f, d.mod, cs))
		C.free(unsafe.Pointer(cs))
		if err != nil {
			return err
		}
		d.fn[k] = f
	}
	// The stream is made through gorgonia.org/cu so that a cudart.Store
	// can record its slots' use events on it and make it wait for their
	// copies (Engine.Stream).
	cs, err := cu.MakeStream(cu.NonBlocking)
	if err != nil {
		return fmt.Errorf("cuda: cuStreamCreate: %w", err)
	}
	d.cs, d.stream = cs, C.CUstream(unsafe.Pointer(cs.C()))
	return nil
}

// close frees everything and unlocks the thread.
func (d *device) close() {
	if d.ctx != nil {
		for _, p := range d.allocs {
			C.cuMemFree(p)
		}
		d.allocs = nil
		for _, p := range d.pinned {
			C.cuMemFreeHost(p)
		}
		d.pinned = nil
		if d.stream != nil {
			C.cuStreamDestroy(d.stream)
		}
		if d.mod != nil {
			C.cuModuleUnload(d.mod)
		}
		C.cuDevicePrimaryCtxRelease(d.dev)
		d.ctx = nil
	}
	runtime.UnlockOSThread()
}

// alloc returns n bytes of device memory, zeroed, freed by close.
func (d *device) alloc(n int64) (C.CUdeviceptr, error) {
	var p C.CUdeviceptr
	if n <= 0 {
		n = 1
	}
	if err := check(fmt.Sprintf("cuMemAlloc(%d bytes)", n), C.cuMemAlloc(&p, C.size_t(n))); err != nil {
		return 0, err
	}
	d.allocs = append(d.allocs, p)
	d.bytes += n
	if err := check("cuMemsetD8", C.cuMemsetD8(p, 0, C.size_t(n))); err != nil {
		return 0, err
	}
	return p, nil
}

// pin returns n bytes of page-locked host memory, zeroed, freed by close.
func (d *device) pin(n int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if err := check(fmt.Sprintf("cuMemHostAlloc(%d bytes)", n), C.cuMemHostAlloc(&p, C.size_t(n), 0)); err != nil {
		return nil, err
	}
	d.pinned = append(d.pinned, p)
	clear(unsafe.Slice((*byte)(p), n))
	return p, nil
}

// upload copies b to device memory at p.
func (d *device) upload(p C.CUdeviceptr, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return check("cuMemcpyHtoD", C.cuMemcpyHtoD(p, unsafe.Pointer(&b[0]), C.size_t(len(b))))
}

// download copies len(b) bytes from p into b, after the stream's work.
func (d *device) download(b []byte, p C.CUdeviceptr) error {
	if err := d.sync(); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	return check("cuMemcpyDtoH", C.cuMemcpyDtoH(unsafe.Pointer(&b[0]), p, C.size_t(len(b))))
}

// sync waits for the stream.
func (d *device) sync() error { return check("cuStreamSynchronize", C.cuStreamSynchronize(d.stream)) }

// freeMem returns the device's free and total memory.
func (d *device) freeMem() (free, total int64, err error) {
	var f, t C.size_t
	err = check("cuMemGetInfo", C.cuMemGetInfo(&f, &t))
	return int64(f), int64(t), err
}

// launch starts kernel name with one parameter block. bytes is what it
// reads and writes of device memory, for the profile.
func launch[P any](d *device, name string, grid [2]int, block, smem int, p *P, bytes int64) error {
	f := d.fn[name]
	if d.prof != nil {
		if err := d.profMark(name, bytes); err != nil {
			return err
		}
	}
	err := check("launch "+name, C.launch(f, C.uint(grid[0]), C.uint(max(grid[1], 1)), C.uint(block), C.uint(smem), d.stream, unsafe.Pointer(p)))
	if err == nil && d.prof != nil {
		err = d.profMark("", 0)
	}
	return err
}

// profMark records an event: before a launch (name set) or after it.
func (d *device) profMark(name string, bytes int64) error {
	pr := d.prof
	if pr.used == len(pr.events) {
		var ev C.CUevent
		if err := check("cuEventCreate", C.cuEventCreate(&ev, C.CU_EVENT_DEFAULT)); err != nil {
			return err
		}
		pr.events = append(pr.events, ev)
	}
	if name != "" {
		pr.names = append(pr.names, name)
		pr.bytes = append(pr.bytes, bytes)
	}
	pr.used++
	return check("cuEventRecord", C.cuEventRecord(pr.events[pr.used-1], d.stream))
}

// KernelTime is one kernel's share of the profiled steps.
type KernelTime struct {
	Name     string
	Launches int
	Millis   float64 // GPU time between its start and end events, summed
	Bytes    int64   // device memory it reads and writes, summed
}

// collect waits for the profiled launches and sums them by kernel, in
// order of first launch.
func (pr *profiler) collect() ([]KernelTime, error) {
	var out []KernelTime
	at := map[string]int{}
	for i, name := range pr.names {
		if err := check("cuEventSynchronize", C.cuEventSynchronize(pr.events[2*i+1])); err != nil {
			return nil, err
		}
		var ms C.float
		if err := check("cuEventElapsedTime", C.cuEventElapsedTime(&ms, pr.events[2*i], pr.events[2*i+1])); err != nil {
			return nil, err
		}
		j, ok := at[name]
		if !ok {
			j = len(out)
			at[name] = j
			out = append(out, KernelTime{Name: name})
		}
		out[j].Launches++
		out[j].Millis += float64(ms)
		out[j].Bytes += pr.bytes[i]
	}
	pr.used, pr.names, pr.bytes = 0, pr.names[:0], pr.bytes[:0]
	return out, nil
}

// destroy frees the profiler's events.
func (pr *profiler) destroy() {
	for _, ev := range pr.events {
		C.cuEventDestroy(ev)
	}
	pr.events = nil
}

// setMaxSmem lets kernel name use n bytes of dynamic shared memory.
func (d *device) setMaxSmem(name string, n int) error {
	return check("cuFuncSetAttribute "+name, C.setMaxSmem(d.fn[name], C.int(n)))
}

// A graph is a captured sequence of launches, replayed as one.
type graph struct {
	g    C.CUgraph
	exec C.CUgraphExec
}

// capture records what fn launches on the stream into a graph.
func (d *device) capture(fn func() error) (*graph, error) {
	if err := d.beginCapture(); err != nil {
		return nil, err
	}
	ferr := fn()
	g, err := d.endCapture()
	if ferr != nil {
		g.destroy()
		return nil, ferr
	}
	return g, err
}

// beginCapture starts recording the stream's launches into a graph.
func (d *device) beginCapture() error {
	return check("cuStreamBeginCapture", C.beginCapture(d.stream))
}

// endCapture ends the recording beginCapture started and instantiates
// the graph. The graph it returns on error holds nothing, and destroying
// it is harmless.
func (d *device) endCapture() (*graph, error) {
	g := &graph{}
	if err := check("cuStreamEndCapture", C.cuStreamEndCapture(d.stream, &g.g)); err != nil {
		if g.g != nil {
			C.cuGraphDestroy(g.g)
		}
		return &graph{}, err
	}
	if err := check("cuGraphInstantiate", C.instantiate(&g.exec, g.g)); err != nil {
		C.cuGraphDestroy(g.g)
		return &graph{}, err
	}
	return g, nil
}

// run replays g on the stream.
func (d *device) run(g *graph) error {
	return check("cuGraphLaunch", C.cuGraphLaunch(g.exec, d.stream))
}

func (g *graph) destroy() {
	if g == nil {
		return
	}
	if g.exec != nil {
		C.cuGraphExecDestroy(g.exec)
	}
	if g.g != nil {
		C.cuGraphDestroy(g.g)
	}
}

// An event pair times work on the stream.
type timer struct{ start, stop C.CUevent }

func (d *device) newTimer() (*timer, error) {
	t := &timer{}
	if err := check("cuEventCreate", C.cuEventCreate(&t.start, C.CU_EVENT_DEFAULT)); err != nil {
		return nil, err
	}
	if err := check("cuEventCreate", C.cuEventCreate(&t.stop, C.CU_EVENT_DEFAULT)); err != nil {
		return nil, err
	}
	return t, nil
}

func (d *device) mark(e C.CUevent) error { return check("cuEventRecord", C.cuEventRecord(e, d.stream)) }

// destroy frees the timer's events.
func (t *timer) destroy() {
	C.cuEventDestroy(t.start)
	C.cuEventDestroy(t.stop)
}

// elapsed returns the milliseconds between the timer's events.
func (t *timer) elapsed() (float64, error) {
	if err := check("cuEventSynchronize", C.cuEventSynchronize(t.stop)); err != nil {
		return 0, err
	}
	var ms C.float
	err := check("cuEventElapsedTime", C.cuEventElapsedTime(&ms, t.start, t.stop))
	return float64(ms), err
}
