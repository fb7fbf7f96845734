package replay

import (
	"fmt"
	"slices"

	"github.com/moepolicy/moec/rt"
)

// A Simulator is a mechanism that moves no bytes: it executes plans on a
// set of device slots, checking each against the contract with an
// rt.PlanChecker, and checks the routing each plan answers. Its state is
// the checker's, 20 bytes per (layer, expert); Step allocates nothing
// unless it fails.
type Simulator struct {
	c     *rt.PlanChecker
	shape rt.Shape
	peak  int // resident after a plan
	// peakInUse counts also the experts run on the GPU whose slots are
	// freed after the compute.
	peakInUse int
	step      int64
	err       error // the first violation; every later Step returns it
}

// NewSimulator returns a simulator of slots device slots for a model of the
// given shape, with the pinned experts resident from the start (the caller
// expands a policy's pin list over the layers; see PinnedKeys).
func NewSimulator(shape rt.Shape, slots int, pin []rt.Key) (*Simulator, error) {
	c, err := rt.NewPlanChecker(shape, slots, pin)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	return &Simulator{c: c, shape: shape, peak: len(pin), peakInUse: len(pin)}, nil
}

// Slots returns the number of device slots.
func (s *Simulator) Slots() int { return s.c.Capacity() }

// Len returns the number of resident experts, pinned ones included.
func (s *Simulator) Len() int { return s.c.Len() }

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
func (s *Simulator) Resident(k rt.Key) bool { return s.c.Resident(k) }

// Pinned reports whether k is pinned.
func (s *Simulator) Pinned(k rt.Key) bool { return s.c.Pinned(k) }

// Step checks the routing of one dispatch (CheckRouting) and executes the
// plan a policy made for it. A violation of the contract is returned as an
// error naming the step, the layer and the expert. After an error the
// simulator's slots are as they were before the plan, and every later
// Step returns the same error.
func (s *Simulator) Step(layer int, experts []int32, p *rt.Plan) error {
	if err := s.CheckRouting(layer, experts, nil); err != nil {
		return err
	}
	_, _, err := s.apply(layer, experts, p)
	return err
}

// CheckRouting reports what is wrong with the routing of the next step
// (the one Step executes next), before a policy sees it: a layer or expert
// out of the shape, more experts than the shape's top-k, an expert
// selected twice, scores (when not nil) not aligned with the experts.
func (s *Simulator) CheckRouting(layer int, experts []int32, scores []float32) error {
	if s.err != nil {
		return s.err
	}
	sh := s.shape
	if layer < 0 || layer >= sh.Layers {
		return s.fail(fmt.Errorf("step %d: routing layer %d is out of range [0,%d)", s.step, layer, sh.Layers))
	}
	if len(experts) > sh.TopK {
		return s.fail(fmt.Errorf("step %d (layer %d): routing selects %d experts, more than top-k %d", s.step, layer, len(experts), sh.TopK))
	}
	if scores != nil && len(scores) != len(experts) {
		return s.fail(fmt.Errorf("step %d (layer %d): routing has %d experts but %d scores", s.step, layer, len(experts), len(scores)))
	}
	for i, e := range experts {
		if e < 0 || int(e) >= sh.Experts {
			return s.fail(fmt.Errorf("step %d (layer %d): routing expert %d is out of range [0,%d)", s.step, layer, e, sh.Experts))
		}
		if slices.Contains(experts[:i], e) {
			return s.fail(fmt.Errorf("step %d (layer %d): routing selects expert %d twice", s.step, layer, e))
		}
	}
	return nil
}

func (s *Simulator) fail(err error) error {
	s.err = err
	return err
}

// apply executes a plan for routing that CheckRouting accepted, and
// returns how many selected experts hit and how many ran on the GPU.
func (s *Simulator) apply(layer int, experts []int32, p *rt.Plan) (hits, gpu int, err error) {
	switch {
	case p.Layer != layer:
		return 0, 0, s.fail(fmt.Errorf("step %d: plan for layer %d: the routing is for layer %d", s.step, p.Layer, layer))
	case !slices.Equal(p.Experts, experts):
		return 0, 0, s.fail(fmt.Errorf("step %d: plan for layer %d: selected experts %v, the routing selects %v", s.step, p.Layer, p.Experts, experts))
	}
	if err := s.c.Check(p); err != nil {
		return 0, 0, s.fail(fmt.Errorf("step %d: %w", s.step, err))
	}
	for i, h := range p.Hit {
		if h {
			hits++
		}
		if p.Device[i] == rt.GPU {
			gpu++
		}
	}
	s.peak = max(s.peak, s.c.Len())
	s.peakInUse = max(s.peakInUse, s.c.InUse())
	s.step++
	return hits, gpu, nil
}
