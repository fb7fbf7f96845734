//go:build cgo && amd64

package expert

// -std=c11: kernels.c adds each rounded product, as the Go kernels do,
// and gcc fuses a multiply and an add into an FMA where the target has one
// unless told -ffp-contract=off, which cgo does not pass on; ISO C mode
// makes it gcc's default. clang contracts in ISO C mode too: kernels.c
// turns it off with C99's FP_CONTRACT pragma.

/*
#cgo CFLAGS: -O3 -std=c11
#include "kernels.h"
*/
import "C"

import "unsafe"

// cpuPaths returns the paths this CPU runs, Go's first and the fastest
// last.
func cpuPaths() []path {
	have := C.moec_paths()
	ps := []path{pathGo}
	for _, p := range []path{pathAVX2, pathAVX512} {
		if have&(1<<p) != 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

// matVecC is matVec through kernels.c's path p, which is not Go's.
func matVecC(p path, dt dtype, w []byte, x, y []float32, cols, lo, hi int) {
	C.moec_matvec(C.int(p), C.int(dt), unsafe.Pointer(unsafe.SliceData(w)), (*C.float)(unsafe.SliceData(x)),
		(*C.float)(unsafe.SliceData(y)), C.long(cols), C.long(lo), C.long(hi))
}

// readSum reads b through path p's widest loads and returns a sum of its
// words (the C paths' of 32-bit words, Go's of 64-bit ones: the value
// only keeps the compiler from dropping the reads); len(b) must be a
// multiple of 64. It is the benchmarks' measure of the host's read
// bandwidth.
func readSum(p path, b []byte) uint64 {
	if p == pathGo {
		return readSumGo(b)
	}
	return uint64(C.moec_read_sum(C.int(p), unsafe.Pointer(unsafe.SliceData(b)), C.long(len(b))))
}
