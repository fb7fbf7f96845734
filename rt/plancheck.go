package rt

import "fmt"

// An Outcome is what an accepted plan does to one expert it names: the
// facts a mechanism executes the plan by, as PlanChecker.Check found them.
type Outcome uint8

// The facts of an Outcome.
const (
	// OnGPU: the expert is selected and the layer runs it on the GPU.
	OnGPU Outcome = 1 << iota
	// ResidentBefore: the expert was resident before the plan.
	ResidentBefore
	// ResidentAfter: the expert is resident after the plan.
	ResidentAfter
	// Copied: the expert was not resident and takes a slot and a copy,
	// because it stays resident or the layer runs it from a Load. One
	// resident before and after keeps its slot and is not Copied, however
	// often the plan copies it.
	Copied
	// FreedBefore: the expert was resident, is not after, and the layer
	// does not run it on the GPU: its slot is freed before the copies.
	FreedBefore
	// FreedAfter: the layer runs the expert on the GPU and it is not
	// resident after: its slot is freed after the layer's compute.
	FreedAfter
)

// The residency state of a key in a PlanChecker.
const (
	resident uint8 = 1 << iota
	pinned
)

// A PlanChecker is the one implementation of the contract that Plan
// states. It holds the residency of every (layer, expert) of a shape, as
// a mechanism that executes plans sees it, and checks each plan against
// it before the mechanism acts: the replay Simulator and cudart's stores
// execute a plan only once Check has accepted it, and report its error
// otherwise. Check allocates nothing unless it rejects a plan.
//
// The zero value is not usable; call NewPlanChecker.
type PlanChecker struct {
	shape    Shape
	capacity int
	keys     []planKey // by dense index, layer*Experts+expert
	count    int       // resident experts, pinned ones included
	inUse    int       // count plus the FreedAfter experts of the last plan
	kept     int
	epoch    uint32 // the plan being checked; a planKey's scratch is valid where its mark is epoch
	named    []Key  // the distinct keys the plan names, in the order named
}

// planKey is what a PlanChecker knows of one key: its residency, and the
// scratch of the plan being checked, kept together so that a plan touches
// one small record per key it names.
type planKey struct {
	mark                 uint32 // the epoch the scratch is for
	nLoad, nPref, nEvict int32  // entries in Load, Prefetch and Evict
	out                  Outcome
	state                uint8 // resident, pinned
}

// NewPlanChecker returns the checker of a mechanism that keeps at most
// capacity experts of shape resident after a plan, pinned ones included,
// with the pinned experts resident from the start.
func NewPlanChecker(shape Shape, capacity int, pin []Key) (*PlanChecker, error) {
	if err := shape.Validate(); err != nil {
		return nil, err
	}
	if capacity < 1 {
		return nil, fmt.Errorf("capacity %d, need at least 1", capacity)
	}
	if len(pin) > capacity {
		return nil, fmt.Errorf("%d pinned experts do not fit the capacity %d", len(pin), capacity)
	}
	n := shape.Layers * shape.Experts
	c := &PlanChecker{
		shape: shape, capacity: capacity,
		keys:  make([]planKey, n),
		named: make([]Key, 0, min(n, 64)),
	}
	for _, k := range pin {
		if !c.inShape(k) {
			return nil, fmt.Errorf("pinned expert %v is outside the shape (%d layers, %d experts)", k, shape.Layers, shape.Experts)
		}
		x := &c.keys[c.index(k)]
		if x.state != 0 {
			return nil, fmt.Errorf("expert %v is pinned twice", k)
		}
		x.state = resident | pinned
	}
	c.count, c.inUse = len(pin), len(pin)
	return c, nil
}

// Shape returns the shape the checker was made for.
func (c *PlanChecker) Shape() Shape { return c.shape }

// Capacity returns the most experts resident after a plan.
func (c *PlanChecker) Capacity() int { return c.capacity }

func (c *PlanChecker) inShape(k Key) bool {
	return k.Layer >= 0 && int(k.Layer) < c.shape.Layers && k.Expert >= 0 && int(k.Expert) < c.shape.Experts
}

func (c *PlanChecker) index(k Key) int { return int(k.Layer)*c.shape.Experts + int(k.Expert) }

// Resident reports whether k is resident.
func (c *PlanChecker) Resident(k Key) bool {
	return c.inShape(k) && c.keys[c.index(k)].state&resident != 0
}

// Pinned reports whether k is pinned.
func (c *PlanChecker) Pinned(k Key) bool {
	return c.inShape(k) && c.keys[c.index(k)].state&pinned != 0
}

// Len returns the number of resident experts, pinned ones included.
func (c *PlanChecker) Len() int { return c.count }

// InUse returns the number of slots the last accepted plan's layer uses
// during its compute: the resident experts and the FreedAfter ones.
func (c *PlanChecker) InUse() int { return c.inUse }

// Kept returns the number of Load and Prefetch entries of the last
// accepted plan that named an expert resident before and after it: copies
// a mechanism skips, keeping the slot.
func (c *PlanChecker) Kept() int { return c.kept }

// Named returns the distinct experts the last accepted plan names
// (selected, loaded, prefetched or evicted), in the order first named;
// empty after a rejected plan. The slice is the checker's, valid until the
// next Check.
func (c *PlanChecker) Named() []Key { return c.named }

// Outcome returns what the last accepted plan does to k: 0 for an expert
// it does not name, and after a rejected plan.
func (c *PlanChecker) Outcome(k Key) Outcome {
	if !c.inShape(k) {
		return 0
	}
	x := &c.keys[c.index(k)]
	if x.mark != c.epoch {
		return 0
	}
	return x.out
}

// newEpoch forgets the last plan's scratch.
func (c *PlanChecker) newEpoch() {
	c.epoch++
	if c.epoch == 0 { // wrapped: forget every mark
		for i := range c.keys {
			c.keys[i].mark = 0
		}
		c.epoch = 1
	}
	c.named = c.named[:0]
}

// touch starts the per-plan state of k, once per plan, and returns it.
func (c *PlanChecker) touch(k Key) *planKey {
	x := &c.keys[c.index(k)]
	if x.mark != c.epoch {
		x.mark, x.out, x.nLoad, x.nPref, x.nEvict = c.epoch, 0, 0, 0, 0
		c.named = append(c.named, k)
	}
	return x
}

// reject forgets the plan being checked and returns its error.
func (c *PlanChecker) reject(p *Plan, format string, args ...any) error {
	c.newEpoch()
	return fmt.Errorf("plan for layer %d: %s", p.Layer, fmt.Sprintf(format, args...))
}

// Check reports the first way p breaks the contract that Plan states or,
// if p keeps it, makes p's residency the checker's and records what p does
// to each expert it names (Named, Outcome). A rejected plan changes no
// residency. The checks, in order:
//
//   - p.Layer is in the shape; Hit and Device hold one entry per selected
//     expert (p.Experts), and there are at most TopK of them.
//   - Every selected expert is in the shape and runs on the GPU or the
//     CPU; every key in Load, Prefetch and Evict is in the shape.
//   - Load names only experts this layer runs on the GPU, and Evict no
//     pinned expert.
//   - A hit was resident before the plan or is in Load (a background copy
//     made earlier in the same dispatch that the layer now needs). A miss
//     was not resident, or the plan evicts it: a cache that handles the
//     selected experts one by one can evict one before reaching it. A miss
//     run on the GPU is in Load (Prefetch is waited for by nobody).
//   - Per expert, resident before + its entries in Load and Prefetch - its
//     entries in Evict is 0 or 1: an evicted expert was resident or is
//     copied; a copied one was not resident or is evicted.
//   - After the plan, at most the capacity experts are resident.
//
// An expert selected twice is one expert, run twice. Errors name the
// plan's layer and the expert:
//
//	plan for layer 3: evicts expert (3, 17), which is not resident
func (c *PlanChecker) Check(p *Plan) error {
	sh := c.shape
	c.newEpoch()
	experts := p.Experts
	switch {
	case p.Layer < 0 || p.Layer >= sh.Layers:
		return c.reject(p, "the layer is outside the shape's layers 0 to %d", sh.Layers-1)
	case len(p.Hit) != len(experts) || len(p.Device) != len(experts):
		return c.reject(p, "%d hit flags and %d devices for %d selected experts", len(p.Hit), len(p.Device), len(experts))
	case len(experts) > sh.TopK:
		return c.reject(p, "%d selected experts, more than top-k %d", len(experts), sh.TopK)
	}
	layer := int32(p.Layer)
	for j, e := range experts {
		k := Key{Layer: layer, Expert: e}
		if !c.inShape(k) {
			return c.reject(p, "selected expert %d is outside the shape's experts 0 to %d", e, sh.Experts-1)
		}
		x := c.touch(k)
		switch p.Device[j] {
		case GPU:
			x.out |= OnGPU
		case CPU:
		default:
			return c.reject(p, "expert %v runs on device %d, neither the GPU nor the CPU", k, p.Device[j])
		}
	}
	for _, k := range p.Load {
		if !c.inShape(k) {
			return c.reject(p, "Load names expert %v, outside the shape (%d layers, %d experts)", k, sh.Layers, sh.Experts)
		}
		x := &c.keys[c.index(k)]
		if x.mark != c.epoch || x.out&OnGPU == 0 {
			return c.reject(p, "Load names expert %v, which this layer does not run on the GPU", k)
		}
		x.nLoad++
	}
	for _, k := range p.Prefetch {
		if !c.inShape(k) {
			return c.reject(p, "Prefetch names expert %v, outside the shape (%d layers, %d experts)", k, sh.Layers, sh.Experts)
		}
		c.touch(k).nPref++
	}
	for _, k := range p.Evict {
		if !c.inShape(k) {
			return c.reject(p, "Evict names expert %v, outside the shape (%d layers, %d experts)", k, sh.Layers, sh.Experts)
		}
		x := c.touch(k)
		if x.state&pinned != 0 {
			return c.reject(p, "evicts pinned expert %v", k)
		}
		x.nEvict++
	}
	for j, e := range experts {
		k := Key{Layer: layer, Expert: e}
		x := &c.keys[c.index(k)]
		wasResident, loaded := x.state&resident != 0, x.nLoad > 0
		switch {
		case p.Hit[j] && !wasResident && !loaded:
			return c.reject(p, "expert %v hits, but it is neither resident nor in Load", k)
		case !p.Hit[j] && wasResident && x.nEvict == 0:
			return c.reject(p, "expert %v misses, but it is resident and not evicted", k)
		case p.Device[j] == GPU && !p.Hit[j] && !loaded:
			return c.reject(p, "expert %v misses and runs on the GPU, but it is not in Load", k)
		}
	}
	after, freedAfter, kept := c.count, 0, 0
	for _, k := range c.named {
		x := &c.keys[c.index(k)]
		o := x.out
		before := int32(x.state & resident)
		copies := x.nLoad + x.nPref
		n := before + copies - x.nEvict
		switch {
		case n < 0 && before == 0 && copies == 0:
			return c.reject(p, "evicts expert %v, which is not resident", k)
		case n < 0:
			return c.reject(p, "evicts expert %v %d times, but it is resident %d and copied %d times", k, x.nEvict, before, copies)
		case n > 1 && before == 1:
			return c.reject(p, "copies expert %v, which is already resident", k)
		case n > 1:
			return c.reject(p, "copies expert %v %d times, evicting it %d times", k, copies, x.nEvict)
		}
		if before == 1 {
			o |= ResidentBefore
		}
		if n == 1 {
			o |= ResidentAfter
		}
		switch {
		case before == 0 && (n == 1 || x.nLoad > 0):
			o |= Copied
		case before == 1 && n == 1:
			kept += int(copies)
		}
		switch {
		case n == 0 && o&OnGPU != 0:
			o |= FreedAfter
			freedAfter++
		case n == 0 && before == 1:
			o |= FreedBefore
		}
		after += int(n - before)
		x.out = o
	}
	if after > c.capacity {
		return c.reject(p, "leaves %d experts resident, more than the capacity %d", after, c.capacity)
	}
	for _, k := range c.named {
		x := &c.keys[c.index(k)]
		if o := x.out; (o&ResidentBefore != 0) != (o&ResidentAfter != 0) {
			x.state ^= resident
		}
	}
	c.count, c.inUse, c.kept = after, after+freedAfter, kept
	return nil
}
