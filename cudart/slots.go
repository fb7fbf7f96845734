package cudart

import (
	"fmt"

	"github.com/moepolicy/moec/rt"
)

// This file is the one implementation of the plan contract (rt.Plan),
// shared by Store and HostStore: the slot table, the checks, and the
// order of frees and copies. A backend only moves the bytes of the copies
// that slots.apply lists, and records the "last use" of the slots that
// slots.inUse lists.

// copyKind says which stream a copy goes on.
type copyKind uint8

const (
	demandCopy   copyKind = iota // Plan.Load: the demand stream
	prefetchCopy                 // Plan.Prefetch: the prefetch stream
	pinnedCopy                   // a pinned expert at the first Apply: the demand stream
)

// copyOp is one copy a backend must start: the expert of dense index
// index into slot.
type copyOp struct {
	slot, index int32
	kind        copyKind
}

// The per-plan flags of an expert, by dense index.
const (
	fGPU    uint8 = 1 << iota // selected and run on the GPU
	fBefore                   // resident before the plan
	fAfter                    // resident after the plan
	fCopy                     // needs a slot and a copy
	fFree                     // its slot is freed before the copies
	fDefer                    // its slot is freed after the layer's compute
	fDone                     // handled by execute
)

// slots is the slot table of a store and the contract's bookkeeping. It
// allocates nothing after newSlots.
type slots struct {
	shape    rt.Shape
	capacity int
	n        int32 // slots

	slotOf []int32 // by dense index: its slot, or -1
	keyOf  []int32 // by slot: the dense index it holds, or -1
	pinned []bool  // by dense index
	pins   []int32 // pinned dense indexes, in Options order
	count  int     // experts in the table, deferred ones included
	free   ring    // free slots, the longest free first
	begun  bool    // pinned experts placed

	// Per-plan scratch by dense index, valid where mark == epoch.
	epoch                uint32
	mark                 []uint32
	flags                []uint8
	nLoad, nPref, nEvict []int32
	touched              []int32 // dense indexes named by the plan

	ops      []copyOp // the copies of the last apply, in issue order
	deferred []int32  // dense indexes freed by release
	inUse    []int32  // slots the last plan's layer runs on the GPU
}

// newSlots returns the table of a store with options o (already checked).
func newSlots(o Options) *slots {
	s := o.Shape
	n := s.Layers * s.Experts
	ns := o.Slots()
	t := &slots{
		shape: s, capacity: o.Capacity, n: int32(ns),
		slotOf: make([]int32, n), keyOf: make([]int32, ns), pinned: make([]bool, n),
		free: newRing(ns),
		mark: make([]uint32, n), flags: make([]uint8, n),
		nLoad: make([]int32, n), nPref: make([]int32, n), nEvict: make([]int32, n),
		touched:  make([]int32, 0, n),
		ops:      make([]copyOp, 0, ns),
		deferred: make([]int32, 0, ns),
		inUse:    make([]int32, 0, s.TopK),
	}
	for i := range t.slotOf {
		t.slotOf[i] = -1
	}
	for i := range t.keyOf {
		t.keyOf[i] = -1
		t.free.push(int32(i))
	}
	for _, k := range o.Pinned {
		i := t.index(k)
		t.pinned[i] = true
		t.pins = append(t.pins, i)
	}
	return t
}

func (t *slots) index(k rt.Key) int32 { return k.Layer*int32(t.shape.Experts) + k.Expert }

func (t *slots) key(i int32) rt.Key {
	e := int32(t.shape.Experts)
	return rt.Key{Layer: i / e, Expert: i % e}
}

// slot returns the slot of k, if k is in the table.
func (t *slots) slot(k rt.Key) (int32, bool) {
	if !inShape(t.shape, k) {
		return -1, false
	}
	s := t.slotOf[t.index(k)]
	return s, s >= 0
}

// begin places the pinned experts, listing their copies in ops. It does
// nothing after the first call.
func (t *slots) begin() {
	t.ops = t.ops[:0]
	if t.begun {
		return
	}
	t.begun = true
	for _, i := range t.pins {
		s := t.take(i)
		t.ops = append(t.ops, copyOp{slot: s, index: i, kind: pinnedCopy})
	}
}

// take gives the longest-free slot to dense index i.
func (t *slots) take(i int32) int32 {
	s := t.free.pop()
	t.slotOf[i], t.keyOf[s] = s, i
	t.count++
	return s
}

// drop frees the slot of dense index i.
func (t *slots) drop(i int32) {
	s := t.slotOf[i]
	t.slotOf[i], t.keyOf[s] = -1, -1
	t.free.push(s)
	t.count--
}

// release frees the slots whose experts the last plan evicted after its
// layer's compute, and forgets which slots that layer used. It returns the
// number of slots freed.
func (t *slots) release() int {
	n := len(t.deferred)
	for _, i := range t.deferred {
		t.drop(i)
	}
	t.deferred = t.deferred[:0]
	t.inUse = t.inUse[:0]
	return n
}

// apply checks p against the contract and, if it holds, executes it on
// the table: the evicted experts this layer does not run on the GPU are
// freed first, then each copied expert takes a free slot (listed in ops:
// Load first, on the demand stream, then Prefetch), and the evicted
// experts this layer runs on the GPU stay until release. p.Experts are
// the selected experts, in the order of p.Hit. A broken plan changes
// nothing. Call release and begin first.
func (t *slots) apply(p *rt.Plan) error {
	if err := t.check(p, p.Experts); err != nil {
		return err
	}
	t.execute(p, p.Experts)
	return nil
}

// errorf returns a broken-plan error.
func (t *slots) errorf(p *rt.Plan, format string, args ...any) error {
	return fmt.Errorf("cudart: plan for layer %d: %s", p.Layer, fmt.Sprintf(format, args...))
}

// touch starts the per-plan state of dense index i.
func (t *slots) touch(i int32) {
	if t.mark[i] == t.epoch {
		return
	}
	t.mark[i] = t.epoch
	t.flags[i], t.nLoad[i], t.nPref[i], t.nEvict[i] = 0, 0, 0, 0
	t.touched = append(t.touched, i)
}

func (t *slots) newEpoch() {
	t.epoch++
	if t.epoch == 0 { // wrapped: forget every mark
		clear(t.mark)
		t.epoch = 1
	}
	t.touched = t.touched[:0]
}

// check reports the first way p breaks the contract, computing the
// per-expert flags that execute follows. It changes no residency.
func (t *slots) check(p *rt.Plan, experts []int32) error {
	sh := t.shape
	if p.Layer < 0 || p.Layer >= sh.Layers {
		return t.errorf(p, "layer outside the shape's layers 0 to %d", sh.Layers-1)
	}
	if len(p.Hit) != len(experts) || len(p.Device) != len(experts) {
		return t.errorf(p, "%d hit flags and %d devices for %d selected experts", len(p.Hit), len(p.Device), len(experts))
	}
	if len(experts) > sh.TopK {
		return t.errorf(p, "%d selected experts, more than top-k %d", len(experts), sh.TopK)
	}
	t.newEpoch()
	layer := int32(p.Layer)
	for j, e := range experts {
		k := rt.Key{Layer: layer, Expert: e}
		if !inShape(sh, k) {
			return t.errorf(p, "selected expert %d is outside the shape's experts 0 to %d", e, sh.Experts-1)
		}
		i := t.index(k)
		t.touch(i) // an expert selected twice is one expert, run twice
		switch p.Device[j] {
		case rt.GPU:
			t.flags[i] |= fGPU
		case rt.CPU:
		default:
			return t.errorf(p, "expert %v runs on device %d, neither the GPU nor the CPU", k, p.Device[j])
		}
	}
	for _, k := range p.Load {
		if !inShape(sh, k) {
			return t.errorf(p, "Load names expert %v, outside the shape (%d layers, %d experts)", k, sh.Layers, sh.Experts)
		}
		i := t.index(k)
		if t.mark[i] != t.epoch || t.flags[i]&fGPU == 0 {
			return t.errorf(p, "Load names expert %v, which this layer does not run on the GPU", k)
		}
		t.nLoad[i]++
	}
	for _, k := range p.Prefetch {
		if !inShape(sh, k) {
			return t.errorf(p, "Prefetch names expert %v, outside the shape (%d layers, %d experts)", k, sh.Layers, sh.Experts)
		}
		i := t.index(k)
		t.touch(i)
		t.nPref[i]++
	}
	for _, k := range p.Evict {
		if !inShape(sh, k) {
			return t.errorf(p, "Evict names expert %v, outside the shape (%d layers, %d experts)", k, sh.Layers, sh.Experts)
		}
		i := t.index(k)
		if t.pinned[i] {
			return t.errorf(p, "evicts pinned expert %v", k)
		}
		t.touch(i)
		t.nEvict[i]++
	}
	after, need, freed := t.count, 0, 0
	for _, i := range t.touched {
		f := t.flags[i]
		before := int32(0)
		if t.slotOf[i] >= 0 {
			before = 1
			f |= fBefore
		}
		copies := t.nLoad[i] + t.nPref[i]
		n := before + copies - t.nEvict[i]
		switch {
		case n < 0:
			if before == 0 && copies == 0 {
				return t.errorf(p, "evicts expert %v, which is not resident", t.key(i))
			}
			return t.errorf(p, "evicts expert %v %d times, but it is resident %d and copied %d times", t.key(i), t.nEvict[i], before, copies)
		case n > 1:
			if before == 1 {
				return t.errorf(p, "copies expert %v, which is already resident", t.key(i))
			}
			return t.errorf(p, "copies expert %v %d times, evicting it %d times", t.key(i), copies, t.nEvict[i])
		}
		used := f&fGPU != 0
		if n == 1 {
			f |= fAfter
		}
		switch {
		case before == 0 && (n == 1 || t.nLoad[i] > 0 && used):
			f |= fCopy // copied; a Load run from a slot not kept is freed after the layer
			need++
			if n == 0 {
				f |= fDefer
			}
		case before == 1 && n == 0 && used:
			f |= fDefer
		case before == 1 && n == 0:
			f |= fFree
			freed++
		}
		after += int(n - before)
		t.flags[i] = f
	}
	for j, e := range experts {
		i := t.index(rt.Key{Layer: layer, Expert: e})
		f := t.flags[i]
		resident, loaded := f&fBefore != 0, t.nLoad[i] > 0
		switch {
		case p.Hit[j] && !resident && !loaded:
			return t.errorf(p, "expert %v hits, but it is neither resident nor in Load", t.key(i))
		case !p.Hit[j] && resident && t.nEvict[i] == 0:
			return t.errorf(p, "expert %v misses, but it is resident and not evicted", t.key(i))
		case p.Device[j] == rt.GPU && !p.Hit[j] && !loaded:
			return t.errorf(p, "expert %v misses and runs on the GPU, but it is not in Load", t.key(i))
		}
	}
	if after > t.capacity {
		return t.errorf(p, "leaves %d experts resident, more than the capacity %d", after, t.capacity)
	}
	if need > t.free.n+freed {
		return t.errorf(p, "needs %d free slots, the store has %d of %d", need, t.free.n+freed, t.n)
	}
	return nil
}

// execute carries out a plan that check accepted.
func (t *slots) execute(p *rt.Plan, experts []int32) {
	t.ops = t.ops[:0]
	for _, k := range p.Evict {
		i := t.index(k)
		if t.flags[i]&(fFree|fDone) == fFree {
			t.flags[i] |= fDone
			t.drop(i)
		}
	}
	for pass, keys := range [2][]rt.Key{p.Load, p.Prefetch} {
		for _, k := range keys {
			i := t.index(k)
			f := t.flags[i]
			if f&(fCopy|fDone) != fCopy {
				continue
			}
			t.flags[i] |= fDone
			kind := prefetchCopy
			if pass == 0 {
				kind = demandCopy
			}
			t.ops = append(t.ops, copyOp{slot: t.take(i), index: i, kind: kind})
		}
	}
	for _, i := range t.touched {
		if t.flags[i]&fDefer != 0 {
			t.deferred = append(t.deferred, i)
		}
	}
	layer := int32(p.Layer)
	for _, e := range experts {
		i := t.index(rt.Key{Layer: layer, Expert: e})
		if t.flags[i]&fGPU != 0 {
			t.inUse = append(t.inUse, t.slotOf[i])
		}
	}
}

// kept returns the number of plan entries the last apply satisfied by
// keeping a slot: experts copied and evicted that stayed resident.
func (t *slots) kept() int64 {
	var n int64
	for _, i := range t.touched {
		if f := t.flags[i]; f&fBefore != 0 && f&fAfter != 0 {
			n += int64(t.nLoad[i] + t.nPref[i])
		}
	}
	return n
}

// ring is a FIFO of slots with room for all of them.
type ring struct {
	buf  []int32
	head int
	n    int
}

func newRing(n int) ring { return ring{buf: make([]int32, n)} }

func (r *ring) push(s int32) {
	r.buf[(r.head+r.n)%len(r.buf)] = s
	r.n++
}

func (r *ring) pop() int32 {
	s := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return s
}
