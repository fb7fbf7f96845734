//go:build cgo && amd64

// The vector kernels of package expert: y[r] = W[r,:] . x for a range of
// rows of a row-major matrix of bfloat16, float16 or float32, with x in
// float32. Every path sums a row in the same order as expert.go's Go
// kernels (dotBF16, dotF16, dotF32): sixteen lanes, lane j taking the
// elements i with i % 16 == j, each product rounded to float32 before it is added (no
// fused multiply-add; the package builds with -std=c11, whose default
// -ffp-contract=off keeps gcc from fusing them either), the tail added lane by lane, then the
// lanes summed pairwise by halves (reduce16). So every path gives the same
// bits, on every machine.

#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

// No fused multiply-add: gcc in ISO C mode (-std=c11) does not contract
// a * b + c into one, but clang (cgo's compiler on macOS and FreeBSD)
// does by default, and cgo does not pass -ffp-contract=off on. The
// pragma is C99's; gcc, which ignores it, needs none.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

// reduce16 sums sixteen lanes as expert.go's reduce16 does.
static inline float reduce16(float *a) {
	for (int h = 8; h >= 1; h /= 2) {
		for (int j = 0; j < h; j++) {
			a[j] = a[j] + a[j + h];
		}
	}
	return a[0];
}

static inline float bf16_to_f32(uint16_t b) {
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

// tail adds row w's elements from i to cols to the lanes, as the Go kernels do.
__attribute__((target("f16c")))
static inline void tail(int dt, const void *w, const float *x, float *acc, long i, long cols) {
	for (long j = 0; i + j < cols; j++) {
		float v;
		switch (dt) {
		case MOEC_BF16:
			v = bf16_to_f32(((const uint16_t *)w)[i + j]);
			break;
		case MOEC_F16:
			v = _cvtsh_ss(((const uint16_t *)w)[i + j]);
			break;
		default:
			v = ((const float *)w)[i + j];
		}
		acc[j] = acc[j] + v * x[i + j];
	}
}

// ---- AVX-512F: one zmm register is the sixteen lanes of a row.

__attribute__((target("avx512f,f16c"), always_inline))
static inline __m512 load512(int dt, const void *w, long i) {
	switch (dt) {
	case MOEC_BF16: {
		__m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i)));
		return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
	}
	case MOEC_F16:
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i)));
	default:
		return _mm512_loadu_ps((const float *)w + i);
	}
}

// rows512 computes rows r to r+nr of W.
__attribute__((target("avx512f,f16c"), always_inline))
static inline void rows512(int dt, int nr, const char *w, long esize, const float *x, float *y, long cols, long r) {
	__m512 acc[4];
	const char *row[4];
	for (int k = 0; k < nr; k++) {
		acc[k] = _mm512_setzero_ps();
		row[k] = w + (r + k) * cols * esize;
	}
	long i = 0;
	for (; i + 16 <= cols; i += 16) {
		__m512 xv = _mm512_loadu_ps(x + i);
		for (int k = 0; k < nr; k++) {
			acc[k] = _mm512_add_ps(acc[k], _mm512_mul_ps(load512(dt, row[k], i), xv));
		}
	}
	for (int k = 0; k < nr; k++) {
		float a[16];
		_mm512_storeu_ps(a, acc[k]);
		tail(dt, row[k], x, a, i, cols);
		y[r + k] = reduce16(a);
	}
}

__attribute__((target("avx512f,f16c"), always_inline))
static inline void matvec512(int dt, const void *w, long esize, const float *x, float *y, long cols, long r0, long r1) {
	long r = r0;
	for (; r + 4 <= r1; r += 4) {
		rows512(dt, 4, w, esize, x, y, cols, r);
	}
	for (; r < r1; r++) {
		rows512(dt, 1, w, esize, x, y, cols, r);
	}
}

// ---- AVX2: two ymm registers are the sixteen lanes of a row, lanes 0-7
// and 8-15.

__attribute__((target("avx2,f16c"), always_inline))
static inline __m256 load256(int dt, const void *w, long i) {
	switch (dt) {
	case MOEC_BF16: {
		__m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
		return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
	}
	case MOEC_F16:
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
	default:
		return _mm256_loadu_ps((const float *)w + i);
	}
}

__attribute__((target("avx2,f16c"), always_inline))
static inline void rows256(int dt, int nr, const char *w, long esize, const float *x, float *y, long cols, long r) {
	__m256 lo[4], hi[4];
	const char *row[4];
	for (int k = 0; k < nr; k++) {
		lo[k] = _mm256_setzero_ps();
		hi[k] = _mm256_setzero_ps();
		row[k] = w + (r + k) * cols * esize;
	}
	long i = 0;
	for (; i + 16 <= cols; i += 16) {
		__m256 xlo = _mm256_loadu_ps(x + i), xhi = _mm256_loadu_ps(x + i + 8);
		for (int k = 0; k < nr; k++) {
			lo[k] = _mm256_add_ps(lo[k], _mm256_mul_ps(load256(dt, row[k], i), xlo));
			hi[k] = _mm256_add_ps(hi[k], _mm256_mul_ps(load256(dt, row[k], i + 8), xhi));
		}
	}
	for (int k = 0; k < nr; k++) {
		float a[16];
		_mm256_storeu_ps(a, lo[k]);
		_mm256_storeu_ps(a + 8, hi[k]);
		tail(dt, row[k], x, a, i, cols);
		y[r + k] = reduce16(a);
	}
}

__attribute__((target("avx2,f16c"), always_inline))
static inline void matvec256(int dt, const void *w, long esize, const float *x, float *y, long cols, long r0, long r1) {
	long r = r0;
	for (; r + 4 <= r1; r += 4) {
		rows256(dt, 4, w, esize, x, y, cols, r);
	}
	for (; r < r1; r++) {
		rows256(dt, 1, w, esize, x, y, cols, r);
	}
}

// One function per path and dtype, so that gcc specializes each body for
// its constant dtype and row count.
#define INSTANCE(name, tgt, body, dt, esize) \
	__attribute__((target(tgt))) static void name(const void *w, const float *x, float *y, long cols, long r0, long r1) { \
		body(dt, w, esize, x, y, cols, r0, r1); \
	}

INSTANCE(mv512_f32, "avx512f,f16c", matvec512, MOEC_F32, 4)
INSTANCE(mv512_bf16, "avx512f,f16c", matvec512, MOEC_BF16, 2)
INSTANCE(mv512_f16, "avx512f,f16c", matvec512, MOEC_F16, 2)
INSTANCE(mv256_f32, "avx2,f16c", matvec256, MOEC_F32, 4)
INSTANCE(mv256_bf16, "avx2,f16c", matvec256, MOEC_BF16, 2)
INSTANCE(mv256_f16, "avx2,f16c", matvec256, MOEC_F16, 2)

void moec_matvec(int path, int dt, const void *w, const float *x, float *y, long cols, long r0, long r1) {
	static void (*const fns[3][3])(const void *, const float *, float *, long, long, long) = {
		[MOEC_AVX2] = {[MOEC_F32] = mv256_f32, [MOEC_BF16] = mv256_bf16, [MOEC_F16] = mv256_f16},
		[MOEC_AVX512] = {[MOEC_F32] = mv512_f32, [MOEC_BF16] = mv512_bf16, [MOEC_F16] = mv512_f16},
	};
	fns[path][dt](w, x, y, cols, r0, r1);
}

int moec_paths(void) {
	__builtin_cpu_init();
	// F16C converts the float16 weights; every CPU with AVX2 has it, but
	// the kernels are compiled for both, so both are checked. cpuid says
	// (leaf 1, ECX bit 29): clang's __builtin_cpu_supports does not know
	// "f16c".
	unsigned a, b, c, d;
	int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
	int p = 0;
	if (__builtin_cpu_supports("avx2") && f16c) {
		p |= 1 << MOEC_AVX2;
	}
	if (__builtin_cpu_supports("avx512f") && f16c) {
		p |= 1 << MOEC_AVX512;
	}
	return p;
}

// moec_read_sum reads n bytes (a multiple of 64) as 32-bit integers and
// returns their sum: the read side of STREAM, with integer adds so that
// no byte pattern slows it (float denormals would).
__attribute__((target("avx2"))) static uint64_t read256(const void *b, long n) {
	__m256i s0 = _mm256_setzero_si256(), s1 = s0;
	const char *p = b;
	for (long i = 0; i < n; i += 64) {
		s0 = _mm256_add_epi32(s0, _mm256_loadu_si256((const __m256i *)(p + i)));
		s1 = _mm256_add_epi32(s1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
	}
	uint32_t a[8];
	_mm256_storeu_si256((__m256i *)a, _mm256_add_epi32(s0, s1));
	uint64_t s = 0;
	for (int j = 0; j < 8; j++) {
		s += a[j];
	}
	return s;
}

__attribute__((target("avx512f"))) static uint64_t read512(const void *b, long n) {
	__m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
	const char *p = b;
	long i = 0;
	for (; i + 256 <= n; i += 256) {
		s0 = _mm512_add_epi32(s0, _mm512_loadu_si512(p + i));
		s1 = _mm512_add_epi32(s1, _mm512_loadu_si512(p + i + 64));
		s2 = _mm512_add_epi32(s2, _mm512_loadu_si512(p + i + 128));
		s3 = _mm512_add_epi32(s3, _mm512_loadu_si512(p + i + 192));
	}
	for (; i < n; i += 64) {
		s0 = _mm512_add_epi32(s0, _mm512_loadu_si512(p + i));
	}
	s0 = _mm512_add_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(s2, s3));
	return (uint64_t)_mm512_reduce_add_epi32(s0);
}

uint64_t moec_read_sum(int path, const void *b, long n) {
	return path == MOEC_AVX512 ? read512(b, n) : read256(b, n);
}
