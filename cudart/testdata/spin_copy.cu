// spin_copy.cu: the CUDA C of spin_copy.ptx, for reading; the tests load
// the hand-written PTX (nvcc -ptx -arch=sm_75 would give an equivalent).
#include <stdint.h>

extern "C" __global__ void spin_copy(uint64_t cycles, const uint64_t *src, uint64_t *dst, uint64_t n) {
	long long start = clock64();
	while ((uint64_t)(clock64() - start) < cycles) {
	}
	for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x) {
		dst[i] = src[i];
	}
}
