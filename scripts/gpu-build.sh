#!/usr/bin/env bash
# gpu-build.sh builds, for the device machine (x86-64 Linux, NVIDIA driver,
# no Go toolchain), into .gpu/, which is gitignored (carry it with carry:
# [".gpu"]; docs/GPU.md says how to run them there):
#
#	.gpu/cudart.test   the cuda-tagged tests of package cudart
#	.gpu/cuda.test     the cuda-tagged tests of package engine/cuda
#	.gpu/engine.test   package engine's tests, cuda-tagged (-engine.device cuda
#	                   runs the policy tests on the GPU)
#	.gpu/moec          moec built with -tags cuda
#
# The binary links against the driver's libcuda.so.1, found at run time
# through LD_LIBRARY_PATH or the rpath set here (/usr/local/nvidia/lib64,
# where the device machine's driver lives, then the usual folders); the
# stub from scripts/cuda-headers.sh only satisfies the linker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/cuda-headers.sh
inc=$PWD/.cache/cuda/include
stubs=$PWD/.cache/cuda/stubs
rpath=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:/usr/lib/x86_64-linux-gnu:/usr/lib64
mkdir -p .gpu
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 \
	CGO_CFLAGS="-I$inc" \
	CGO_LDFLAGS="-L$stubs -Wl,-rpath,$rpath" \
	go test -c -tags cuda -o .gpu/cudart.test ./cudart
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 \
	CGO_CFLAGS="-I$inc" \
	CGO_LDFLAGS="-L$stubs -Wl,-rpath,$rpath" \
	go test -c -tags cuda -o .gpu/cuda.test ./engine/cuda
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 \
	CGO_CFLAGS="-I$inc" \
	CGO_LDFLAGS="-L$stubs -Wl,-rpath,$rpath" \
	go test -c -tags cuda -o .gpu/engine.test ./engine
CGO_ENABLED=1 GOOS=linux GOARCH=amd64 \
	CGO_CFLAGS="-I$inc" \
	CGO_LDFLAGS="-L$stubs -Wl,-rpath,$rpath" \
	go build -tags cuda -o .gpu/moec ./cmd/moec
echo "gpu-build: wrote .gpu/cudart.test, .gpu/cuda.test, .gpu/engine.test and .gpu/moec ($(du -ch .gpu/* | tail -1 | cut -f1)); run them as docs/GPU.md says"
