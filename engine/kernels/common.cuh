// common.cuh: helpers every kernel file shares.
#pragma once
#include "params.h"

typedef unsigned short bf16;

#define WARP 32

__device__ __forceinline__ float bf2f(bf16 v) {
	return __uint_as_float(((unsigned int)v) << 16);
}

// f2bf rounds to nearest even, as torch does.
__device__ __forceinline__ bf16 f2bf(float f) {
	unsigned int u = __float_as_uint(f);
	if ((u & 0x7f800000u) == 0x7f800000u) {  // inf or nan
		return (bf16)((u >> 16) | ((u & 0xffff) ? 0x40 : 0));
	}
	u += 0x7fffu + ((u >> 16) & 1u);
	return (bf16)(u >> 16);
}

// The two bf16 halves of a 32-bit word.
__device__ __forceinline__ float lo(unsigned int w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float hi(unsigned int w) { return __uint_as_float(w & 0xffff0000u); }

// dot8 returns the dot product of 8 bf16 weights packed in w and 8 floats.
__device__ __forceinline__ float dot8(uint4 w, const float *x) {
	float s = lo(w.x) * x[0];
	s = fmaf(hi(w.x), x[1], s);
	s = fmaf(lo(w.y), x[2], s);
	s = fmaf(hi(w.y), x[3], s);
	s = fmaf(lo(w.z), x[4], s);
	s = fmaf(hi(w.z), x[5], s);
	s = fmaf(lo(w.w), x[6], s);
	s = fmaf(hi(w.w), x[7], s);
	return s;
}

// Sum and Max are the reductions the warp and block helpers take.
struct Sum {
	static __device__ __forceinline__ float id() { return 0.f; }
	static __device__ __forceinline__ float op(float a, float b) { return a + b; }
};
struct Max {
	static __device__ __forceinline__ float id() { return -INFINITY; }
	static __device__ __forceinline__ float op(float a, float b) { return fmaxf(a, b); }
};

// warp_reduce combines v over the warp; every lane gets the result.
template <typename Op>
__device__ __forceinline__ float warp_reduce(float v) {
#pragma unroll
	for (int o = 16; o > 0; o >>= 1) v = Op::op(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce<Sum>(v); }
__device__ __forceinline__ float warp_max(float v) { return warp_reduce<Max>(v); }

// block_reduce combines v over the block (at most 1024 threads); every
// thread gets the result. red is shared scratch of 32 floats.
template <typename Op>
__device__ __forceinline__ float block_reduce(float v, float *red) {
	int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
	v = warp_reduce<Op>(v);
	__syncthreads();
	if (lane == 0) red[warp] = v;
	__syncthreads();
	int nw = (blockDim.x + WARP - 1) / WARP;
	v = lane < nw ? red[lane] : Op::id();
	return warp_reduce<Op>(v);
}

__device__ __forceinline__ float block_sum(float v, float *red) { return block_reduce<Sum>(v, red); }
__device__ __forceinline__ float block_max(float v, float *red) { return block_reduce<Max>(v, red); }

// rms_scale returns 1/sqrt(mean(x^2) + eps) over n floats, for the whole
// block, as transformers' RMSNorm computes it in float32.
__device__ __forceinline__ float rms_scale(const float *x, int n, float eps, float *red) {
	float s = 0.f;
	for (int i = threadIdx.x; i < n; i += blockDim.x) s = fmaf(x[i], x[i], s);
	s = block_sum(s, red);
	return rsqrtf(s / n + eps);
}

// load8 loads 8 consecutive floats of x from c.
__device__ __forceinline__ void load8(float *v, const float *x, int c) {
	float4 a = *reinterpret_cast<const float4 *>(x + c);
	float4 b = *reinterpret_cast<const float4 *>(x + c + 4);
	v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
	v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}

// rows_dot computes the dot products of R rows of n bf16 weights (n a
// multiple of 8; row r starts at rows[r]) with x, the block's threads
// splitting the columns 8 at a time, so that R 16-byte loads per thread
// are in flight at each step; every thread of the block gets the R sums.
// red is shared scratch of 32*R floats.
template <int R>
__device__ __forceinline__ void rows_dot(float *out, const bf16 *const *rows, const float *x, int n, float *red) {
	float acc[R];
	const uint4 *rp[R];
#pragma unroll
	for (int r = 0; r < R; r++) {
		acc[r] = 0.f;
		rp[r] = reinterpret_cast<const uint4 *>(rows[r]);
	}
#pragma unroll 2
	for (int c = threadIdx.x; c < n / 8; c += blockDim.x) {
		uint4 wv[R];
#pragma unroll
		for (int r = 0; r < R; r++) wv[r] = __ldg(rp[r] + c);
		float xv[8];
		load8(xv, x, c * 8);
#pragma unroll
		for (int r = 0; r < R; r++) acc[r] += dot8(wv[r], xv);
	}
	int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, nw = blockDim.x / WARP;
#pragma unroll
	for (int r = 0; r < R; r++) {
		float v = warp_sum(acc[r]);
		if (lane == 0) red[r * 32 + warp] = v;
	}
	__syncthreads();
#pragma unroll
	for (int r = 0; r < R; r++) {
		float v = lane < nw ? red[r * 32 + lane] : 0.f;
		out[r] = warp_sum(v);
	}
}

// pick returns v[i] for a run-time i < R without indexing a register array
// at run time (which would move it to local memory).
template <int R>
__device__ __forceinline__ float pick(const float *v, int i) {
	float out = v[0];
#pragma unroll
	for (int r = 1; r < R; r++) if (r == i) out = v[r];
	return out;
}
