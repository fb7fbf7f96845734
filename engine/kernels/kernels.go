// Package kernels holds the CUDA kernels of moec's engine: their C
// sources (one file per op family: gemv.cu, attention.cu, moe.cu; the
// parameter blocks in params.h, shared with package engine/cuda's cgo) and
// the fatbin built from them by scripts/kernels.sh, embedded here so that
// a binary needs no CUDA toolkit at run time.
//
// The fatbin is committed. sources_gen.go records the hash of the sources
// it was built from, and a test fails when the sources have changed since:
// run scripts/kernels.sh after editing a kernel.
package kernels

import _ "embed"

// Fatbin is the compiled kernels: native code for sm_80, sm_86, sm_89 and
// sm_90, and PTX for newer GPUs.
//
//go:embed kernels.fatbin
var Fatbin []byte
