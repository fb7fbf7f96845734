//go:build cgo && amd64

// The C side of package expert's kernels (kernels.c, kernel_cgo.go).

#include <stdint.h>

// Paths: the numbering of kernel_cgo.go's path constants.
enum { MOEC_AVX2 = 1, MOEC_AVX512 = 2 };

// Dtypes.
enum { MOEC_F32 = 0, MOEC_BF16 = 1, MOEC_F16 = 2 };

void moec_matvec(int path, int dt, const void *w, const float *x, float *y, long cols, long r0, long r1);
int moec_paths(void);
uint64_t moec_read_sum(int path, const void *b, long n);
