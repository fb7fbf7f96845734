#!/usr/bin/env bash
# offload-bench.sh measures, on the device machine, the full Qwen1.5-MoE
# (random bf16 weights, 28.6 GB) generating under GPU memory caps with its
# routed experts placed by policies, routing forced from the shared trace,
# beside the floor and transformers' device_map="auto" (issue 14). Build
# the binaries first (bash scripts/gpu-build.sh), then run from the
# repository root there, carrying .gpu:
#
#	CAPS="16 12 8" HFCAPS="16" POLICIES="tuned lfu composed" bash scripts/offload-bench.sh
#
# (SKIP_RESIDENT=1 skips the all-resident run, for a second call on the
# same checkpoint; ROUTE_RESIDENT=1 adds one all resident with the routing
# forced, through the host loop; MODEL=dir, PROMPT and NEW change the
# defaults.)
#
# Per cap: the capacity moec auto gives for the cap and the context; LRU
# (recording the routing), moec tune's winner on that routing, LFU with
# history prefetch and the composed example, each with that capacity and
# schedule gpu_only (issue 14's comparison: every expert on the GPU).
# Results land under $RESULTS (/tmp/offload-bench) as JSON, one file per
# run, packed into $OUT/offload-bench.tgz; bench-summary.py (tools/engine)
# turns them into the tables of docs/PERFORMANCE.md, written beside it.
set -uo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
# The results gather in one folder, packed at the end into
# $OUT/offload-bench.tgz beside the summary (a device call returns only a
# few files of $OUT).
dest=${OUT:-/tmp}
out=${RESULTS:-/tmp/offload-bench}
mkdir -p "$out" "$dest"
root=$PWD
moec=$root/.gpu/moec
cfg=$root/model/testdata/qwen1.5-moe-a2.7b.json
tr=$root/testdata/traces/qwen15moe-gsm8k-5layer.jsonl
dir=${MODEL:-/tmp/qf}
prompt=${PROMPT:-128}
new=${NEW:-128}
ctx=$((prompt + new))
T0=$(date +%s)
el() { echo "[$(($(date +%s) - T0))s] $*"; }
nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.current,pcie.link.width.current,memory.total --format=csv >"$out/gpu.txt"
[ -f "$dir/config.json" ] || { timeout 200 python3 tools/engine/hf.py make "$cfg" "$dir" >"$out/make.log" 2>&1; el "make $?"; }
python3 - >"$out/bandwidth.json" <<'PY'
import json, time, torch
n = 17301504  # one Qwen1.5-MoE expert, bf16
src = torch.empty(64 * n, dtype=torch.uint8).pin_memory()
dst = torch.empty(64 * n, dtype=torch.uint8, device="cuda")
for _ in range(2):
    torch.cuda.synchronize(); t = time.time()
    for i in range(64):
        dst[i * n:(i + 1) * n].copy_(src[i * n:(i + 1) * n], non_blocking=True)
    torch.cuda.synchronize(); s = time.time() - t
print(json.dumps({"expert_bytes": n, "copies": 64, "seconds": s, "gbps": 64 * n / s / 1e9}))
PY
el "pinned bandwidth $(cat "$out/bandwidth.json")"
ids=$(python3 -c "import random; r=random.Random(1); print(','.join(str(r.randrange(151936)) for _ in range($prompt)))")
run() {
	local name=$1
	shift
	timeout 120 "$moec" run -model "$dir" -device cuda -prompt-ids "$ids" -n "$new" -json "$@" >"$out/$name.json" 2>"$out/$name.err"
	el "$name exit $? $(python3 tools/engine/bench-summary.py line "$out/$name.json")"
}
if [ -z "${SKIP_RESIDENT:-}" ]; then # the all-resident run, once per checkpoint
	run resident
fi
if [ -n "${ROUTE_RESIDENT:-}" ]; then # all resident through the host loop
	run resident-route -route-trace "$tr"
fi
mkdir -p /tmp/pol
for cap in ${CAPS:-16 12 8}; do
	c=$("$moec" auto -config "$dir" -vram "${cap}GiB" -context "$ctx" -json | python3 -c "import json,sys; print(json.load(sys.stdin)['capacity'])")
	for p in lru_policy lfu_policy composed_policy; do
		sed -e "0,/capacity = [0-9]*/s//capacity = $c/" -e "s/mode = [a-z_]*/mode = gpu_only/" "examples/$p.moe" >"/tmp/pol/$p-$cap.moe"
	done
	# LRU first: it records the routing the tuner and Belady read.
	run "lru-$cap" -policy "/tmp/pol/lru_policy-$cap.moe" -gpu-mem "${cap}GiB" -route-trace "$tr" -record-trace "$out/routing-$cap.jsonl"
	"$moec" replay -opt -json -trace "$out/routing-$cap.jsonl" "/tmp/pol/lru_policy-$cap.moe" >"$out/replay-lru-$cap.json" 2>&1
	for p in ${POLICIES:-tuned lfu composed}; do
		case $p in
		tuned)
			# Issue 14's tables compare placements with every expert on
			# the GPU: price the CPU so that the tuner does not choose
			# it (issue 15 runs the hybrid schedule: family-bench.sh).
			timeout 60 "$moec" tune -trace "$out/routing-$cap.jsonl" -config "$dir/config.json" -vram "${cap}GiB" -context "$ctx" \
				-cpu-expert 50ms -name tuned -o "/tmp/pol/tuned-$cap.moe" >"$out/tune-$cap.log" 2>&1
			cp "/tmp/pol/tuned-$cap.moe" "$out/" 2>/dev/null
			run "tuned-$cap" -policy "/tmp/pol/tuned-$cap.moe" -gpu-mem "${cap}GiB" -route-trace "$tr"
			;;
		*) run "$p-$cap" -policy "/tmp/pol/${p}_policy-$cap.moe" -gpu-mem "${cap}GiB" -route-trace "$tr" ;;
		esac
	done
done
for cap in ${HFCAPS:-}; do
	timeout 240 python3 tools/engine/hf.py bench "$dir" --prompt "$prompt" --new 4 --impl batched_mm --max-memory "${cap}GiB" >"$out/hf-auto-$cap.json" 2>"$out/hf-auto-$cap.err"
	el "transformers device_map=auto at ${cap}GiB: $(cat "$out/hf-auto-$cap.json")"
done
python3 tools/engine/bench-summary.py table "$out" >"$dest/offload-bench-summary.md" 2>&1
tar czf "$dest/offload-bench.tgz" -C "$out" .
el done
