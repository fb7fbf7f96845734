#!/usr/bin/env bash
# cuda-headers.sh fetches the CUDA driver API header and the link stub that
# cgo needs to compile moec's cuda-tagged code (package cudart, on
# gorgonia.org/cu) on a machine without CUDA: Debian bookworm's
# nvidia-cuda-dev package (CUDA 11.8, non-free), of which it keeps only
#
#	.cache/cuda/include/cuda.h       (includes only <stdlib.h> and <stdint.h>)
#	.cache/cuda/stubs/libcuda.so     (the link stub; the real libcuda.so.1
#	                                  comes with the driver at run time)
#
# Build with
#
#	CGO_CFLAGS=-I$PWD/.cache/cuda/include CGO_LDFLAGS=-L$PWD/.cache/cuda/stubs go vet -tags cuda ./cudart/...
#
# It leaves the system alone: apt reads a private source list and keeps its
# lists under .cache/cuda/apt while it runs (no sudo, no change to
# /etc/apt). It is idempotent and returns at once when both files are
# there. The package is 774 MB; the first run downloads it (3 to 30 s),
# unpacks the two files (about 40 s: they sit behind the static libraries
# in the package's xz stream) and deletes everything else.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org) for another
# mirror; CUDA_DEB to unpack a nvidia-cuda-dev .deb already on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.cache/cuda
header=$root/include/cuda.h
stub=$root/stubs/libcuda.so

if [ -s "$header" ] && [ -s "$stub" ]; then
	echo "cuda-headers: $header and $stub are there ($(cat "$root/VERSION" 2>/dev/null || echo unknown version))"
	exit 0
fi

for tool in ar xz tar; do
	command -v "$tool" >/dev/null || { echo "cuda-headers: $tool is not installed" >&2; exit 1; }
done

work=$root/tmp
rm -rf "$work"
mkdir -p "$work" "$root/include" "$root/stubs"
trap 'rm -rf "$work"' EXIT

deb=${CUDA_DEB:-}
if [ -z "$deb" ]; then
	command -v apt-get >/dev/null || { echo "cuda-headers: apt-get is not installed (set CUDA_DEB to a nvidia-cuda-dev .deb)" >&2; exit 1; }
	mirror=${DEBIAN_MIRROR:-http://deb.debian.org}
	apt=$root/apt
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	cat >"$apt/sources.list" <<SOURCES
deb $mirror/debian bookworm non-free
deb $mirror/debian bookworm-updates non-free
deb $mirror/debian-security bookworm-security non-free
SOURCES
	opts=(
		-o "Dir::Etc::SourceList=$apt/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$apt/lists"
		-o "Dir::Cache=$apt/cache"
		-o Dir::State::status=/dev/null
		-o APT::Architecture=amd64
		-o APT::Architectures=amd64
		-o Debug::NoLocking=true
		-o "APT::Sandbox::User=$(id -un)"
		-q
	)
	# apt's methods write their temporary files (the gpgv method's
	# config for apt-key among them) under TMPDIR. They run as the invoking
	# user, not apt's sandbox user _apt: on a machine whose /tmp is not
	# world-writable (CI's is 755 root), _apt can write neither there nor
	# under .cache.
	export TMPDIR=$work
	echo "cuda-headers: apt-get update (bookworm non-free)"
	apt-get "${opts[@]}" update >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
	version=$(apt-cache "${opts[@]}" show nvidia-cuda-dev | sed -n 's/^Version: //p' | head -n 1)
	[ -n "$version" ] || { echo "cuda-headers: no nvidia-cuda-dev in bookworm non-free" >&2; exit 1; }
	echo "cuda-headers: apt-get download nvidia-cuda-dev=$version (774 MB)"
	(cd "$work" && apt-get "${opts[@]}" download "nvidia-cuda-dev=$version" >&2 || true)
	deb=$(ls "$work"/nvidia-cuda-dev_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || { echo "cuda-headers: apt-get download nvidia-cuda-dev failed" >&2; exit 1; }
fi
[ -f "$deb" ] || { echo "cuda-headers: $deb: no such file" >&2; exit 1; }

# Stream data.tar.xz and stop as soon as both members are out: tar
# --occurrence exits after the last one, and the pipe's SIGPIPE stops xz.
echo "cuda-headers: unpacking cuda.h and stubs/libcuda.so from $(basename "$deb")"
set +o pipefail
ar p "$deb" data.tar.xz | xz -dc | tar -x -C "$work" --occurrence=1 \
	./usr/include/cuda.h ./usr/lib/x86_64-linux-gnu/stubs/libcuda.so
set -o pipefail
for f in usr/include/cuda.h usr/lib/x86_64-linux-gnu/stubs/libcuda.so; do
	[ -s "$work/$f" ] || { echo "cuda-headers: $(basename "$deb") has no $f" >&2; exit 1; }
done
# cuda.h includes only system headers; check, so that a newer package that
# splits it fails here and not in cgo.
if grep -E '^[[:space:]]*#[[:space:]]*include' "$work/usr/include/cuda.h" | grep -v -E '<(stdlib|stdint)\.h>' >&2; then
	echo "cuda-headers: cuda.h includes more than <stdlib.h> and <stdint.h>: keep those headers too" >&2
	exit 1
fi
mv "$work/usr/include/cuda.h" "$header.new" && mv "$header.new" "$header"
mv "$work/usr/lib/x86_64-linux-gnu/stubs/libcuda.so" "$stub.new" && mv "$stub.new" "$stub"
basename "$deb" .deb >"$root/VERSION"
rm -rf "$root/apt"
echo "cuda-headers: wrote $header and $stub ($(cat "$root/VERSION"))"
