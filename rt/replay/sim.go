package replay

import (
	"fmt"

	"github.com/moepolicy/moec/rt"
)

// The state of one (layer, expert) key in the Simulator: whether it holds
// a slot, whether it is pinned, and marks for the plan being executed
// (cleared before Step returns).
const (
	resident uint8 = 1 << iota
	pinned
	inLoad
	inPrefetch
	inEvict
	done // its resident-after is settled

	marks = inLoad | inPrefetch | inEvict | done
)

// A Simulator is a mechanism that moves no bytes: it executes plans on a
// set of device slots and checks each against the contract in the package
// documentation. Its state is 5 bytes per (layer, expert), indexed by
// layer*Experts+expert; Step allocates nothing unless it fails.
type Simulator struct {
	slots int
	state []uint8
	delta []int32 // per key: copies - evictions in the plan being executed
	count int     // resident experts, pinned ones included
	peak  int     // resident after a plan
	// peakInUse counts also the experts run on the GPU whose slots are
	// freed after the compute.
	peakInUse int
	step      int64
	err       error // the first violation; every later Step returns it
	experts   int32 // shape.Experts, for indexing
	layers    int32
}

// NewSimulator returns a simulator of slots device slots for a model of the
// given shape, with the pinned experts resident from the start (the caller
// expands a policy's pin list over the layers; see PinnedKeys).
func NewSimulator(shape rt.Shape, slots int, pin []rt.Key) (*Simulator, error) {
	if err := shape.Validate(); err != nil {
		return nil, err
	}
	if slots < 1 {
		return nil, fmt.Errorf("simulator has %d slots, need at least 1", slots)
	}
	s := &Simulator{
		slots:   slots,
		state:   make([]uint8, shape.Layers*shape.Experts),
		delta:   make([]int32, shape.Layers*shape.Experts),
		experts: int32(shape.Experts),
		layers:  int32(shape.Layers),
	}
	for _, k := range pin {
		if !s.inShape(k) {
			return nil, fmt.Errorf("pinned expert %v is out of the shape (%d layers, %d experts)", k, shape.Layers, shape.Experts)
		}
		i := s.index(k)
		if s.state[i] != 0 {
			return nil, fmt.Errorf("expert %v is pinned twice", k)
		}
		s.state[i] = resident | pinned
	}
	if len(pin) > slots {
		return nil, fmt.Errorf("%d pinned experts do not fit %d slots", len(pin), slots)
	}
	s.count, s.peak, s.peakInUse = len(pin), len(pin), len(pin)
	return s, nil
}

func (s *Simulator) inShape(k rt.Key) bool {
	return k.Layer >= 0 && k.Layer < s.layers && k.Expert >= 0 && k.Expert < s.experts
}

func (s *Simulator) index(k rt.Key) int { return int(k.Layer)*int(s.experts) + int(k.Expert) }

// Slots returns the number of device slots.
func (s *Simulator) Slots() int { return s.slots }

// Len returns the number of resident experts, pinned ones included.
func (s *Simulator) Len() int { return s.count }

// Peak returns the most experts resident after a plan.
func (s *Simulator) Peak() int { return s.peak }

// PeakInUse returns the most slots in use during a layer's compute: the
// experts resident after its plan and those the layer runs on the GPU
// whose slots are freed after the compute. A mechanism needs that many
// buffers; rt.Plan allows up to TopK more than the slots.
func (s *Simulator) PeakInUse() int { return s.peakInUse }

// Steps returns the number of plans executed.
func (s *Simulator) Steps() int64 { return s.step }

// Resident reports whether k holds a slot.
func (s *Simulator) Resident(k rt.Key) bool {
	return s.inShape(k) && s.state[s.index(k)]&resident != 0
}

// Pinned reports whether k is pinned.
func (s *Simulator) Pinned(k rt.Key) bool {
	return s.inShape(k) && s.state[s.index(k)]&pinned != 0
}

// Step checks the routing of one dispatch (CheckRouting) and executes the
// plan a policy made for it. A violation of the contract is returned as an
// error naming the step, the layer and the expert. After an error the
// simulator's slots are as far as it got, and every later Step returns the
// same error.
func (s *Simulator) Step(layer int, experts []int32, p *rt.Plan) error {
	if err := s.CheckRouting(layer, experts, nil); err != nil {
		return err
	}
	_, _, err := s.apply(layer, experts, p)
	return err
}

// CheckRouting reports what is wrong with the routing of the next step
// (the one Step executes next), before a policy sees it: a layer or expert
// out of the shape, an expert selected twice, scores (when not nil) not
// aligned with the experts.
func (s *Simulator) CheckRouting(layer int, experts []int32, scores []float32) error {
	if s.err != nil {
		return s.err
	}
	if layer < 0 || layer >= int(s.layers) {
		return s.fail(fmt.Errorf("step %d: routing layer %d is out of range [0,%d)", s.step, layer, s.layers))
	}
	if scores != nil && len(scores) != len(experts) {
		return s.fail(fmt.Errorf("step %d (layer %d): routing has %d experts but %d scores", s.step, layer, len(experts), len(scores)))
	}
	for i, e := range experts {
		if e < 0 || e >= s.experts {
			return s.fail(fmt.Errorf("step %d (layer %d): routing expert %d is out of range [0,%d)", s.step, layer, e, s.experts))
		}
		for _, f := range experts[:i] {
			if f == e {
				return s.fail(fmt.Errorf("step %d (layer %d): routing selects expert %d twice", s.step, layer, e))
			}
		}
	}
	return nil
}

func (s *Simulator) fail(err error) error {
	s.err = err
	return err
}

// violation records and returns a contract violation of the current step.
func (s *Simulator) violation(layer int, format string, args ...any) error {
	return s.fail(fmt.Errorf("step %d (layer %d): %s", s.step, layer, fmt.Sprintf(format, args...)))
}

// apply executes a plan for routing that CheckRouting accepted, and
// returns how many selected experts hit and how many ran on the GPU.
func (s *Simulator) apply(layer int, experts []int32, p *rt.Plan) (hits, gpu int, err error) {
	if p.Layer != layer {
		return 0, 0, s.violation(layer, "plan is for layer %d", p.Layer)
	}
	if len(p.Hit) != len(experts) || len(p.Device) != len(experts) {
		return 0, 0, s.violation(layer, "plan has %d hit flags and %d devices for %d experts", len(p.Hit), len(p.Device), len(experts))
	}
	st, delta := s.state, s.delta
	if err := s.mark(layer, p.Evict, "evicts", inEvict, -1); err != nil {
		return 0, 0, err
	}
	if err := s.mark(layer, p.Load, "loads", inLoad, 1); err != nil {
		return 0, 0, err
	}
	if err := s.mark(layer, p.Prefetch, "prefetches", inPrefetch, 1); err != nil {
		return 0, 0, err
	}

	// The selected experts, against the state before the plan.
	hit, dev := p.Hit[:len(experts)], p.Device[:len(experts)]
	base := layer * int(s.experts)
	freedAfter := 0 // GPU experts whose slots are freed after the compute
	for i, e := range experts {
		x := st[base+int(e)]
		switch {
		case hit[i] && x&(resident|inLoad) == 0:
			return 0, 0, s.violation(layer, "plan says %v hits, but it is neither resident nor loaded", rt.Key{Layer: int32(layer), Expert: e})
		case !hit[i] && x&resident != 0 && x&inEvict == 0:
			return 0, 0, s.violation(layer, "plan says %v misses, but it is resident", rt.Key{Layer: int32(layer), Expert: e})
		}
		if hit[i] {
			hits++
		}
		switch dev[i] {
		case rt.CPU:
			continue
		case rt.GPU:
			gpu++
		default:
			return 0, 0, s.violation(layer, "plan runs %v on unknown device %d", rt.Key{Layer: int32(layer), Expert: e}, dev[i])
		}
		if !hit[i] && x&inLoad == 0 {
			return 0, 0, s.violation(layer, "plan runs %v on the gpu after a miss, but does not load it", rt.Key{Layer: int32(layer), Expert: e})
		}
		// Resident before or loaded, as checked above; if not resident
		// after, it holds a slot until the compute ends.
		if int32(x&resident)+delta[base+int(e)] == 0 {
			freedAfter++
		}
	}

	// Per key, resident after = resident before + copies - evictions,
	// which must be 0 or 1.
	for _, ks := range [...][]rt.Key{p.Evict, p.Load, p.Prefetch} {
		for _, k := range ks {
			i := s.index(k)
			x := st[i]
			if x&done != 0 {
				continue
			}
			before := int32(x & resident)
			switch after := before + delta[i]; {
			case after < 0:
				return 0, 0, s.violation(layer, "plan evicts %v, which is not resident", k)
			case after > 1 && before == 1 && x&inLoad != 0:
				return 0, 0, s.violation(layer, "plan loads %v, which is already resident", k)
			case after > 1 && before == 1:
				return 0, 0, s.violation(layer, "plan prefetches %v, which is already resident", k)
			case after > 1:
				return 0, 0, s.violation(layer, "plan copies %v twice", k)
			case after != before:
				s.count += int(after - before)
				st[i] ^= resident
			}
			st[i] |= done
		}
	}
	if s.count > s.slots {
		return 0, 0, s.violation(layer, "plan leaves %d experts resident, more than the %d slots", s.count, s.slots)
	}
	for _, ks := range [...][]rt.Key{p.Evict, p.Load, p.Prefetch} {
		for _, k := range ks {
			i := s.index(k)
			st[i] &^= marks
			delta[i] = 0
		}
	}
	s.peak = max(s.peak, s.count)
	s.peakInUse = max(s.peakInUse, s.count+freedAfter)
	s.step++
	return hits, gpu, nil
}

// mark records keys of one of the plan's lists: each must be in the
// shape, and an evicted one not pinned.
func (s *Simulator) mark(layer int, keys []rt.Key, verb string, bit uint8, d int32) error {
	st, delta := s.state, s.delta
	for _, k := range keys {
		if !s.inShape(k) {
			return s.violation(layer, "plan %s %v, which is out of the shape", verb, k)
		}
		i := s.index(k)
		if bit == inEvict && st[i]&pinned != 0 {
			return s.violation(layer, "plan evicts %v, which is pinned", k)
		}
		st[i] |= bit
		delta[i] += d
	}
	return nil
}
