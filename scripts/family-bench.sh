#!/usr/bin/env bash
# family-bench.sh runs, on the device machine, issue 15's tables beside
# transformers, one model a call (docs/PERFORMANCE.md, "Every family on
# the GPU"). Build the binaries first (bash scripts/gpu-build.sh), then run
# from the repository root there, carrying .gpu:
#
#	bash scripts/family-bench.sh mixtral     about 6 minutes on the H200
#	bash scripts/family-bench.sh deepseek    about 4 minutes
#	bash scripts/family-bench.sh resident model/testdata/qwen3-30b-a3b.json
#	bash scripts/family-bench.sh mixtral-full   twice, about 8 and 5 minutes
#	bash scripts/family-bench.sh qwen-policies  about 6 minutes
#
# mixtral: Mixtral-8x7B with its first 16 of 32 layers (47 GB: the full
# 94 GB does not fit the one-GPU machine's 64 GiB disk) under 12.25 GiB,
# the share of its experts 24 GiB holds of the full model's; routing from
# moec trace gen's mixtral-8x7b preset; one frequency-threshold cache under
# the three schedules, LRU under gpu_only, all resident, and transformers
# all resident and with device_map="auto" at the cap.
#
# deepseek: DeepSeek-V2-Lite (31 GB) all resident against transformers,
# then under 12 GiB with a flat LRU cache and per-layer LRU budgets of the
# same total, routing from the deepseek-v2-lite preset, and transformers
# with device_map="auto" at the cap.
#
# mixtral-full: the whole of Mixtral-8x7B (94 GB) under 24 GiB, as the
# issue asks, on the one-GPU machine: the first 60 GB of its shards on the
# disk, the rest in /dev/shm (hf.py make --spill), which leaves room in
# the 125 GiB of memory for the 90 GB pinned arena. The same cache under
# the three schedules, with the frequency window and threshold scaled to
# 32 layers, LRU under gpu_only, the same cache per layer and one cache
# over a window eight times longer (both not run yet), and transformers with device_map="auto" at the cap. It does what the results do not hold yet and stops before
# $BUDGET seconds (540): run it again in the next call while the machine
# is warm (its /tmp and /dev/shm last as long).
#
# qwen-policies: Qwen1.5-MoE under 8, 12 and 16 GiB with routing from the
# shared trace: moec auto's policy, LRU, LFU with and without history
# prefetch, and the frequency-threshold cache (not run yet).
#
# resident CONFIG: the model of CONFIG (a config.json) all resident,
# moec against transformers (128-token prompt; 128 new tokens for moec,
# 32 for transformers), checkpoint in $MODEL (/tmp/resident): Qwen3-30B-A3B's
# 61 GB fit the one-GPU machine's 64 GiB disk only with nothing else there.
#
# Results land in $OUT/family-bench-MODEL.tgz (a device call returns only
# a few files).
set -uo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
which=${1:?usage: family-bench.sh mixtral|deepseek|resident CONFIG}
root=$PWD
out=${RESULTS:-/tmp/family-bench}/$which
mkdir -p "$out" "${OUT:-/tmp}"
hf="python3 $root/tools/engine/hf.py"
moec=$root/.gpu/moec
T0=$(date +%s)
el() { echo "[$(($(date +%s) - T0))s] $*"; }
before() { (($(date +%s) - T0 + $1 < ${BUDGET:-540})); } # time left for a step of $1 seconds
nvidia-smi --query-gpu=name,driver_version,pcie.link.gen.current,memory.total --format=csv >"$out/gpu.txt"
ids() { python3 -c "import random; r=random.Random(1); print(','.join(str(r.randrange($1)) for _ in range($2)))"; }
# policy NAME CACHE MODE: a policy file of the cap's capacity $c.
policy() {
	printf 'version 1.0\npolicy %s {\n    cache { capacity = %s  %s }\n    schedule { mode = %s }\n}\n' "$1" "$c" "$2" "$3" >"$out/$1.moe"
}
# capacity CONTEXT: the expert slots moec auto gives $dir under $cap.
capacity() {
	"$moec" auto -config $dir -vram $cap -context $1 -json | python3 -c "import json,sys; print(json.load(sys.stdin)['capacity'])"
}
# schedules CACHE: a frequency-threshold cache (the cache keys CACHE) under
# the three schedules, ft_hybrid, ft_cpu and ft_gpu, and LRU under gpu_only.
schedules() {
	policy ft_hybrid "eviction = frequency_threshold  $1" hybrid
	policy ft_cpu "eviction = frequency_threshold  $1" cpu_fallback
	policy ft_gpu "eviction = frequency_threshold  $1" gpu_only
	policy lru_gpu "eviction = lru" gpu_only
}
run() { # NAME ARGS...: moec run under the cap with the forced routing
	local name=$1
	shift
	timeout ${RUN_TIMEOUT:-120} "$moec" run -model "$dir" -device cuda -prompt-ids "$prompt" -json "$@" >"$out/$name.json" 2>"$out/$name.err"
	el "$name exit $?"
}
case $which in
mixtral)
	dir=/tmp/mx cap=12.25GiB
	timeout 200 $hf make model/testdata/mixtral-8x7b.json $dir --layers 16 >"$out/make.log" 2>&1
	el "make exit $?"
	prompt=$(ids 32000 32)
	run resident -n 128
	"$moec" trace gen -preset mixtral-8x7b -tokens 4096 -o "$out/trace.jsonl"
	c=$(capacity 160)
	schedules "freq_threshold = 0.006  freq_window = 640"
	for p in ft_hybrid ft_cpu ft_gpu lru_gpu; do
		run $p -n 48 -policy "$out/$p.moe" -gpu-mem $cap -route-trace "$out/trace.jsonl"
	done
	timeout 150 $hf bench $dir --prompt 32 --new 2 --impl batched_mm --max-memory $cap >"$out/hf-auto.json" 2>"$out/hf-auto.err"
	timeout 100 $hf bench $dir --prompt 32 --new 32 --impl batched_mm >"$out/hf.json" 2>"$out/hf.err"
	;;
deepseek)
	dir=/tmp/ds cap=12GiB
	timeout 200 $hf make model/testdata/deepseek-v2-lite.json $dir >"$out/make.log" 2>&1
	el "make exit $?"
	prompt=$(ids 102400 128)
	run resident -n 128
	"$moec" trace gen -preset deepseek-v2-lite -tokens 4096 -o "$out/trace.jsonl"
	c=$(capacity 256)
	policy flat_lru "eviction = lru" gpu_only
	per=$((c / 26))
	printf 'version 1.0\npolicy per_layer_lru {\n    cache { capacity = %s  eviction = lru }\n    per_layer {\n        allocation = entropy\n        total_budget = %s\n        min_capacity = 4\n        max_capacity = %s\n        entropy_window = 200\n        rebalance_interval = 500\n    }\n}\n' \
		$per "$c" $((2 * per)) >"$out/per_layer_lru.moe"
	for p in flat_lru per_layer_lru; do
		run $p -n 64 -policy "$out/$p.moe" -gpu-mem $cap -route-trace "$out/trace.jsonl"
		"$moec" replay -opt -trace "$out/trace.jsonl" "$out/$p.moe" >"$out/replay-$p.txt" 2>&1
	done
	timeout 100 $hf bench $dir --new 16 --impl batched_mm >"$out/hf.json" 2>"$out/hf.err"
	timeout 150 $hf bench $dir --new 2 --impl batched_mm --max-memory $cap >"$out/hf-auto.json" 2>"$out/hf-auto.err"
	;;
mixtral-full)
	dir=/tmp/mx32 cap=24GiB RUN_TIMEOUT=200
	if [ ! -e $dir/model.safetensors.index.json ]; then
		rm -rf $dir /dev/shm/mx32
		timeout 300 $hf make model/testdata/mixtral-8x7b.json $dir --shard 2 --spill /dev/shm/mx32 --keep 60 >"$out/make.log" 2>&1
		el "make exit $?"
		df -h / /dev/shm >>"$out/make.log"
		free -g >>"$out/make.log"
	fi
	prompt=$(ids 32000 32)
	[ -e "$out/trace.jsonl" ] || "$moec" trace gen -preset mixtral-8x7b -tokens 4096 -o "$out/trace.jsonl"
	c=$(capacity 160)
	schedules "freq_threshold = 0.003  freq_window = 1280"
	# ft_layers: the same cache per layer (uniform budgets) over 40
	# accesses an expert, moec tune's first on the trace (modeled 168.9
	# ms/token), deciding with the figures the run measures; ft_long: one
	# cache over 40 accesses an expert (10,240, modeled 171.8), against
	# ft_hybrid's 5 (1,280, modeled 201.0, measured 4.59 tok/s).
	printf '{"capacity": [%s], "eviction": ["frequency_threshold"], "freq_window_per_expert": [40], "prefetch_strategy": ["none"], "schedule_mode": ["hybrid"], "allocation": ["uniform"]}\n' "$c" >"$out/grid.json"
	"$moec" tune -trace "$out/trace.jsonl" -grid "$out/grid.json" -o "$out/ft_layers.moe" >"$out/tune.txt" 2>&1
	sed -i '/pcie_gbps\|cpu_expert_ms/d' "$out/ft_layers.moe"
	policy ft_long "eviction = frequency_threshold  freq_threshold = 0.003  freq_window = 10240" hybrid
	for p in ft_hybrid ft_cpu ft_gpu lru_gpu ft_layers ft_long; do
		if [ ! -s "$out/$p.json" ] && before 150; then
			run $p -n 48 -policy "$out/$p.moe" -gpu-mem $cap -route-trace "$out/trace.jsonl"
		fi
	done
	if [ ! -s "$out/hf-auto.json" ] && before 240; then
		timeout 240 $hf bench $dir --prompt 32 --new 2 --impl batched_mm --max-memory $cap >"$out/hf-auto.json" 2>"$out/hf-auto.err"
		el "hf-auto exit $?"
	fi
	for p in ft_hybrid ft_cpu ft_gpu lru_gpu ft_layers ft_long; do
		[ -s "$out/$p.json" ] && el "$p: $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print({k: v for k, v in d.items() if k not in ('prompt', 'generated')})" "$out/$p.json" | cut -c1-600)"
	done
	tar czf "${OUT:-/tmp}/family-bench-$which.tgz" -C "$out" --exclude trace.jsonl .
	el done
	exit 0
	;;
qwen-policies)
	# Qwen1.5-MoE under 8, 12 and 16 GiB, routing forced from the shared
	# trace: what moec auto writes now, LRU, LFU without prefetch, LFU
	# with history prefetch (auto's before) and the frequency-threshold
	# cache sized as auto sizes it.
	dir=/tmp/qf
	[ -e $dir/config.json ] || { timeout 120 $hf make model/testdata/qwen1.5-moe-a2.7b.json $dir >"$out/make.log" 2>&1; el "make exit $?"; }
	prompt=$(ids 151936 32)
	tr=$root/testdata/traces/qwen15moe-gsm8k-5layer.jsonl
	for gib in 8 12 16; do
		cap=${gib}GiB
		c=$(capacity 96)
		"$moec" auto -config $dir -vram $cap -context 96 -o "$out/auto_$gib.moe"
		policy lru_$gib "eviction = lru" gpu_only
		policy lfu_$gib "eviction = lfu  frequency_decay = 0.9" gpu_only
		printf 'version 1.0\npolicy lfu_history {\n    cache { capacity = %s  eviction = lfu  frequency_decay = 0.9 }\n    prefetch { strategy = history  budget = 4 }\n}\n' "$c" >"$out/lfu_history_$gib.moe"
		policy ft_$gib "eviction = frequency_threshold  freq_threshold = 0.00052  freq_window = 7200" gpu_only
		for p in auto lru lfu lfu_history ft; do
			if [ ! -s "$out/${p}_$gib.json" ] && before 40; then
				run ${p}_$gib -n 64 -policy "$out/${p}_$gib.moe" -gpu-mem $cap -route-trace "$tr"
			fi
		done
	done
	for f in "$out"/*_[0-9]*.json; do
		el "$(basename "$f" .json): $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); p=d['policy']; print('decode', round(d['decode_tok_s'], 2), 'hit', round(p['hit_rate'], 4), 'host ms/layer', round(d['calibration']['host_layer_ms'], 3))" "$f" 2>&1 | tail -1)"
	done
	tar czf "${OUT:-/tmp}/family-bench-$which.tgz" -C "$out" .
	el done
	exit 0
	;;
resident)
	cfg=${2:?usage: family-bench.sh resident CONFIG}
	dir=${MODEL:-/tmp/resident}
	timeout 300 $hf make "$cfg" "$dir" >"$out/make.log" 2>&1
	el "make exit $?"
	vocab=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['vocab_size'])" "$cfg")
	prompt=$(ids "$vocab" 128)
	run resident -n 128
	timeout 200 $hf bench "$dir" --new 32 --impl batched_mm >"$out/hf.json" 2>"$out/hf.err"
	;;
*)
	echo "family-bench.sh: unknown table $which (want mixtral, deepseek or resident CONFIG)" >&2
	exit 2
	;;
esac
for f in "$out"/hf*.json; do el "$(basename "$f"): $(cat "$f")"; done
rm -f "$out/trace.jsonl"
tar czf "${OUT:-/tmp}/family-bench-$which.tgz" -C "$out" .
el done
