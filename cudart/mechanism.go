package cudart

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/moepolicy/moec/rt"
)

// Mechanism is what both stores do: execute plans on a fixed set of slots
// and account for the bytes they move. Store (build tag cuda) moves the
// bytes to a GPU, HostStore to host memory.
type Mechanism interface {
	// Apply executes a plan Dispatch filled.
	Apply(p *rt.Plan) error
	// Slot returns the slot that holds k, if k is resident.
	Slot(k rt.Key) (slot int, ok bool)
	// Counters returns a snapshot of the transfer counters.
	Counters() Counters
	// Close frees everything the store holds.
	Close() error
}

var (
	_ Mechanism = (*HostStore)(nil)
)

// Options say what a store holds.
type Options struct {
	// Shape is the model's: Layers MoE layers of Experts experts, TopK
	// selected per token per layer, ExpertBytes (> 0) the bytes of one
	// expert's weights (gate, up and down packed together).
	Shape rt.Shape
	// Capacity is the most experts the policy keeps resident after a plan,
	// pinned ones included: spec.MaxSlots(shape). A store has Capacity +
	// Shape.TopK slots, the TopK more for the experts a layer runs without
	// keeping (see rt.Plan), and reports a plan that leaves more than
	// Capacity experts resident as a broken plan.
	Capacity int
	// Pinned are the experts resident from the start that no plan evicts:
	// for a Spec, its pin ids in every layer (OptionsFor).
	Pinned []rt.Key
	// Device is the CUDA device ordinal (Store only).
	Device int
}

// OptionsFor returns the options of a store that runs spec on a model of
// the given shape: its largest capacity and its pins in every layer.
func OptionsFor(spec *rt.Spec, shape rt.Shape) Options {
	o := Options{Shape: shape, Capacity: spec.MaxSlots(shape)}
	for l := range shape.Layers {
		for _, e := range spec.Cache.Pin {
			k := rt.Key{Layer: int32(l), Expert: int32(e)}
			dup := false
			for _, p := range o.Pinned {
				dup = dup || p == k
			}
			if !dup {
				o.Pinned = append(o.Pinned, k)
			}
		}
	}
	return o
}

// Slots returns the number of slots a store with these options has:
// Capacity (at most every expert of the model) + TopK.
func (o Options) Slots() int {
	return min(o.Capacity, o.Shape.Layers*o.Shape.Experts) + o.Shape.TopK
}

// check reports what is impossible about the options, but for the
// capacity and the pins, which rt.NewPlanChecker checks (newSlots).
func (o Options) check() error {
	s := o.Shape
	if err := s.Validate(); err != nil {
		return fmt.Errorf("cudart: %w", err)
	}
	if s.ExpertBytes <= 0 {
		return fmt.Errorf("cudart: shape has %d bytes per expert, need the real size", s.ExpertBytes)
	}
	n := int64(s.Layers) * int64(s.Experts)
	if n > (1<<63-1)/s.ExpertBytes {
		return fmt.Errorf("cudart: %d experts of %d bytes overflow a 64-bit size", n, s.ExpertBytes)
	}
	if o.Device < 0 {
		return fmt.Errorf("cudart: device %d, need an ordinal of 0 or more", o.Device)
	}
	return nil
}

func inShape(s rt.Shape, k rt.Key) bool {
	return k.Layer >= 0 && int(k.Layer) < s.Layers && k.Expert >= 0 && int(k.Expert) < s.Experts
}

// Transfers counts copies into slots and their bytes.
type Transfers struct {
	Copies int64
	Bytes  int64
}

// Counters are a store's totals since Open.
type Counters struct {
	Plans    int64     // plans applied
	Demand   Transfers // Plan.Load copies (the demand stream)
	Prefetch Transfers // Plan.Prefetch copies (the prefetch stream)
	Pinned   Transfers // the pinned experts' copies at the first Apply
	// Kept counts plan entries that named an expert both copied and
	// evicted while it stayed resident (resident before and after): its
	// slot is kept and nothing is copied.
	Kept int64
	// Deferred counts evicted experts whose slots were freed after their
	// layer's compute (Used), because the layer ran them on the GPU.
	Deferred int64
	// DemandWait is the time the host spent waiting for demand copies:
	// in Wait (Store), or copying Plan.Load (HostStore, whose copies run
	// inside Apply).
	DemandWait time.Duration
}

// counters are updated by the goroutine that owns a store and read by any.
type counters struct {
	plans, kept, deferred                 atomic.Int64
	demandCopies, demandBytes             atomic.Int64
	prefetchCopies, prefetchBytes         atomic.Int64
	pinnedCopies, pinnedBytes, demandWait atomic.Int64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Plans:      c.plans.Load(),
		Demand:     Transfers{c.demandCopies.Load(), c.demandBytes.Load()},
		Prefetch:   Transfers{c.prefetchCopies.Load(), c.prefetchBytes.Load()},
		Pinned:     Transfers{c.pinnedCopies.Load(), c.pinnedBytes.Load()},
		Kept:       c.kept.Load(),
		Deferred:   c.deferred.Load(),
		DemandWait: time.Duration(c.demandWait.Load()),
	}
}

// count adds one copy of n bytes of the given kind.
func (c *counters) count(kind copyKind, n int64) {
	switch kind {
	case demandCopy:
		c.demandCopies.Add(1)
		c.demandBytes.Add(n)
	case prefetchCopy:
		c.prefetchCopies.Add(1)
		c.prefetchBytes.Add(n)
	default:
		c.pinnedCopies.Add(1)
		c.pinnedBytes.Add(n)
	}
}

// ErrClosed is returned by the methods of a closed store.
var ErrClosed = errors.New("cudart: store is closed")
