package rt

import "fmt"

// Shape is what a policy needs to know of the model it serves.
type Shape struct {
	Layers      int   // MoE layers
	Experts     int   // routed experts per layer
	TopK        int   // experts selected per token per layer
	ExpertBytes int64 // bytes of one expert's weights; 0 when unknown
}

// Validate reports what is impossible about the shape.
func (s Shape) Validate() error {
	switch {
	case s.Layers < 1:
		return fmt.Errorf("shape has %d layers, need at least 1", s.Layers)
	case s.Experts < 1:
		return fmt.Errorf("shape has %d experts per layer, need at least 1", s.Experts)
	case s.TopK < 1 || s.TopK > s.Experts:
		return fmt.Errorf("shape has top-k %d, need 1 to %d (the experts per layer)", s.TopK, s.Experts)
	case s.ExpertBytes < 0:
		return fmt.Errorf("shape has %d bytes per expert, need 0 (unknown) or more", s.ExpertBytes)
	case int64(s.Layers)*int64(s.Experts) > 1<<31-1:
		return fmt.Errorf("shape has %d x %d experts, more than fit a 32-bit index", s.Layers, s.Experts)
	}
	return nil
}

// Key names one expert's weights: expert Expert of layer Layer. Expert 3
// of layer 0 and expert 3 of layer 17 are different weights.
type Key struct {
	Layer, Expert int32
}

func (k Key) String() string { return fmt.Sprintf("(%d, %d)", k.Layer, k.Expert) }

// Device is where a selected expert runs.
type Device uint8

// The devices.
const (
	GPU Device = iota
	CPU
)

func (d Device) String() string {
	if d == CPU {
		return "cpu"
	}
	return "gpu"
}

// A Plan is what one dispatch decided, for a mechanism to execute without
// knowing the policy. Dispatch fills it, reusing its slices: nothing is
// allocated per call once they have grown.
//
// The contract with a mechanism: for every expert, resident after the
// plan = resident before + its entries in Load and Prefetch - its entries
// in Evict, which is always 0 or 1, and pinned experts are never in Evict.
// An evicted expert that this layer runs on the GPU (a hit, or a Load) is
// freed after the layer's compute, the others before the copies: so a
// miss the policy does not keep (all slots pinned, or a
// frequency-threshold cache that does not admit it) appears in both Load
// and Evict, and runs from a slot freed after the layer. A Hit was
// resident before the plan or is in Load (a background copy made earlier
// in the same dispatch that the layer now needs). An expert may appear
// more than once in Evict (evicted before its turn, loaded again, then not
// kept); one resident both before and after the plan keeps its slot, and
// a mechanism need not copy it again. Resident experts never outnumber
// the policy's slots (Spec.MaxSlots) after a plan; during a layer's
// compute, up to TopK more may be in use. Pinned experts, every layer's
// Cache.Pin ids, are resident from the start. PlanChecker checks a plan
// against this contract; every mechanism executes only what it accepts.
type Plan struct {
	Layer    int
	Experts  []int32  // the selected experts, in input order (a copy)
	Hit      []bool   // per selected expert, in input order
	Device   []Device // per selected expert, in input order
	Load     []Key    // experts to copy to the GPU now (misses run on the GPU)
	Prefetch []Key    // experts to copy ahead of need, nobody waits for them
	Evict    []Key    // experts whose GPU slots are released, in eviction order
}

// Reset empties the plan for a dispatch of experts at layer, keeping its
// storage.
func (p *Plan) Reset(layer int, experts []int32) {
	p.start(layer, experts)
	clear(p.Hit)
	clear(p.Device)
}

// start is Reset but for clearing Hit and Device, for a caller that
// writes every entry of both.
func (p *Plan) start(layer int, experts []int32) {
	n := len(experts)
	if cap(p.Experts) < n || cap(p.Hit) < n || cap(p.Device) < n {
		p.grow(n)
	}
	p.Layer = layer
	p.Experts, p.Hit, p.Device = p.Experts[:n], p.Hit[:n], p.Device[:n]
	copy(p.Experts, experts)
	p.Load, p.Prefetch, p.Evict = p.Load[:0], p.Prefetch[:0], p.Evict[:0]
}

// grow gives Experts, Hit and Device room for n entries each.
func (p *Plan) grow(n int) {
	if cap(p.Experts) < n {
		p.Experts = make([]int32, n)
	}
	if cap(p.Hit) < n {
		p.Hit = make([]bool, n)
	}
	if cap(p.Device) < n {
		p.Device = make([]Device, n)
	}
}

// A Policy decides, once per MoE layer per token, which selected experts
// are resident, where each runs, and what to load, prefetch and evict.
type Policy interface {
	// Dispatch handles the router's selection at one layer: experts in
	// top-k order and their router weights (scores may be nil). It fills p
	// and allocates nothing.
	//
	// The call must fit the Shape the policy was built for: 0 <= layer <
	// Layers; at most TopK experts, each 0 <= e < Experts (one listed
	// twice is run twice); scores nil or one per expert; p not nil.
	// Dispatch panics on a call that does not, before it changes
	// anything, with a message that names the broken condition ("rt:
	// Dispatch at layer 0: expert 16 is out of range [0, 16)"): expert
	// ids are numbered across layers, so an unchecked id out of range
	// would silently be another layer's expert. The interpreter and
	// generated code check alike (Ledger.Begin).
	Dispatch(layer int, experts []int32, scores []float32, p *Plan)
	// Stats returns a snapshot of the counters. It is safe to call from
	// another goroutine while Dispatch runs.
	Stats() Stats
	// Name returns the policy's name.
	Name() string
}
