//go:build cuda

package cudart

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

// gorgonia.org/cu wraps neither cuMemHostAlloc nor cuMemHostRegister.
static CUresult cudartHostAlloc(void **p, size_t n) {
	return cuMemHostAlloc(p, n, CU_MEMHOSTALLOC_PORTABLE);
}

static CUresult cudartHostFree(void *p) {
	return cuMemFreeHost(p);
}

static const char *cudartErrorName(CUresult r) {
	const char *s = 0;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == 0) {
		return "CUDA_ERROR_UNKNOWN";
	}
	return s;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/moepolicy/moec/rt"
)

var _ Mechanism = (*Store)(nil)

// Which stream last copied into a slot.
const (
	noStream uint8 = iota
	onDemand
	onPrefetch
)

// Store is the mechanism on a CUDA GPU. It owns every expert's weights in
// pinned host memory (the arena), one device allocation of Slots() x
// ExpertBytes, the slot table, two copy streams (demand at the highest
// priority, prefetch at the lowest), and two events per slot: ready,
// recorded after each copy into the slot, and use, recorded by Used on
// the caller's compute stream. A copy into a slot first makes its stream
// wait (on the GPU, not the host) for the slot's use event and, when the
// slot's last copy ran on the other stream, for its ready event: a slot is
// never overwritten while a copy into it or a kernel reading it may still
// run.
//
// Open locks the calling goroutine to its OS thread and makes the
// device's primary context current there; Close unlocks it. Every method
// except Counters must be called from that goroutine.
type Store struct {
	t  *slots
	eb int64

	dev        cu.Device
	ctx        cu.CUContext
	prev       cu.CUContext // current before Open, restored by Close
	retained   bool
	demand     cu.Stream
	prefetch   cu.Stream
	ready, use []cu.Event
	usePending []bool  // by slot: use recorded and not yet waited for by a copy
	last       []uint8 // by slot: the stream of its last copy
	base       cu.DevicePtr
	host       unsafe.Pointer
	hostBytes  int64

	n      counters
	err    error // sticky: a CUDA call failed, the table may not match the GPU
	closed bool
}

// pinnedLive is the pinned host memory the package holds, for tests.
var pinnedLive atomic.Int64

// cuError turns a CUresult from the package's own cgo into an error.
func cuError(what string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %s", what, C.GoString(C.cudartErrorName(r)))
}

// hostAlloc returns n bytes of pinned, portable host memory.
func hostAlloc(n int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if err := cuError("cuMemHostAlloc", C.cudartHostAlloc(&p, C.size_t(n))); err != nil {
		return nil, err
	}
	pinnedLive.Add(n)
	return p, nil
}

// hostFree frees memory from hostAlloc of n bytes.
func hostFree(p unsafe.Pointer, n int64) error {
	pinnedLive.Add(-n)
	return cuError("cuMemFreeHost", C.cudartHostFree(p))
}

// Open returns a Store for o on device o.Device, locking the calling
// goroutine to its thread (see Store). Its arena is zeroed: fill it (Host,
// or Pack from a checkpoint) before the first Apply, which copies the
// pinned experts. It fails, holding nothing, when the device does not exist or
// has less free memory than the slots need.
func Open(o Options) (*Store, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	t, err := newSlots(o)
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	s := &Store{t: t, eb: o.Shape.ExpertBytes}
	if err := s.open(o); err != nil {
		s.free()
		runtime.UnlockOSThread()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(o Options) error {
	n, err := cu.NumDevices()
	if err != nil {
		return fmt.Errorf("cudart: counting CUDA devices: %w", err)
	}
	if o.Device >= n {
		return fmt.Errorf("cudart: device %d does not exist: the machine has %d CUDA device(s)", o.Device, n)
	}
	if s.dev, err = cu.GetDevice(o.Device); err != nil {
		return fmt.Errorf("cudart: device %d: %w", o.Device, err)
	}
	s.prev, _ = cu.CurrentContext()
	if s.ctx, err = s.dev.RetainPrimaryCtx(); err != nil {
		return fmt.Errorf("cudart: device %d: retaining its primary context: %w", o.Device, err)
	}
	s.retained = true
	if err := cu.SetCurrentContext(s.ctx); err != nil {
		return fmt.Errorf("cudart: device %d: making its context current: %w", o.Device, err)
	}
	slots := int64(s.t.n)
	need := slots * s.eb
	free, total, err := cu.MemInfo()
	if err != nil {
		return fmt.Errorf("cudart: device %d: cuMemGetInfo: %w", o.Device, err)
	}
	if need > free {
		return fmt.Errorf("cudart: device %d has %s free of %s, the store needs %s (%d slots of %s)",
			o.Device, size(free), size(total), size(need), slots, size(s.eb))
	}
	if s.base, err = cu.MemAlloc(need); err != nil {
		return fmt.Errorf("cudart: device %d: allocating %s for %d slots: %w", o.Device, size(need), slots, err)
	}
	sh := o.Shape
	arena := int64(sh.Layers) * int64(sh.Experts) * s.eb
	if s.host, err = hostAlloc(arena); err != nil {
		return fmt.Errorf("cudart: pinning %s of host memory for %d experts: %w", size(arena), sh.Layers*sh.Experts, err)
	}
	s.hostBytes = arena
	clear(unsafe.Slice((*byte)(s.host), arena))
	least, greatest, err := cu.StreamPriorityRange()
	if err != nil {
		return fmt.Errorf("cudart: cuCtxGetStreamPriorityRange: %w", err)
	}
	if s.demand, err = cu.MakeStreamWithPriority(greatest, cu.NonBlocking); err != nil {
		return fmt.Errorf("cudart: creating the demand stream: %w", err)
	}
	if s.prefetch, err = cu.MakeStreamWithPriority(least, cu.NonBlocking); err != nil {
		return fmt.Errorf("cudart: creating the prefetch stream: %w", err)
	}
	s.ready = make([]cu.Event, 0, slots)
	s.use = make([]cu.Event, 0, slots)
	for range slots {
		for _, evs := range []*[]cu.Event{&s.ready, &s.use} {
			ev, err := cu.MakeEvent(cu.DisableTiming)
			if err != nil {
				return fmt.Errorf("cudart: creating the slots' events: %w", err)
			}
			*evs = append(*evs, ev)
		}
	}
	s.usePending = make([]bool, slots)
	s.last = make([]uint8, slots)
	return nil
}

// free releases whatever open or the store acquired, waiting first for
// all work on the context, and returns the first error.
func (s *Store) free() error {
	var errs []error
	keep := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	if s.retained {
		keep("cuCtxSynchronize", cu.Synchronize())
	}
	for _, evs := range []*[]cu.Event{&s.ready, &s.use} {
		for i := range *evs {
			keep("cuEventDestroy", cu.DestroyEvent(&(*evs)[i]))
		}
		*evs = nil
	}
	for _, st := range []*cu.Stream{&s.demand, &s.prefetch} {
		if *st != (cu.Stream{}) {
			keep("cuStreamDestroy", st.Destroy())
		}
	}
	if s.base != 0 {
		keep("cuMemFree", cu.MemFree(s.base))
		s.base = 0
	}
	if s.host != nil {
		keep("cuMemFreeHost", hostFree(s.host, s.hostBytes))
		s.host, s.hostBytes = nil, 0
	}
	if s.retained {
		keep("cuCtxSetCurrent", cu.SetCurrentContext(s.prev))
		keep("cuDevicePrimaryCtxRelease", s.dev.ReleasePrimaryCtx())
		s.retained = false
	}
	if len(errs) > 0 {
		return fmt.Errorf("cudart: close: %w", errors.Join(errs...))
	}
	return nil
}

// usable returns the error that stops the store, if any.
func (s *Store) usable() error {
	if s.closed {
		return ErrClosed
	}
	return s.err
}

// fail makes err sticky: after a failed CUDA call the slot table may not
// match the device.
func (s *Store) fail(err error) error {
	s.err = fmt.Errorf("cudart: %w (the store is unusable; Close it)", err)
	return s.err
}

// Host returns the pinned arena bytes of expert k, for the caller to fill
// before the first Apply; nil for a key outside the shape.
func (s *Store) Host(k rt.Key) []byte {
	if s.closed || !inShape(s.t.shape, k) {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(s.host, int64(s.t.index(k))*s.eb)), s.eb)
}

// Apply executes p, the plan Dispatch filled. It frees the slots of the
// previous layer's deferred evictions if Used has not, checks p against
// the contract (rt.PlanChecker; a broken plan is reported and changes
// nothing), frees the evicted experts this layer does not run on the GPU,
// and starts the Load copies on the demand stream and the Prefetch copies
// on the prefetch stream. It does not wait for them: the compute stream waits on the
// events Ptr returns, the host on Wait. The first Apply first copies the
// pinned experts on the demand stream. Apply allocates nothing.
func (s *Store) Apply(p *rt.Plan) error {
	if err := s.usable(); err != nil {
		return err
	}
	s.n.deferred.Add(int64(s.t.release()))
	s.t.begin()
	if err := s.run(); err != nil {
		return s.fail(err)
	}
	if err := s.t.apply(p); err != nil {
		return err
	}
	s.n.plans.Add(1)
	s.n.kept.Add(int64(s.t.plans.Kept()))
	if err := s.run(); err != nil {
		return s.fail(err)
	}
	return nil
}

// run starts the copies the slot table listed.
func (s *Store) run() error {
	for _, op := range s.t.ops {
		st, which := s.demand, onDemand
		if op.kind == prefetchCopy {
			st, which = s.prefetch, onPrefetch
		}
		if s.usePending[op.slot] {
			if err := st.Wait(s.use[op.slot], 0); err != nil {
				return fmt.Errorf("cuStreamWaitEvent (slot %d, last use): %w", op.slot, err)
			}
			s.usePending[op.slot] = false
		}
		if w := s.last[op.slot]; w != noStream && w != which {
			if err := st.Wait(s.ready[op.slot], 0); err != nil {
				return fmt.Errorf("cuStreamWaitEvent (slot %d, last copy): %w", op.slot, err)
			}
		}
		dst := s.base + cu.DevicePtr(int64(op.slot)*s.eb)
		src := unsafe.Add(s.host, int64(op.index)*s.eb)
		if err := cu.MemcpyHtoDAsync(dst, src, s.eb, st); err != nil {
			return fmt.Errorf("cuMemcpyHtoDAsync (expert %v to slot %d): %w", s.t.key(op.index), op.slot, err)
		}
		if err := s.ready[op.slot].Record(st); err != nil {
			return fmt.Errorf("cuEventRecord (slot %d): %w", op.slot, err)
		}
		s.last[op.slot] = which
		s.n.count(op.kind, s.eb)
	}
	s.t.ops = s.t.ops[:0]
	return nil
}

// Ptr returns the device address of resident expert k and the event that
// completes when its bytes are there: make the compute stream wait for it
// (stream.Wait(ev, 0)) before a kernel reads the address. ok is false
// when k is not resident.
func (s *Store) Ptr(k rt.Key) (ptr cu.DevicePtr, ready cu.Event, ok bool) {
	if s.closed {
		return 0, cu.Event{}, false
	}
	sl, ok := s.t.slot(k)
	if !ok {
		return 0, cu.Event{}, false
	}
	return s.base + cu.DevicePtr(int64(sl)*s.eb), s.ready[sl], true
}

// Used says that the kernels of the last plan's layer have been launched
// on stream: it records each of that layer's GPU experts' use event there,
// so that a later copy into their slots waits for those kernels, and frees
// the slots of the experts the plan evicted after the layer. Call it once
// per plan, after launching the layer's kernels and before the next
// Apply. Without it, Apply frees those slots with no use recorded: right
// only if nothing reads the slots or the caller synchronizes. Use one
// compute stream, or pass one ordered after all the layer's kernels: a
// slot's use event is re-recorded, not accumulated.
func (s *Store) Used(stream cu.Stream) error {
	if err := s.usable(); err != nil {
		return err
	}
	for _, sl := range s.t.inUse {
		if err := s.use[sl].Record(stream); err != nil {
			return s.fail(fmt.Errorf("cuEventRecord (slot %d, use): %w", sl, err))
		}
		s.usePending[sl] = true
	}
	s.n.deferred.Add(int64(s.t.release()))
	return nil
}

// Wait blocks until every demand copy started so far has finished, adding
// the time to Counters.DemandWait.
func (s *Store) Wait() error {
	if err := s.usable(); err != nil {
		return err
	}
	start := time.Now()
	err := s.demand.Synchronize()
	s.n.demandWait.Add(int64(time.Since(start)))
	if err != nil {
		return s.fail(fmt.Errorf("cuStreamSynchronize (demand): %w", err))
	}
	return nil
}

// Sync blocks until every copy started so far, on both streams, has
// finished.
func (s *Store) Sync() error {
	if err := s.usable(); err != nil {
		return err
	}
	for _, st := range []cu.Stream{s.demand, s.prefetch} {
		if err := st.Synchronize(); err != nil {
			return s.fail(fmt.Errorf("cuStreamSynchronize: %w", err))
		}
	}
	return nil
}

// MeasureCopy returns the host-to-device bandwidth of the store's copies
// in GB/s (10^9 bytes per second): it copies the arena's first expert
// into the last slot n times on the demand stream, after one copy that is
// not timed, and divides the bytes by the time the n took. It must run
// before the first Apply, while no slot holds an expert, and copies
// nothing the store counts. The figure is what a policy's hybrid schedule
// decides with (rt.Hardware).
func (s *Store) MeasureCopy(n int) (float64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, fmt.Errorf("cudart: MeasureCopy(%d): need at least one copy", n)
	}
	if s.n.plans.Load() > 0 {
		return 0, errors.New("cudart: MeasureCopy after Apply: the slots are in use")
	}
	dst := s.base + cu.DevicePtr(int64(len(s.ready)-1)*s.eb)
	var start time.Time
	for i := range n + 1 {
		if i == 1 {
			if err := s.demand.Synchronize(); err != nil {
				return 0, s.fail(fmt.Errorf("cuStreamSynchronize (demand): %w", err))
			}
			start = time.Now()
		}
		if err := cu.MemcpyHtoDAsync(dst, s.host, s.eb, s.demand); err != nil {
			return 0, s.fail(fmt.Errorf("cuMemcpyHtoDAsync (measuring): %w", err))
		}
	}
	if err := s.demand.Synchronize(); err != nil {
		return 0, s.fail(fmt.Errorf("cuStreamSynchronize (demand): %w", err))
	}
	return float64(int64(n)*s.eb) / float64(time.Since(start).Nanoseconds()), nil
}

// Streams returns the demand and prefetch streams, for callers that order
// their own work after the copies.
func (s *Store) Streams() (demand, prefetch cu.Stream) { return s.demand, s.prefetch }

// Slot returns the slot that holds k, if k is resident.
func (s *Store) Slot(k rt.Key) (int, bool) {
	if s.closed {
		return -1, false
	}
	sl, ok := s.t.slot(k)
	return int(sl), ok
}

// Counters returns a snapshot of the counters; safe from any goroutine.
func (s *Store) Counters() Counters { return s.n.snapshot() }

// Close waits for all work on the context, frees the slots, the arena,
// the streams and the events, releases the primary context, restores the
// context that was current before Open and unlocks the goroutine from its
// thread. Closing twice is harmless.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.free()
	runtime.UnlockOSThread()
	return err
}

// size prints a byte count in binary units.
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
