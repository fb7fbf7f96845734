// Package cudart executes a policy's decisions on real memory: it is the
// mechanism that turns each rt.Plan into copies of expert weights between
// host memory and a GPU, as fast as the PCIe link allows.
//
// # Stores
//
// Store (build tag cuda, on gorgonia.org/cu and the CUDA driver API) holds
// every expert's weights in pinned host memory (the arena), one device
// allocation of Slots() x ExpertBytes, and a slot table from rt.Key to
// slot (dense arrays, no maps). Load copies go on a demand stream at the
// highest priority, Prefetch copies on a prefetch stream at the lowest;
// each slot has a ready event, recorded after its copy, that the compute
// stream waits on (on the GPU, not the host), and a use event, recorded
// after the kernels that read it, that a later copy into the slot waits
// on. HostStore is the same mechanism in host memory, with copies made by
// copy: it needs no GPU and no cgo, so the slot logic is tested by go test
// everywhere. Both run one implementation of the contract (slots.go);
// only the byte mover differs. Both satisfy Mechanism.
//
// # A layer's work
//
//	ckpt, err := model.Open("/models/qwen1.5-moe")
//	cfg, err := model.ReadConfig("/models/qwen1.5-moe/config.json")
//	experts, err := ckpt.Experts(cfg)
//	shape := cudart.ExpertShape(experts, cfg.TopK)
//	store, err := cudart.Open(cudart.OptionsFor(spec, shape)) // locks this goroutine's thread
//	err = cudart.Pack(experts, store.Host) // fill the arena before the first Apply
//	for each token, for each MoE layer:
//		policy.Dispatch(layer, experts, scores, &plan)
//		err = store.Apply(&plan) // starts the copies, returns at once
//		for i, e := range experts {
//			if plan.Device[i] == rt.GPU {
//				ptr, ready, _ := store.Ptr(rt.Key{Layer: int32(layer), Expert: e})
//				compute.Wait(ready, 0) // the kernel starts when the bytes are there
//				// launch the expert's kernels on compute, reading ptr
//			} // else run it on the CPU from store.Host(key)
//		}
//		err = store.Used(compute) // the slots read by this layer are in use until here
//
// The Plan is all Apply needs: it holds the selected experts
// (Plan.Experts), which Plan.Hit and Plan.Device are indexed by, and the
// contract frees an evicted expert after the layer's compute exactly when
// the layer runs it on the GPU.
//
// # The contract, as executed
//
// rt.Plan states the contract and rt.PlanChecker checks it, here as in
// the replay simulator; Apply executes each plan the checker accepts in
// this order. Per expert, resident after = resident before + its entries
// in Load and Prefetch - its entries in Evict, which must be 0 or 1, and
// pinned experts are never evicted.
//
//  1. The slots of the previous plan's deferred evictions (step 4) are
//     freed, if Used has not freed them.
//  2. The plan is checked (rt.PlanChecker.Check lists the rules). A
//     broken plan (an expert outside the shape, an eviction of a pinned
//     or absent expert, a copy of a resident one, a hit neither resident
//     nor loaded, a GPU miss not in Load, more resident experts than
//     Options.Capacity) is reported, naming the layer and the expert, and
//     changes nothing.
//  3. The evicted experts that the layer does not run on the GPU free their
//     slots, then each expert copied and not resident before takes the
//     longest-free slot: Load on the demand stream, then Prefetch. An
//     expert both copied and evicted that was resident before keeps its
//     slot and is not copied (Counters.Kept): weights do not change. One
//     in Prefetch and Evict that was not resident is not copied at all.
//  4. The evicted experts that the layer runs on the GPU (an evicted hit,
//     or a Load the policy does not keep) stay in their slots, readable
//     through Ptr, until Used or the next Apply frees them.
//
// # Slots
//
// Options.Capacity is the most experts the policy keeps resident after a
// plan, pinned ones included: spec.MaxSlots(shape), which covers adapt
// rules that grow the cache and per-layer budgets. A store has Capacity +
// TopK slots: during a layer's compute, up to TopK experts it runs but
// does not keep hold a slot beyond the policy's. OptionsFor fills both
// from a Spec, with its pins expanded to every layer (Options.Pinned).
// Pinned experts take their slots and are copied, on the demand stream,
// at the first Apply, before its plan; fill the arena before it.
//
// # Threads and allocation
//
// CUDA contexts are per OS thread. Open locks the calling goroutine to its
// thread and makes the device's primary context current; Close restores
// the previous context and unlocks. Host, Apply, Ptr, Used, Wait, Sync,
// Slot and Close must be called from the goroutine that called Open;
// Counters may be called from any goroutine. Open allocates everything:
// Apply, Used and Ptr allocate nothing. After a failed CUDA call a Store
// is unusable (every method returns the error) and should be closed; a
// broken plan is not such a failure.
//
// # Weights
//
// Package model reads checkpoints: model.Open maps a model's safetensors
// files, and Checkpoint.Experts finds each expert's gate, up and down
// projections by the naming of Mixtral, Qwen1.5/2/3-MoE, DeepSeek-V2/V3
// and OLMoE. Pack copies them, gate, up, down, contiguously into the
// arena, on every core; ExpertShape is the rt.Shape of the experts found.
//
// # Building
//
// The cuda-tagged files need cuda.h and a libcuda.so to link against:
// scripts/cuda-headers.sh fetches both from Debian, and docs/GPU.md says
// how to build the test binary here and run it on a GPU machine.
package cudart
