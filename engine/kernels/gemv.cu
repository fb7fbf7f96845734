// gemv.cu: matrix-vector products at batch 1, the bulk of a decode step,
// and the norms that feed them.
//
// Decode reads every weight once per token, so these kernels are bound by
// memory bandwidth. A block of four warps computes R rows, the warps
// splitting the columns: each thread loads 16 bytes (8 bf16) of each of
// the R rows per step, so 2R loads are in flight before the first use,
// and the host picks R so that a matrix of any height gives the GPU's
// 132 SMs many blocks each (a 2048-row o_proj is 1024 blocks of R = 2, a
// 151936-row lm_head 18992 of R = 8). Products accumulate in float32.
#include "common.cuh"

template <int R>
__device__ void gemv_rows(const GemvParams &p) {
	__shared__ float red[32 * R];
	int row0 = blockIdx.x * R;
	size_t h = blockIdx.y;  // the head of a head-batched product; 0 otherwise
	const bf16 *w = reinterpret_cast<const bf16 *>(p.w) + h * p.w_stride;
	const bf16 *rows[R];
#pragma unroll
	for (int r = 0; r < R; r++) rows[r] = w + (size_t)min(row0 + r, p.rows - 1) * p.cols;  // a clamped row is computed and dropped
	float s[R];
	rows_dot<R>(s, rows, reinterpret_cast<const float *>(p.x) + h * p.x_stride, p.cols, red);
	if (threadIdx.x >= R || row0 + (int)threadIdx.x >= p.rows) return;
	int row = row0 + threadIdx.x;
	float v = pick<R>(s, threadIdx.x);
	const bf16 *bias = reinterpret_cast<const bf16 *>(p.bias);
	if (bias) v += bf2f(bias[row]);
	float *y = reinterpret_cast<float *>(p.y) + h * p.y_stride;
	y[row] = p.accumulate ? y[row] + v : v;
}

extern "C" __global__ void __launch_bounds__(GEMV_THREADS) gemv1(const GemvParams p) { gemv_rows<1>(p); }
extern "C" __global__ void __launch_bounds__(GEMV_THREADS) gemv2(const GemvParams p) { gemv_rows<2>(p); }
extern "C" __global__ void __launch_bounds__(GEMV_THREADS) gemv4(const GemvParams p) { gemv_rows<4>(p); }
extern "C" __global__ void __launch_bounds__(GEMV_THREADS) gemv8(const GemvParams p) { gemv_rows<8>(p); }

// add_norm: one block of 256 threads, 4 floats a load (n is a multiple
// of 8). x += the parts in order (a fixed order, so a run is reproducible
// to the bit), then xn = x / sqrt(mean(x^2) + eps) * weight.
// norm_row is its body for one row, which add_norm_rows (prefill.cu)
// runs on many.
__device__ __forceinline__ void norm_row(const NormParams &p, float *xrow, const float *partsrow, float *xnrow) {
	__shared__ float red[32];
	float4 *x = reinterpret_cast<float4 *>(xrow);
	const float4 *parts = reinterpret_cast<const float4 *>(partsrow);
	int n4 = p.n / 4;
	float ss = 0.f;
	for (int i = threadIdx.x; i < n4; i += blockDim.x) {
		float4 v = x[i];
		for (int k = 0; k < p.nparts; k++) {
			float4 a = parts[(size_t)k * n4 + i];
			v.x += a.x; v.y += a.y; v.z += a.z; v.w += a.w;
		}
		x[i] = v;
		ss = fmaf(v.x, v.x, fmaf(v.y, v.y, fmaf(v.z, v.z, fmaf(v.w, v.w, ss))));
	}
	float scale = rsqrtf(block_sum(ss, red) / p.n + p.eps);
	const bf16 *w = reinterpret_cast<const bf16 *>(p.weight);
	float4 *xn = reinterpret_cast<float4 *>(xnrow);
	for (int i = threadIdx.x; i < n4; i += blockDim.x) {
		float4 v = x[i];
		xn[i] = make_float4(v.x * scale * bf2f(w[4 * i]), v.y * scale * bf2f(w[4 * i + 1]),
		                    v.z * scale * bf2f(w[4 * i + 2]), v.w * scale * bf2f(w[4 * i + 3]));
	}
}

extern "C" __global__ void __launch_bounds__(NORM_THREADS) add_norm(const NormParams p) {
	norm_row(p, reinterpret_cast<float *>(p.x), reinterpret_cast<const float *>(p.parts), reinterpret_cast<float *>(p.xn));
}

// embed copies the current token's embedding row into x.
extern "C" __global__ void embed(const EmbedParams p) {
	const StepState *st = reinterpret_cast<const StepState *>(p.state);
	int tok = st->token;
	if (tok < 0 || tok >= p.vocab) tok = 0;  // checked on the host; never read out of bounds
	const bf16 *row = reinterpret_cast<const bf16 *>(p.table) + (size_t)tok * p.hidden;
	float *x = reinterpret_cast<float *>(p.x);
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < p.hidden; i += gridDim.x * blockDim.x) x[i] = bf2f(row[i]);
}

// argmax picks the next token: the prompt's while it lasts, else the
// largest logit (the lowest index among equals, as torch.argmax), and
// advances the step state. One block.
extern "C" __global__ void __launch_bounds__(ARGMAX_THREADS) argmax(const ArgmaxParams p) {
	__shared__ float bv[32];
	__shared__ int bi[32];
	const float *l = reinterpret_cast<const float *>(p.logits);
	float best = -INFINITY;
	int idx = 0x7fffffff;
	for (int i = threadIdx.x; i < p.vocab; i += blockDim.x) {
		float v = l[i];
		if (v > best) { best = v; idx = i; }  // i rises: the first of equals stays
	}
	for (int o = 16; o > 0; o >>= 1) {
		float ov = __shfl_xor_sync(0xffffffffu, best, o);
		int oi = __shfl_xor_sync(0xffffffffu, idx, o);
		if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
	}
	int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
	if (lane == 0) { bv[warp] = best; bi[warp] = idx; }
	__syncthreads();
	if (threadIdx.x == 0) {
		int nw = (blockDim.x + WARP - 1) / WARP;
		for (int w = 1; w < nw; w++) {
			if (bv[w] > best || (bv[w] == best && bi[w] < idx)) { best = bv[w]; idx = bi[w]; }
		}
		StepState *st = reinterpret_cast<StepState *>(p.state);
		int next = st->pos + 1;
		int tok = next < st->prompt_len ? reinterpret_cast<const int *>(p.prompt)[next] : idx;
		reinterpret_cast<int *>(p.out)[next] = tok;
		st->token = tok;
		st->pos = next;
	}
}
