// Package replay runs a policy over routing offline against a simulated
// mechanism, and measures it: hits and misses per layer, transfers and
// bytes, CPU executions, a modeled time per token (CostModel), and the
// offline optimum for the same slots (Belady).
//
// # The mechanism contract
//
// A mechanism (cudart on a GPU, the Simulator here) executes every rt.Plan
// without knowing the policy, by the contract that rt.Plan's documentation
// states. It holds a fixed number of device slots, each holding one
// (layer, expert) pair; pinned experts occupy their slots from the start
// and never leave. Per expert, resident after the plan = resident before +
// its entries in Load and Prefetch - its entries in Evict, and that is 0
// or 1. A mechanism executes a plan in this order:
//
//  1. Release the slots of the evicted experts that this layer does not
//     run on the GPU, in Evict order.
//  2. Copy Plan.Load and wait for it; start Plan.Prefetch in the
//     background (nobody waits for it). Where a plan both copies and
//     evicts an expert, the net count decides: one resident before and
//     after keeps its slot (the mechanism may skip the copy); one not
//     resident after that the layer runs on the GPU holds a slot until
//     step 4.
//  3. Run each selected expert on Plan.Device[i].
//  4. Release the slots of the evicted experts this layer ran on the GPU.
//
// The Simulator checks, for each plan, and reports the first violation:
//
//   - Plan.Layer is the dispatch's layer, and Hit and Device hold one entry
//     per selected expert, each device GPU or CPU.
//   - Every key in Load, Prefetch and Evict is in the shape, and no pinned
//     expert is evicted.
//   - Per key, resident before + copies - evictions is 0 or 1: an evicted
//     expert was resident or is copied; a copied one was not resident or
//     is evicted; nothing is copied twice unless evicted in between.
//   - A hit was resident before the plan or is in Load (a background copy
//     made earlier in the same dispatch that the layer now needs). A miss
//     was not resident, or the plan evicts it: a cache that handles the
//     selected experts one by one, as the reference's do, can evict one
//     before reaching it, and then it misses.
//   - A miss run on the GPU is in Load (not only in Prefetch, which nobody
//     waits for).
//   - After the plan, the resident experts, pinned ones included, do not
//     outnumber the slots. During the compute, the experts of step 4 take
//     slots beyond that (at most one per selected expert); Result.PeakInUse
//     says how many were needed.
//
// Errors name the step (the dispatch, counted from 0 in source order), the
// layer and the expert:
//
//	step 1042 (layer 3): plan evicts (3, 17), which is not resident
//
// Such an error is a bug in the policy, never in the routing; routing that
// is out of the shape is reported before the policy sees it.
package replay
