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
// The Simulator checks that each plan answers the dispatch's routing
// (its layer and selected experts) and checks it against the contract
// with rt.PlanChecker, the one checker cudart's stores use too, whose
// Check lists the rules; it reports the first violation. After a plan,
// the resident experts, pinned ones included, do not outnumber the slots;
// during the compute, the experts of step 4 take slots beyond that (at
// most one per selected expert), and Result.PeakInUse says how many were
// needed.
//
// Errors name the step (the dispatch, counted from 0 in source order), the
// plan's layer and the expert:
//
//	step 1042: plan for layer 3: evicts expert (3, 17), which is not resident
//
// Such an error is a bug in the policy, never in the routing; routing that
// is out of the shape is reported before the policy sees it.
package replay
