// prefill.cu: the prompt in chunks of PREFILL_T tokens, each weight read
// once per chunk instead of once per token.
//
// The arithmetic, Qwen1.5-MoE-A2.7B on the H200 (4.8 TB/s HBM, about 60
// TFLOP/s of fp32 FMA, 700+ TFLOP/s of dense bf16 tensor math). A token
// costs 2 x 86 M multiply-adds a layer (q/k/v 12.6 M, o 4.2 M, 4 experts
// 34.6 M, the shared expert 34.6 M): 4.1 GFLOP over 24 layers, 0.53 TFLOP
// for a chunk of 128. A chunk reads the layers' weights once: 60 experts
// of which a chunk of T tokens touches 60 (1 - (56/60)^T) on uniform
// routing, 53 at T = 32, 59.3 at 64 and 60 at 128, so 22-25 GB plus 3.5
// GB of the rest, 5-6 ms at 4.8 TB/s. On fp32 CUDA cores the chunk's
// 0.53 TFLOP take 9 ms at full rate (more in practice), more than the
// reads; on tensor cores a few ms even with every product done twice
// (below). So the products run on tensor cores (mma.sync m16n8k16, bf16
// in, fp32 accumulate, sm_80 on), and PREFILL_T = 128 makes a chunk read
// each expert about once: 0.2 GB of weights per token against 4.8 GB a
// decode step, a floor near 20,000 tokens/s.
//
// Precision: the weights are bf16 already; an fp32 activation x is split
// into hi = bf16(x) and lo = bf16(x - hi), and W x = W hi + W lo (two
// products, each exact in fp32, summed in fp32), so x is carried to 16
// significant bits (relative error 2^-17) rather than bf16's 8: prefill
// then computes what the decode step's fp32 GEMVs compute up to the order
// of the sums, and chooses the same experts.
//
// A GEMM block is four warps; warp w computes output rows [16w, 16w+16)
// of the block's 64 against tiles of 8 tokens (the mma's M is the weights'
// rows and its N the tokens, so an expert's few tokens fill an 8-wide tile
// rather than a 16-wide one). A lane loads 16 bytes (8 bf16) of each of
// rows g and g + 8 of its warp, and the 8 matching floats of token g of
// each tile, straight into the fragments: the reduction's order within a
// 32-wide block of k is permuted alike for both operands, which the sum
// does not see (see gemm_body). No shared memory, no barriers.
#include "common.cuh"

// embed_rows: a block per token.
extern "C" __global__ void __launch_bounds__(256) embed_rows(const EmbedRowsParams p) {
	int t = blockIdx.x;
	if (t >= p.rows) return;
	int tok = reinterpret_cast<const int *>(p.prompt)[p.pos0 + t];
	if (tok < 0 || tok >= p.vocab) tok = 0;  // checked on the host; never read out of bounds
	if (threadIdx.x == 0) reinterpret_cast<int *>(p.out)[p.pos0 + t] = tok;
	const bf16 *row = reinterpret_cast<const bf16 *>(p.table) + (size_t)tok * p.hidden;
	float *x = reinterpret_cast<float *>(p.x) + (size_t)t * p.hidden;
	for (int i = threadIdx.x; i < p.hidden; i += blockDim.x) x[i] = bf2f(row[i]);
}

// add_norm_rows: add_norm (gemv.cu) on each row, a block per row: the
// parts are summed in the same order, so a row's bits are a decode step's.
extern "C" __global__ void __launch_bounds__(NORM_THREADS) add_norm_rows(const NormRowsParams p) {
	int t = blockIdx.x;
	if (t >= p.rows) return;
	const NormParams &n = p.norm;
	size_t at = (size_t)t * n.n, xat = (size_t)t * (p.x_ld ? p.x_ld : n.n);
	norm_row(n, reinterpret_cast<float *>(n.x) + xat, reinterpret_cast<const float *>(n.parts) + (size_t)t * p.parts_stride,
	         reinterpret_cast<float *>(n.xn) + at);
}

// rope_rows: grid (heads + 2 kv_heads, rows); rope (attention.cu) per token.
template <typename KV>
__device__ void rope_rows_kv(const RopeRowsParams &p) {
	int t = blockIdx.y;
	if (t >= p.rows) return;
	const RopeParams &r = p.rope;
	size_t qkvw = (size_t)(r.heads + 2 * r.kv_heads) * r.head_dim, qw = (size_t)r.heads * r.head_dim;
	rope_kv<KV>(r, p.pos0 + t, reinterpret_cast<const float *>(r.qkv) + t * qkvw, reinterpret_cast<float *>(r.q_out) + t * qw);
}

extern "C" __global__ void __launch_bounds__(ROPE_THREADS) rope_rows(const RopeRowsParams p) { rope_rows_kv<bf16>(p); }
extern "C" __global__ void __launch_bounds__(ROPE_THREADS) rope_rows_f32(const RopeRowsParams p) { rope_rows_kv<float>(p); }

// mla_rope_rows: grid (heads + 1, rows); mla_rope (attention.cu) per
// token, each at its own position.
template <typename KV>
__device__ void mla_rope_rows_kv(const MLARopeRowsParams &p) {
	int t = blockIdx.y;
	if (t >= p.rows) return;
	const MLARopeParams &r = p.rope;
	size_t qo = (size_t)r.heads * (r.rank + r.rope);
	mla_rope_kv<KV>(r, p.pos0 + t, reinterpret_cast<const float *>(r.q) + (size_t)t * p.q_ld,
	                reinterpret_cast<const float *>(r.kv) + (size_t)t * p.kv_ld, reinterpret_cast<float *>(r.q_out) + t * qo);
}

extern "C" __global__ void __launch_bounds__(ROPE_THREADS) mla_rope_rows(const MLARopeRowsParams p) { mla_rope_rows_kv<bf16>(p); }
extern "C" __global__ void __launch_bounds__(ROPE_THREADS) mla_rope_rows_f32(const MLARopeRowsParams p) { mla_rope_rows_kv<float>(p); }

// attn_rows: grid (heads, rows), four warps. Query t (position pos0 + t)
// attends positions 0..pos0 + t; warp w takes positions w, w + 4, ...
// with a running max, sum and weighted sum of values (online softmax), its
// lanes across the head; the warps are merged at the end. The scores are
// never stored, so any context fits. MAXD bounds head_dim: MAX_HEAD_DIM,
// or MAX_MLA_DIM for attn_mla_rows, which runs multi-head latent
// attention in its absorbed form as attn_mla does (one key/value head of
// latent rows, each both key and value).
template <typename KV, int MAXD>
__device__ void attn_rows_kv(const AttnRowsParams &p) {
	constexpr int NW = ATTN_THREADS / WARP, PER = MAXD / WARP;
	__shared__ float wm[NW], wl[NW];
	__shared__ float wacc[NW][MAXD];
	int h = blockIdx.x, t = blockIdx.y;
	if (t >= p.rows) return;  // the whole block, before any barrier
	int hd = p.head_dim, n = p.pos0 + t + 1;
	int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
	const float *q = reinterpret_cast<const float *>(p.q) + ((size_t)t * p.heads + h) * hd;
	float qv[PER];
#pragma unroll
	for (int j = 0; j < PER; j++) {
		int i = lane + j * WARP;
		qv[j] = i < hd ? q[i] : 0.f;
	}
	int kvh = h / (p.heads / p.kv_heads);
	int kvw = p.kv_heads * hd;
	const KV *kc = reinterpret_cast<const KV *>(p.kcache) + kvh * hd;
	const KV *vc = reinterpret_cast<const KV *>(p.vcache) + kvh * hd;
	float m = -INFINITY, l = 0.f, acc[PER];
#pragma unroll
	for (int j = 0; j < PER; j++) acc[j] = 0.f;
	for (int pos = warp; pos < n; pos += NW) {
		const KV *k = kc + (size_t)pos * kvw;
		float s = 0.f;
#pragma unroll
		for (int j = 0; j < PER; j++) {
			int i = lane + j * WARP;
			if (i < hd) s = fmaf(kv_load(k + i), qv[j], s);
		}
		s = warp_sum(s) * p.scale;
		float mn = fmaxf(m, s);
		float c = __expf(m - mn);  // 0 at the first position, where m is -inf
		float e = __expf(s - mn);
		l = fmaf(l, c, e);
		const KV *v = vc + (size_t)pos * kvw;
#pragma unroll
		for (int j = 0; j < PER; j++) {
			int i = lane + j * WARP;
			if (i < hd) acc[j] = fmaf(e, kv_load(v + i), acc[j] * c);
		}
		m = mn;
	}
	if (lane == 0) { wm[warp] = m; wl[warp] = l; }
#pragma unroll
	for (int j = 0; j < PER; j++) {
		int i = lane + j * WARP;
		if (i < hd) wacc[warp][i] = acc[j];
	}
	__syncthreads();
	float mx = -INFINITY;
	for (int w = 0; w < NW; w++) mx = fmaxf(mx, wm[w]);
	float total = 0.f;
	for (int w = 0; w < NW; w++) {
		if (wl[w] > 0.f) total += wl[w] * __expf(wm[w] - mx);  // a warp with no position has l = 0
	}
	float *out = reinterpret_cast<float *>(p.out) + ((size_t)t * p.heads + h) * hd;
	for (int i = threadIdx.x; i < hd; i += blockDim.x) {
		float o = 0.f;
		for (int w = 0; w < NW; w++) {
			if (wl[w] > 0.f) o += wacc[w][i] * __expf(wm[w] - mx);
		}
		out[i] = o / total;
	}
}

extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn_rows(const AttnRowsParams p) { attn_rows_kv<bf16, MAX_HEAD_DIM>(p); }
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn_rows_f32(const AttnRowsParams p) { attn_rows_kv<float, MAX_HEAD_DIM>(p); }
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn_mla_rows(const AttnRowsParams p) { attn_rows_kv<bf16, MAX_MLA_DIM>(p); }
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn_mla_rows_f32(const AttnRowsParams p) { attn_rows_kv<float, MAX_MLA_DIM>(p); }

// router_rows: a warp per token, computing what router (moe.cu) computes
// for one, by the same route: the same softmax, top-k order, ties and
// weights.
extern "C" __global__ void __launch_bounds__(WARP) router_rows(const RouterRowsParams rp) {
	int t = blockIdx.x;
	if (t >= rp.rows) return;
	const RouterParams &p = rp.router;
	route(p, reinterpret_cast<const float *>(p.logits) + (size_t)t * rp.ld, reinterpret_cast<int *>(p.sel) + (size_t)t * p.topk,
	      reinterpret_cast<float *>(p.weights) + (size_t)t * (p.topk + 1), [&] { return rp.pos0 + t; });
}

// group_experts: one block, a thread per expert. Each thread counts and
// then lists its expert's slots in ascending order, so the grouping (and
// every sum downstream) is the same every run; the offsets are a prefix
// sum by one thread over at most MAX_EXPERTS counts.
extern "C" __global__ void __launch_bounds__(GROUP_THREADS) group_experts(const GroupParams p) {
	__shared__ int ssel[PREFILL_T * MAX_TOPK];
	__shared__ int soff[MAX_EXPERTS + 1];
	int slots = p.rows * p.topk;  // the host keeps rows <= PREFILL_T, topk <= MAX_TOPK
	const int *sel = reinterpret_cast<const int *>(p.sel);
	for (int s = threadIdx.x; s < slots; s += blockDim.x) ssel[s] = sel[s];
	__syncthreads();
	int e = threadIdx.x;
	int count = 0;
	if (e < p.experts) {
		for (int s = 0; s < slots; s++) count += ssel[s] == e;
		soff[e + 1] = count;
	}
	__syncthreads();
	if (threadIdx.x == 0) {
		soff[0] = 0;
		for (int i = 0; i < p.experts; i++) soff[i + 1] += soff[i];
	}
	__syncthreads();
	int *off = reinterpret_cast<int *>(p.offsets);
	for (int i = threadIdx.x; i <= p.experts; i += blockDim.x) off[i] = soff[i];
	if (e < p.experts && count > 0) {
		int *list = reinterpret_cast<int *>(p.list) + soff[e];
		for (int s = 0, j = 0; s < slots; s++) {
			if (ssel[s] == e) list[j++] = s;
		}
	}
}

// pack2 rounds a and b to bf16 (to nearest even) into one word, a in the
// low half: the order of the k index in an mma fragment register.
__device__ __forceinline__ unsigned pack2(float a, float b) {
	unsigned d;
	asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(b), "f"(a));
	return d;
}

// split8 splits 8 floats into bf16 hi words and lo words (the rounding
// error of hi, rounded): h[i], l[i] hold elements 2i and 2i + 1.
__device__ __forceinline__ void split8(const float *x, unsigned *h, unsigned *l) {
#pragma unroll
	for (int i = 0; i < 4; i++) {
		unsigned w = pack2(x[2 * i], x[2 * i + 1]);
		h[i] = w;
		l[i] = pack2(x[2 * i] - lo(w), x[2 * i + 1] - hi(w));
	}
}

// mma accumulates the 16x8 tile d += a (16x16 bf16, row-major fragment)
// times b (16x8 bf16, column-major fragment).
__device__ __forceinline__ void mma(float *d, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
	             : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
	             : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// mma32 adds the products of 32 columns to the tile d: ra and rb are the
// lane's 8 weights of its rows g and g + 8, x its 8 activations of token
// g, all at columns [8q, 8q + 8) of the 32. The fragments of m16n8k16 give
// lane (g, q) the k indices 2q, 2q+1 (registers a0, a1, b0) and 2q+8,
// 2q+9 (a2, a3, b1); here the first mma's k 2q, 2q+1 are columns 8q,
// 8q+1, its 2q+8, 2q+9 columns 8q+2, 8q+3, and the second's columns 8q+4
// to 8q+7 alike. That maps the 2 x 16 k indices onto the 32 columns one
// to one, and the same way for the weights and the activations, so each
// product is summed exactly once.
__device__ __forceinline__ void mma32(float *d, uint4 ra, uint4 rb, const unsigned *xh, const unsigned *xl) {
	mma(d, ra.x, rb.x, ra.y, rb.y, xh[0], xh[1]);
	mma(d, ra.x, rb.x, ra.y, rb.y, xl[0], xl[1]);
	mma(d, ra.z, rb.z, ra.w, rb.w, xh[2], xh[3]);
	mma(d, ra.z, rb.z, ra.w, rb.w, xl[2], xl[3]);
}

__device__ __forceinline__ int out_row(const GemmParams &p, int s) { return (s / p.odiv) * p.omul + s % p.odiv + p.oadd; }

// gemm_body: see GemmParams. Block (token tile, row tile of a head) over
// items 0..rows-1, or (row tile, group) over a group's list, looping over its
// items GEMM_TOKENS at a time so that the block reads its weights once
// per pass (once, for all but the most chosen experts of a chunk).
template <bool GATED>
__device__ void gemm_body(const GemmParams &p) {
	constexpr int TILES = GEMM_TOKENS / 8;
	int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
	int g = lane >> 2, q = lane & 3;
	const int *offs = reinterpret_cast<const int *>(p.offsets);
	const int *list = reinterpret_cast<const int *>(p.list);
	int i0, i1, tile;
	size_t head = 0;  // of a head-batched product: blockIdx.y = head * tiles + tile
	if (offs) {
		tile = blockIdx.x;
		i0 = offs[blockIdx.y];
		i1 = offs[blockIdx.y + 1];
	} else {
		int tiles = (p.n + GEMM_ROWS - 1) / GEMM_ROWS;
		head = blockIdx.y / tiles;
		tile = blockIdx.y % tiles;
		i0 = blockIdx.x * GEMM_TOKENS;
		i1 = min(p.rows, i0 + GEMM_TOKENS);
	}
	int r0 = tile * GEMM_ROWS + warp * 16;
	if (i0 >= i1 || r0 >= p.n) return;  // no barriers below: a warp may leave alone
	const bf16 *w = reinterpret_cast<const bf16 *>(p.w), *w2 = reinterpret_cast<const bf16 *>(p.w2);
	if (offs) {
		w = reinterpret_cast<const bf16 *const *>(p.w_tab)[blockIdx.y];
		if (GATED) w2 = reinterpret_cast<const bf16 *const *>(p.w2_tab)[blockIdx.y];
	} else if (head) {
		w += head * p.w_stride;
		if (GATED) w2 += head * p.w_stride;
	}
	// Rows past n are clamped to the last: computed and dropped.
	size_t ra = (size_t)min(r0 + g, p.n - 1) * p.k, rb = (size_t)min(r0 + g + 8, p.n - 1) * p.k;
	const uint4 *wa = reinterpret_cast<const uint4 *>(w + ra), *wb = reinterpret_cast<const uint4 *>(w + rb);
	const uint4 *ua = 0, *ub = 0;
	if (GATED) {
		ua = reinterpret_cast<const uint4 *>(w2 + ra);
		ub = reinterpret_cast<const uint4 *>(w2 + rb);
	}
	const float *x = reinterpret_cast<const float *>(p.x) + head * p.x_stride;
	float *y = reinterpret_cast<float *>(p.y) + head * p.y_stride;
	const float *scale = reinterpret_cast<const float *>(p.scale);
	const bf16 *bias = reinterpret_cast<const bf16 *>(p.bias);
	int kb = (p.k + 31) / 32;
	const uint4 zero = make_uint4(0, 0, 0, 0);
	for (int t0 = i0; t0 < i1; t0 += GEMM_TOKENS) {
		int nt = min(GEMM_TOKENS, i1 - t0);
		const float *xr[TILES];  // this lane's token in each tile, or 0 past the items
#pragma unroll
		for (int j = 0; j < TILES; j++) {
			int it = 8 * j + g;
			xr[j] = 0;
			if (it < nt) {
				int s = offs ? list[t0 + it] : t0 + it;
				int in = p.in_mapped ? out_row(p, s) : s / p.odiv;
				xr[j] = x + (size_t)in * p.ldx;
			}
		}
		float acc[TILES][4], acc2[TILES][4];
#pragma unroll
		for (int j = 0; j < TILES; j++) {
#pragma unroll
			for (int e = 0; e < 4; e++) acc[j][e] = acc2[j][e] = 0.f;
		}
		// The next block of weights is loaded before this one is used, so
		// two are in flight.
		uint4 na = 8 * q < p.k ? __ldg(wa + q) : zero, nb = 8 * q < p.k ? __ldg(wb + q) : zero, nu = zero, nv = zero;
		if (GATED && 8 * q < p.k) {
			nu = __ldg(ua + q);
			nv = __ldg(ub + q);
		}
		for (int b = 0; b < kb; b++) {
			uint4 ca = na, cb = nb, cu = nu, cv = nv;
			int c = 32 * b + 8 * q;  // this lane's 8 columns: all in or all out, k being a multiple of 8
			int cn = c + 32;
			if (cn < p.k) {
				na = __ldg(wa + cn / 8);
				nb = __ldg(wb + cn / 8);
				if (GATED) {
					nu = __ldg(ua + cn / 8);
					nv = __ldg(ub + cn / 8);
				}
			} else {
				na = nb = nu = nv = zero;  // past k: multiplied by zeros, but never stale
			}
			bool in = c < p.k;
#pragma unroll
			for (int j = 0; j < TILES; j++) {
				if (8 * j >= nt) break;  // the same for the whole warp
				float xv[8];
				if (xr[j] && in) {
					load8(xv, xr[j], c);
				} else {
#pragma unroll
					for (int e = 0; e < 8; e++) xv[e] = 0.f;
				}
				unsigned xh[4], xl[4];
				split8(xv, xh, xl);
				mma32(acc[j], ca, cb, xh, xl);
				if (GATED) mma32(acc2[j], cu, cv, xh, xl);
			}
		}
		// Lane (g, q) holds rows r0 + g (e = 0, 1) and r0 + g + 8 (e = 2,
		// 3) of tokens 8j + 2q (e even) and 8j + 2q + 1 (e odd).
#pragma unroll
		for (int j = 0; j < TILES; j++) {
#pragma unroll
			for (int e = 0; e < 4; e++) {
				int row = r0 + g + (e >= 2 ? 8 : 0);
				int it = 8 * j + 2 * q + (e & 1);
				if (row >= p.n || it >= nt) continue;
				int s = offs ? list[t0 + it] : t0 + it;
				int r = out_row(p, s);
				float v = acc[j][e];
				if (GATED) {
					float u = acc2[j][e];
					v = v / (1.f + __expf(-v)) * u;
				} else {
					if (bias) v += bf2f(bias[row]);
					if (scale) v *= scale[r];
				}
				float *o = y + (size_t)r * p.ldy + row;
				*o = p.accumulate ? *o + v : v;
			}
		}
	}
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm(const GemmParams p) { gemm_body<false>(p); }
extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm_gated(const GemmParams p) { gemm_body<true>(p); }
