// attention.cu: rotary embeddings, the key/value cache, and attention of
// one token over the cache, split over the context so that a long cache is
// read by many blocks at once (flash-decoding), then merged.
#include "common.cuh"

// The key/value cache holds bf16 (half the bytes a long context reads
// each step) or float32 (exactly what was computed): kv_store and kv_load
// convert for either.
__device__ __forceinline__ void kv_store(bf16 *p, float v) { *p = f2bf(v); }
__device__ __forceinline__ void kv_store(float *p, float v) { *p = v; }
__device__ __forceinline__ float kv_load(const bf16 *p) { return bf2f(*p); }
__device__ __forceinline__ float kv_load(const float *p) { return *p; }

// rope: one block per head, q heads first, then k heads, then v heads.
// q and k are normalised (by mode), rotated NeoX style (the first half of a
// head pairs with the second), q written to q_out (never in place: with a
// full-width norm every block reads all of q) and k, v appended to the
// cache at the token's position (bf16 or float32: rope and rope_f32).
// The token's q, k, v are at qkv, its rotated q goes to q_out (rope_rows
// in prefill.cu runs it for many tokens).
template <typename KV>
__device__ void rope_kv(const RopeParams &p, int pos, const float *qkv, float *q_out) {
	__shared__ float red[32];
	int hd = p.head_dim, half = hd / 2;
	int b = blockIdx.x;
	int kvw = p.kv_heads * hd;
	size_t row = (size_t)pos * kvw;
	if (b >= p.heads + p.kv_heads) {  // v: copy to the cache
		int h = b - p.heads - p.kv_heads;
		const float *v = qkv + p.heads * hd + kvw + h * hd;
		KV *vc = reinterpret_cast<KV *>(p.vcache) + row + h * hd;
		for (int i = threadIdx.x; i < hd; i += blockDim.x) kv_store(vc + i, v[i]);
		return;
	}
	bool isq = b < p.heads;
	const float *v = isq ? qkv + b * hd : qkv + p.heads * hd + (b - p.heads) * hd;
	const bf16 *nw = reinterpret_cast<const bf16 *>(isq ? p.qnorm : p.knorm);
	float scale = 1.f;
	int off = 0;  // index of this head's first element in the norm weight
	if (p.qk_norm == 1) {  // full width: over every head of q (or of k)
		const float *all = isq ? qkv : qkv + p.heads * hd;
		scale = rms_scale(all, (isq ? p.heads : p.kv_heads) * hd, p.eps, red);
		off = (isq ? b : b - p.heads) * hd;
	} else if (p.qk_norm == 2) {  // per head
		scale = rms_scale(v, hd, p.eps, red);
	}
	const float *inv = reinterpret_cast<const float *>(p.inv_freq);
	for (int i = threadIdx.x; i < half; i += blockDim.x) {
		float x1 = v[i], x2 = v[i + half];
		if (p.qk_norm) {
			x1 = x1 * scale * bf2f(nw[off + i]);
			x2 = x2 * scale * bf2f(nw[off + i + half]);
		}
		float a = (float)pos * inv[i];
		float c = cosf(a) * p.attn_scale, s = sinf(a) * p.attn_scale;
		float r1 = x1 * c - x2 * s, r2 = x2 * c + x1 * s;
		if (isq) {
			float *qo = q_out + b * hd;
			qo[i] = r1;
			qo[i + half] = r2;
		} else {
			KV *kc = reinterpret_cast<KV *>(p.kcache) + row + (b - p.heads) * hd;
			kv_store(kc + i, r1);
			kv_store(kc + i + half, r2);
		}
	}
}

// attn: block (head, split) computes, over its share of positions
// [t0, t1), the running max m, the sum s of exp(score - m) and the
// unnormalised sum of exp(score - m) * v. Scores live in dynamic shared
// memory, one float per position of the share. MAXD bounds head_dim:
// MAX_HEAD_DIM, or MAX_MLA_DIM for attn_mla, which runs multi-head latent
// attention in its absorbed form as attention of one key/value head over
// the cache of latents: a head's query is [W_UK^T q_nope, q_pe], the key
// [c, k_pe] and the value the same row (its first rank outputs are the
// head's latent output; the rest is never read).
template <typename KV, int MAXD>
__device__ void attn_kv(const AttnParams &p) {
	extern __shared__ float scores[];
	__shared__ float red[32];
	__shared__ float qs[MAXD];
	int n = reinterpret_cast<const StepState *>(p.state)->pos + 1;
	int h = blockIdx.x, sp = blockIdx.y, hd = p.head_dim;
	int chunk = (n + p.splits - 1) / p.splits;
	int t0 = sp * chunk, t1 = min(n, t0 + chunk);
	float *po = reinterpret_cast<float *>(p.part_out) + ((size_t)h * p.splits + sp) * hd;
	float *pml = reinterpret_cast<float *>(p.part_ml) + ((size_t)h * p.splits + sp) * 2;
	const float *q = reinterpret_cast<const float *>(p.q) + h * hd;
	for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[i];
	__syncthreads();
	if (t0 >= t1) {
		for (int i = threadIdx.x; i < hd; i += blockDim.x) po[i] = 0.f;
		if (threadIdx.x == 0) { pml[0] = -INFINITY; pml[1] = 0.f; }
		return;
	}
	int kvh = h / (p.heads / p.kv_heads);
	int kvw = p.kv_heads * hd;
	const KV *kc = reinterpret_cast<const KV *>(p.kcache) + kvh * hd;
	const KV *vc = reinterpret_cast<const KV *>(p.vcache) + kvh * hd;
	int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, nw = blockDim.x / WARP;
	// Scores: a warp per position, lanes across the head.
	for (int t = t0 + warp; t < t1; t += nw) {
		const KV *k = kc + (size_t)t * kvw;
		float s = 0.f;
		for (int i = lane; i < hd; i += WARP) s = fmaf(kv_load(k + i), qs[i], s);
		s = warp_sum(s);
		if (lane == 0) scores[t - t0] = s * p.scale;
	}
	__syncthreads();
	float m = -INFINITY;
	for (int t = threadIdx.x; t < t1 - t0; t += blockDim.x) m = fmaxf(m, scores[t]);
	m = block_max(m, red);
	float sum = 0.f;
	for (int t = threadIdx.x; t < t1 - t0; t += blockDim.x) {
		float e = __expf(scores[t] - m);
		scores[t] = e;
		sum += e;
	}
	sum = block_sum(sum, red);  // its barriers also publish the exponentials
	// Values: each warp takes every nw-th position, its lanes across the
	// head, so that the warps read nw rows of the cache at once; then the
	// warps' sums are added through shared memory.
	float acc[MAXD / WARP];
#pragma unroll
	for (int j = 0; j < MAXD / WARP; j++) acc[j] = 0.f;
	for (int t = t0 + warp; t < t1; t += nw) {
		float w = scores[t - t0];
		const KV *v = vc + (size_t)t * kvw;
#pragma unroll
		for (int j = 0; j < MAXD / WARP; j++) {
			int i = lane + j * WARP;
			if (i < hd) acc[j] = fmaf(w, kv_load(v + i), acc[j]);
		}
	}
	__shared__ float part[ATTN_THREADS / WARP][MAXD];
#pragma unroll
	for (int j = 0; j < MAXD / WARP; j++) {
		int i = lane + j * WARP;
		if (i < hd) part[warp][i] = acc[j];
	}
	__syncthreads();
	for (int i = threadIdx.x; i < hd; i += blockDim.x) {
		float o = 0.f;
		for (int w = 0; w < nw; w++) o += part[w][i];
		po[i] = o;
	}
	if (threadIdx.x == 0) { pml[0] = m; pml[1] = sum; }
}

__device__ __forceinline__ int step_pos(const RopeParams &p) { return reinterpret_cast<const StepState *>(p.state)->pos; }
extern "C" __global__ void __launch_bounds__(ROPE_THREADS) rope(const RopeParams p) {
	rope_kv<bf16>(p, step_pos(p), reinterpret_cast<const float *>(p.qkv), reinterpret_cast<float *>(p.q_out));
}
extern "C" __global__ void __launch_bounds__(ROPE_THREADS) rope_f32(const RopeParams p) {
	rope_kv<float>(p, step_pos(p), reinterpret_cast<const float *>(p.qkv), reinterpret_cast<float *>(p.q_out));
}
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn(const AttnParams p) { attn_kv<bf16, MAX_HEAD_DIM>(p); }
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn_f32(const AttnParams p) { attn_kv<float, MAX_HEAD_DIM>(p); }
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn_mla(const AttnParams p) { attn_kv<bf16, MAX_MLA_DIM>(p); }
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn_mla_f32(const AttnParams p) { attn_kv<float, MAX_MLA_DIM>(p); }

// mla_rope: see MLARopeParams. Each product of the rotation is rounded
// before the sum, as complex64's (a+bi)(c+di) = (ac - bd) + (ad + bc)i in
// transformers' apply_rotary_emb (and the CPU twin's ropeInterleaved).
// The token at pos has its queries at q, its kv_a_proj_with_mqa output at
// kv and its q_out row at q_out (mla_rope_rows in prefill.cu runs it for
// many tokens).
template <typename KV>
__device__ void mla_rope_kv(const MLARopeParams &p, int pos, const float *q, const float *kv, float *q_out) {
	__shared__ float red[32];
	int half = p.rope / 2, row = p.rank + p.rope;
	const float *inv = reinterpret_cast<const float *>(p.inv_freq);
	const float *src;
	float *qo = 0;
	KV *kc = 0;
	if (blockIdx.x < p.heads) {
		src = q + blockIdx.x * (p.nope + p.rope) + p.nope;
		qo = q_out + blockIdx.x * row + p.rank;
	} else {
		const float *c = kv;
		src = c + p.rank;
		kc = reinterpret_cast<KV *>(p.cache) + (size_t)pos * row;
		float scale = rms_scale(c, p.rank, p.eps, red);
		const bf16 *w = reinterpret_cast<const bf16 *>(p.kv_norm);
		for (int i = threadIdx.x; i < p.rank; i += blockDim.x) kv_store(kc + i, __fmul_rn(c[i], scale) * bf2f(w[i]));
	}
	for (int i = threadIdx.x; i < half; i += blockDim.x) {
		float a = (float)pos * inv[i];
		float c = cosf(a) * p.attn_scale, s = sinf(a) * p.attn_scale;
		float re = src[2 * i], im = src[2 * i + 1];
		float r1 = __fsub_rn(__fmul_rn(re, c), __fmul_rn(im, s));
		float r2 = __fadd_rn(__fmul_rn(re, s), __fmul_rn(im, c));
		if (qo) {
			qo[2 * i] = r1;
			qo[2 * i + 1] = r2;
		} else {
			kv_store(kc + p.rank + 2 * i, r1);
			kv_store(kc + p.rank + 2 * i + 1, r2);
		}
	}
}

extern "C" __global__ void __launch_bounds__(ROPE_THREADS) mla_rope(const MLARopeParams p) {
	mla_rope_kv<bf16>(p, reinterpret_cast<const StepState *>(p.state)->pos, reinterpret_cast<const float *>(p.q),
	                  reinterpret_cast<const float *>(p.kv), reinterpret_cast<float *>(p.q_out));
}
extern "C" __global__ void __launch_bounds__(ROPE_THREADS) mla_rope_f32(const MLARopeParams p) {
	mla_rope_kv<float>(p, reinterpret_cast<const StepState *>(p.state)->pos, reinterpret_cast<const float *>(p.q),
	                   reinterpret_cast<const float *>(p.kv), reinterpret_cast<float *>(p.q_out));
}

// attn_combine merges the splits of each head: one block per head.
extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attn_combine(const AttnParams p) {
	int h = blockIdx.x, hd = p.head_dim;
	const float *po = reinterpret_cast<const float *>(p.part_out) + (size_t)h * p.splits * hd;
	const float *pml = reinterpret_cast<const float *>(p.part_ml) + (size_t)h * p.splits * 2;
	float m = -INFINITY;
	for (int s = 0; s < p.splits; s++) m = fmaxf(m, pml[2 * s]);
	float total = 0.f;
	for (int s = 0; s < p.splits; s++) {
		if (pml[2 * s + 1] > 0.f) total += pml[2 * s + 1] * __expf(pml[2 * s] - m);
	}
	float *out = reinterpret_cast<float *>(p.out) + h * hd;
	for (int i = threadIdx.x; i < hd; i += blockDim.x) {
		float o = 0.f;
		for (int s = 0; s < p.splits; s++) {
			if (pml[2 * s + 1] > 0.f) o += po[(size_t)s * hd + i] * __expf(pml[2 * s] - m);
		}
		out[i] = o / total;
	}
}
