#!/usr/bin/env bash
# instructions.sh counts the instructions one benchmark iteration executes,
# which, unlike a timing on a shared machine, does not drift from run to
# run. It runs the benchmark under valgrind's cachegrind at 100,000 and
# 300,000 iterations and divides the difference by 200,000, so set-up and
# warm-up cancel out.
#
#	scripts/instructions.sh [PACKAGE] BENCHMARK
#	scripts/instructions.sh ./examples/gogenerate 'Dispatch/composed_showcase/64x6/generated'
#
# The two cachegrind files stay in $TMPDIR/moec-instructions for
# cg_annotate --auto=yes (lines) or a diff of the two by function.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=./examples/gogenerate
if [ $# -eq 2 ]; then
	pkg=$1
	shift
fi
bench=${1:?usage: scripts/instructions.sh [PACKAGE] BENCHMARK}
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 1; }
dir=${TMPDIR:-/tmp}/moec-instructions
mkdir -p "$dir"
go test -c -o "$dir/bench.test" "$pkg"
cd "$pkg"
count() {
	valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$dir/out.$1" \
		"$dir/bench.test" -test.run '^$' -test.bench "$bench" -test.cpu 1 -test.benchtime "${1}x" 2>&1 |
		awk '/I *refs/ { gsub(",", "", $NF); print $NF }'
}
a=$(count 100000)
b=$(count 300000)
echo "$bench: $(((b - a) / 200000)) instructions per iteration"
