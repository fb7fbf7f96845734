package engine

import (
	"fmt"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/model"
)

// Workspace returns the bytes of a GPU of gpuMem bytes kept back for what
// is not a weight, a cache entry or a cached expert: the CUDA context, the
// activations, the top-k slots of the experts a layer runs without
// keeping (cudart.Options.Slots) and the allocator's slack. A tenth of the
// GPU, at least 1 GiB: moec auto keeps back the same (its reserve), so
// the capacity it writes for a GPU is what a store under that cap holds.
func Workspace(gpuMem int64) int64 { return max(1<<30, gpuMem/10) }

// A MemoryPlan is how Options.GPUMem is spent: the skeleton (every weight
// but the routed experts), the key/value cache for the context and the
// workspace first, then as many expert slots as the rest holds.
type MemoryPlan struct {
	GPUMem    int64 // the cap
	Skeleton  int64 // the weights that are not routed experts, in bf16 as the GPU path holds them
	KV        int64 // the key/value cache of MaxContext tokens, bf16 or float32 (Options.KVFloat32)
	Workspace int64 // Workspace(GPUMem)
	// ExpertBytes is one slot: one expert as the checkpoint stores it,
	// the bytes the store copies.
	ExpertBytes int64
	// Slots is how many experts the cap leaves room to keep: what is left
	// after the skeleton, the cache and the workspace, over ExpertBytes,
	// at most every expert of the model.
	Slots int
	// Capacity is the most experts the policy keeps: its largest
	// capacity, adapt rules and per-layer budgets included
	// (rt.Spec.MaxSlots, cudart.OptionsFor), at most every expert. At
	// most Slots.
	Capacity int
	// StoreSlots is the store's slots: Capacity plus top-k for the
	// experts a layer runs without keeping, which the workspace holds.
	StoreSlots int
}

// Left returns the bytes the cap leaves for slots, negative when the
// skeleton, the cache and the workspace exceed it.
func (p *MemoryPlan) Left() int64 { return p.GPUMem - p.Skeleton - p.KV - p.Workspace }

// planMemory spends o.GPUMem on cfg with a store of so (its Shape set),
// or says in bytes why the store does not fit.
func planMemory(cfg *model.Config, o Options, so cudart.Options) (*MemoryPlan, error) {
	p := &MemoryPlan{GPUMem: o.GPUMem, Skeleton: 2 * cfg.NonExpertParams().Total(), Workspace: Workspace(o.GPUMem),
		ExpertBytes: so.Shape.ExpertBytes, StoreSlots: so.Slots(), Capacity: so.Slots() - so.Shape.TopK}
	kv, err := cfg.KVBytes(int64(o.MaxContext))
	if err != nil {
		return nil, fmt.Errorf("engine: %v", err)
	}
	if o.KVFloat32 {
		kv *= 2
	}
	p.KV = kv
	if left := p.Left(); left > 0 {
		p.Slots = int(min(left/p.ExpertBytes, int64(so.Shape.Layers*so.Shape.Experts)))
	}
	if p.Capacity > p.Slots {
		return nil, fmt.Errorf("engine: policy %s keeps up to %d experts of %d bytes (%d bytes), but a cap of %d bytes leaves %d after the skeleton (%d), the KV cache of %d tokens (%d) and the workspace (%d): room for %d slots",
			o.Policy.Name(), p.Capacity, p.ExpertBytes, int64(p.Capacity)*p.ExpertBytes, p.GPUMem, max(p.Left(), 0),
			p.Skeleton, o.MaxContext, p.KV, p.Workspace, p.Slots)
	}
	return p, nil
}
