package cudart

import (
	"time"

	"github.com/moepolicy/moec/rt"
)

// HostStore is the mechanism in host memory: Store's API and slot logic
// (the same code), with slots in a byte slice and copies made with copy,
// synchronously inside Apply. It needs no GPU and no cgo, so the contract
// is tested everywhere; a replay tool can use it to check a policy's plans
// on real bytes.
//
// A HostStore is not safe for concurrent use, except Counters.
type HostStore struct {
	t      *slots
	eb     int64
	arena  []byte // every expert's weights, by dense index
	slotsB []byte // the slots
	n      counters
	closed bool
}

// OpenHost returns a HostStore with a zeroed arena for every expert of
// o.Shape and o.Slots() slots. Fill the arena (Host, or Pack from a
// checkpoint) before the first Apply, which copies the pinned experts.
func OpenHost(o Options) (*HostStore, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	t, err := newSlots(o)
	if err != nil {
		return nil, err
	}
	s := o.Shape
	h := &HostStore{
		t:      t,
		eb:     s.ExpertBytes,
		arena:  make([]byte, int64(s.Layers)*int64(s.Experts)*s.ExpertBytes),
		slotsB: make([]byte, int64(o.Slots())*s.ExpertBytes),
	}
	return h, nil
}

// Host returns the arena bytes of expert k, for the caller to fill; nil
// for a key outside the shape.
func (h *HostStore) Host(k rt.Key) []byte {
	if h.closed || !inShape(h.t.shape, k) {
		return nil
	}
	o := int64(h.t.index(k)) * h.eb
	return h.arena[o : o+h.eb : o+h.eb]
}

// Apply executes p, a plan Dispatch filled: it frees the
// slots of the previous layer's deferred evictions (see Used), checks p
// against the contract, frees the evicted experts this layer does not
// run, and copies Load then Prefetch into free slots. A broken plan is
// reported and changes nothing.
func (h *HostStore) Apply(p *rt.Plan) error {
	if h.closed {
		return ErrClosed
	}
	h.n.deferred.Add(int64(h.t.release()))
	h.t.begin()
	h.run()
	if err := h.t.apply(p); err != nil {
		return err
	}
	h.n.plans.Add(1)
	h.n.kept.Add(int64(h.t.plans.Kept()))
	start := time.Now()
	demand := h.run()
	if demand {
		h.n.demandWait.Add(int64(time.Since(start)))
	}
	return nil
}

// run makes the copies the slot table listed, reporting whether any was a
// demand copy.
func (h *HostStore) run() (demand bool) {
	for _, op := range h.t.ops {
		copy(h.slotsB[int64(op.slot)*h.eb:int64(op.slot+1)*h.eb], h.arena[int64(op.index)*h.eb:int64(op.index+1)*h.eb])
		h.n.count(op.kind, h.eb)
		demand = demand || op.kind == demandCopy
	}
	h.t.ops = h.t.ops[:0]
	return demand
}

// Used says that the layer of the last plan has run: the slots of the
// experts it evicted but ran on the GPU are freed now rather than at the
// next Apply.
func (h *HostStore) Used() error {
	if h.closed {
		return ErrClosed
	}
	h.n.deferred.Add(int64(h.t.release()))
	return nil
}

// Ptr returns the slot bytes of a resident expert.
func (h *HostStore) Ptr(k rt.Key) ([]byte, bool) {
	if h.closed {
		return nil, false
	}
	s, ok := h.t.slot(k)
	if !ok {
		return nil, false
	}
	o := int64(s) * h.eb
	return h.slotsB[o : o+h.eb : o+h.eb], true
}

// Slot returns the slot that holds k, if k is resident.
func (h *HostStore) Slot(k rt.Key) (int, bool) {
	if h.closed {
		return -1, false
	}
	s, ok := h.t.slot(k)
	return int(s), ok
}

// Counters returns a snapshot of the counters; safe from any goroutine.
func (h *HostStore) Counters() Counters { return h.n.snapshot() }

// Close drops the arena and the slots. Closing twice is harmless.
func (h *HostStore) Close() error {
	h.closed = true
	h.arena, h.slotsB = nil, nil
	return nil
}
