//go:build !(cgo && amd64)

package expert

// Without cgo, or off amd64, Go's kernels are the only ones.

func cpuPaths() []path { return []path{pathGo} }

// matVecC is never called here: cpuPaths offers no C path.
func matVecC(p path, dt dtype, w []byte, x, y []float32, cols, lo, hi int) {
	matVec(pathGo, dt, w, x, y, cols, lo, hi)
}

func readSum(_ path, b []byte) uint64 { return readSumGo(b) }
