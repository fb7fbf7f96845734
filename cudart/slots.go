package cudart

import (
	"fmt"

	"github.com/moepolicy/moec/rt"
)

// This file is the slot table that Store and HostStore share: which slot
// holds which expert, and the order of frees and copies. The plan
// contract itself is rt.PlanChecker's: slots.apply executes only a plan it
// accepted. A backend only moves the bytes of the copies that slots.apply
// lists, and records the "last use" of the slots that slots.inUse lists.

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

// slots is the slot table of a store. It allocates nothing after
// newSlots.
type slots struct {
	plans *rt.PlanChecker // the contract, and the residency it accepted
	shape rt.Shape
	n     int32 // slots

	slotOf []int32 // by dense index: its slot, or -1
	keyOf  []int32 // by slot: the dense index it holds, or -1
	pins   []int32 // pinned dense indexes, in Options order
	count  int     // experts in the table, deferred ones included
	free   ring    // free slots, the longest free first
	begun  bool    // pinned experts placed

	ops      []copyOp // the copies of the last apply, in issue order
	deferred []int32  // dense indexes freed by release
	inUse    []int32  // slots the last plan's layer runs on the GPU
}

// newSlots returns the table of a store with options o.
func newSlots(o Options) (*slots, error) {
	plans, err := rt.NewPlanChecker(o.Shape, o.Capacity, o.Pinned)
	if err != nil {
		return nil, fmt.Errorf("cudart: %w", err)
	}
	s := o.Shape
	n := s.Layers * s.Experts
	ns := o.Slots()
	t := &slots{
		plans: plans, shape: s, n: int32(ns),
		slotOf: make([]int32, n), keyOf: make([]int32, ns),
		free:     newRing(ns),
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
		t.pins = append(t.pins, t.index(k))
	}
	return t, nil
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

// apply checks p against the contract (rt.PlanChecker) and, if it holds,
// executes it on the table: the evicted experts this layer does not run
// on the GPU are freed first, then each copied expert takes a free slot
// (listed in ops: Load first, on the demand stream, then Prefetch), and
// the evicted experts this layer runs on the GPU stay until release. A
// broken plan changes nothing. Call release and begin first.
//
// The free slots always suffice: after release the table holds the
// resident experts, at most Capacity once the plan is executed, and the
// plan's FreedAfter experts, at most one per selected expert, so at most
// TopK; the store has Capacity + TopK slots.
func (t *slots) apply(p *rt.Plan) error {
	if err := t.plans.Check(p); err != nil {
		return fmt.Errorf("cudart: %w", err)
	}
	t.ops = t.ops[:0]
	for _, k := range p.Evict {
		if i := t.index(k); t.plans.Outcome(k)&rt.FreedBefore != 0 && t.slotOf[i] >= 0 {
			t.drop(i)
		}
	}
	for pass, keys := range [2][]rt.Key{p.Load, p.Prefetch} {
		kind := prefetchCopy
		if pass == 0 {
			kind = demandCopy
		}
		for _, k := range keys {
			if i := t.index(k); t.plans.Outcome(k)&rt.Copied != 0 && t.slotOf[i] < 0 {
				t.ops = append(t.ops, copyOp{slot: t.take(i), index: i, kind: kind})
			}
		}
	}
	for _, k := range t.plans.Named() {
		if t.plans.Outcome(k)&rt.FreedAfter != 0 {
			t.deferred = append(t.deferred, t.index(k))
		}
	}
	layer := int32(p.Layer)
	for _, e := range p.Experts {
		k := rt.Key{Layer: layer, Expert: e}
		if t.plans.Outcome(k)&rt.OnGPU != 0 {
			t.inUse = append(t.inUse, t.slotOf[t.index(k)])
		}
	}
	return nil
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
