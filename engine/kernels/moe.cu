// moe.cu: the router and the experts of a sparse layer at batch 1.
//
// The router's softmax and top-k run on the GPU, so a step needs no round
// trip through the host when every expert is resident. The experts of a
// token take two launches for all of them: moe_up (gate and up
// projections with SiLU * mul; grid rows are the selected experts, the
// shared expert or a dense layer's MLP as one more) and moe_down (the down
// projections, each scaled by its combine weight into its own slice of
// parts, which the next add_norm sums in a fixed order: no atomics, the
// same bits every run). Expert weights are found through a per-layer table
// of device pointers indexed by expert id, or, under a policy, through a
// table of the selected experts' addresses that the host writes for each
// layer: either way the captured graph stays valid wherever the experts
// live.
#include "common.cuh"

// route is the router's work for one token on one warp: the softmax of
// logit over p.experts, the top-k (among the kept groups, when grouped)
// into sel and their weights (renormalised, scaled as p says) into wt
// (then the shared expert's), and, when p.trace is set, the choice in the
// trace's row at position pos() (called only then). router runs it for
// the decode step's token, router_rows (prefill.cu) for each row of a
// chunk.
template <typename Pos>
__device__ __forceinline__ void route(const RouterParams &p, const float *logit, int *sel, float *wt, Pos pos) {
	int lane = threadIdx.x;
	// Each lane holds experts lane, lane + 32, ...; each round the warp
	// finds the largest logit not yet taken (ties to the lower id, as
	// torch.topk on distinct values and the CPU twin).
	float m = -INFINITY;
	for (int e = lane; e < p.experts; e += WARP) m = fmaxf(m, logit[e]);
	m = warp_max(m);
	float sum = 0.f;
	for (int e = lane; e < p.experts; e += WARP) sum += __expf(logit[e] - m);
	sum = warp_sum(sum);
	// group_limited_greedy: lane g scores group g by its best logit, which
	// orders the groups as their best probabilities do (the softmax is
	// monotonic), and the warp keeps the groups_kept best (ties to the
	// lower group); the top-k below skips the experts of the others.
	unsigned kept = 0xffffffffu;  // bit g: group g's experts may be chosen
	int gsize = p.experts;
	if (p.groups > 1) {
		gsize = p.experts / p.groups;
		float gs = -INFINITY;
		if (lane < p.groups) {
			for (int e = lane * gsize; e < (lane + 1) * gsize; e++) gs = fmaxf(gs, logit[e]);
		}
		kept = 0;
		for (int j = 0; j < p.groups_kept; j++) {
			bool cand = lane < p.groups && !((kept >> lane) & 1u);
			float bv = cand ? gs : -INFINITY;
			int bi = cand ? lane : 0x7fffffff;
			for (int o = 16; o > 0; o >>= 1) {
				float ov = __shfl_xor_sync(0xffffffffu, bv, o);
				int oi = __shfl_xor_sync(0xffffffffu, bi, o);
				if (ov > bv || (ov == bv && oi < bi)) { bv = ov; bi = oi; }
			}
			kept |= 1u << bi;
		}
	}
	unsigned taken = 0;  // bit j: expert lane + 32 j is chosen (MAX_EXPERTS / 32 = 8 bits)
	float ksum = 0.f;
	for (int k = 0; k < p.topk; k++) {
		float bv = -INFINITY;
		int bi = 0x7fffffff;
		for (int j = 0, e = lane; e < p.experts; j++, e += WARP) {
			if (!((taken >> j) & 1u) && ((kept >> (e / gsize)) & 1u) && (logit[e] > bv || bi == 0x7fffffff)) { bv = logit[e]; bi = e; }
		}
		for (int o = 16; o > 0; o >>= 1) {
			float ov = __shfl_xor_sync(0xffffffffu, bv, o);
			int oi = __shfl_xor_sync(0xffffffffu, bi, o);
			if (ov > bv || (ov == bv && oi < bi)) { bv = ov; bi = oi; }
		}
		if (bi % WARP == lane) taken |= 1u << (bi / WARP);
		float w = __expf(bv - m) / sum;
		ksum += w;
		if (lane == 0) { sel[k] = bi; wt[k] = w; }
	}
	if (lane != 0) return;
	if (p.norm_topk) {
		for (int k = 0; k < p.topk; k++) wt[k] /= ksum;
	}
	if (p.scale != 0.f) {
		for (int k = 0; k < p.topk; k++) wt[k] *= p.scale;
	}
	wt[p.topk] = p.shared_gate ? 1.f / (1.f + __expf(-logit[p.experts])) : 1.f;  // an ungated shared expert counts once
	if (p.trace) {
		int *tr = reinterpret_cast<int *>(p.trace) + (size_t)pos() * p.topk;
		for (int k = 0; k < p.topk; k++) tr[k] = sel[k];
	}
}

// router: one warp. Softmax over all experts in float32, top-k (ties to
// the lower id), weights renormalised when norm_topk is set. The logits
// come from a gemv over many blocks: one block reading the router's
// matrix alone took 29 µs a layer on the H200.
extern "C" __global__ void __launch_bounds__(WARP) router(const RouterParams p) {
	route(p, reinterpret_cast<const float *>(p.logits), reinterpret_cast<int *>(p.sel), reinterpret_cast<float *>(p.weights),
	      [&] { return reinterpret_cast<const StepState *>(p.state)->pos; });
}

// expert returns the weights and width of entry k of the layer's list:
// a selected expert, or (k == topk) the shared expert or dense MLP.
__device__ __forceinline__ void expert(const MoEParams &p, int k, const bf16 **g, const bf16 **u, const bf16 **d, int *inter) {
	if (k < p.topk && p.slots) {
		const dptr *t = reinterpret_cast<const dptr *>(p.slots) + 3 * k;
		*g = reinterpret_cast<const bf16 *>(t[0]);
		*u = reinterpret_cast<const bf16 *>(t[1]);
		*d = reinterpret_cast<const bf16 *>(t[2]);
		*inter = p.inter;
	} else if (k < p.topk) {
		int e = reinterpret_cast<const int *>(p.sel)[k];
		*g = reinterpret_cast<const bf16 *const *>(p.gate_tab)[e];
		*u = reinterpret_cast<const bf16 *const *>(p.up_tab)[e];
		*d = reinterpret_cast<const bf16 *const *>(p.down_tab)[e];
		*inter = p.inter;
	} else {
		*g = reinterpret_cast<const bf16 *>(p.shared_gate_w);
		*u = reinterpret_cast<const bf16 *>(p.shared_up_w);
		*d = reinterpret_cast<const bf16 *>(p.shared_down_w);
		*inter = p.shared_inter;
	}
}

// moe_up: grid (row tiles, entries). A block computes MOE_UP_ROWS rows of
// gate and of up for one entry and stores silu(g) * u.
extern "C" __global__ void __launch_bounds__(MOE_THREADS) moe_up(const MoEParams p) {
	__shared__ float red[32 * 2 * MOE_UP_ROWS];
	const bf16 *gw, *uw, *dw;
	int inter;
	int k = blockIdx.y;
	expert(p, k, &gw, &uw, &dw, &inter);
	int row0 = blockIdx.x * MOE_UP_ROWS;
	if (row0 >= inter || !gw) return;  // !gw: the host runs this expert  // the shared expert is wider: its tiles set the grid
	const bf16 *rows[2 * MOE_UP_ROWS];  // gate rows, then up rows
#pragma unroll
	for (int r = 0; r < MOE_UP_ROWS; r++) {
		size_t at = (size_t)min(row0 + r, inter - 1) * p.hidden;
		rows[r] = gw + at;
		rows[MOE_UP_ROWS + r] = uw + at;
	}
	float s[2 * MOE_UP_ROWS];
	rows_dot<2 * MOE_UP_ROWS>(s, rows, reinterpret_cast<const float *>(p.xn), p.hidden, red);
	int r = threadIdx.x;
	if (r < MOE_UP_ROWS && row0 + r < inter) {
		float g = pick<2 * MOE_UP_ROWS>(s, r), u = pick<2 * MOE_UP_ROWS>(s, MOE_UP_ROWS + r);
		reinterpret_cast<float *>(p.act)[(size_t)k * p.act_stride + row0 + r] = g / (1.f + __expf(-g)) * u;
	}
}

// moe_down: grid (row tiles, entries). A block computes MOE_DOWN_ROWS rows
// of one entry's down projection, scaled by its combine weight, into that
// entry's slice of parts.
extern "C" __global__ void __launch_bounds__(MOE_THREADS) moe_down(const MoEParams p) {
	__shared__ float red[32 * MOE_DOWN_ROWS];
	const bf16 *gw, *uw, *dw;
	int inter;
	int k = blockIdx.y;
	expert(p, k, &gw, &uw, &dw, &inter);
	if (!gw) return;  // the host runs this expert and writes its part
	int row0 = blockIdx.x * MOE_DOWN_ROWS;
	const bf16 *rows[MOE_DOWN_ROWS];
#pragma unroll
	for (int r = 0; r < MOE_DOWN_ROWS; r++) rows[r] = dw + (size_t)min(row0 + r, p.hidden - 1) * inter;
	float s[MOE_DOWN_ROWS];
	rows_dot<MOE_DOWN_ROWS>(s, rows, reinterpret_cast<const float *>(p.act) + (size_t)k * p.act_stride, inter, red);
	if (threadIdx.x < MOE_DOWN_ROWS && row0 + (int)threadIdx.x < p.hidden) {
		float v = pick<MOE_DOWN_ROWS>(s, threadIdx.x);
		float w = reinterpret_cast<const float *>(p.weights)[k];
		reinterpret_cast<float *>(p.parts)[(size_t)k * p.hidden + row0 + threadIdx.x] = w * v;
	}
}
