#!/usr/bin/env bash
# engine-check.sh runs, on the device machine, the GPU engine's checks and
# benchmark beside transformers, all in one call (about 6 minutes on the
# H200). Build the binaries here first (bash scripts/gpu-build.sh), then
# run from the repository root there, carrying .gpu:
#
#	bash scripts/engine-check.sh            logs and results under $OUT
#
# It runs: the tiny checkpoints on the GPU against the CPU reference and
# transformers' tokens; a random 2-layer full-width Qwen1.5-MoE-A2.7B
# against transformers (fp32 and bf16, teacher-forced); the full 24-layer
# model: moec run (128-token prompt, 256 new) and transformers generate
# on the same checkpoint, the per-kernel profile, and its validation.
set -uo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/engine-check}
mkdir -p "$out"
root=$PWD
hf="python3 $root/tools/engine/hf.py"
cfg=$root/model/testdata/qwen1.5-moe-a2.7b.json
test=$root/.gpu/cuda.test
nvidia-smi --query-gpu=name,driver_version,memory.total,pcie.link.gen.current --format=csv >"$out/gpu.txt"

cd engine/cuda # the tests read ../../testdata/models
timeout 60 "$test" -test.v -test.run TinyCheckpoints >"$out/tiny.log" 2>&1; echo "tiny exit $?"
grep -E "^\s*(--- |cuda_test)" "$out/tiny.log" | cut -c1-140

timeout 150 $hf make "$cfg" /tmp/q2 --layers 2 >"$out/q2.log" 2>&1
timeout 150 $hf ref /tmp/q2 /tmp/q2ref.safetensors --tokens 256 >>"$out/q2.log" 2>&1
timeout 100 "$test" -test.v -test.run Validate -model /tmp/q2 -ref /tmp/q2ref.safetensors >>"$out/q2.log" 2>&1
echo "validate 2-layer exit $?"; grep -E "cuda_test|--- " "$out/q2.log" | tail -12
rm -rf /tmp/q2 /tmp/q2ref.safetensors

timeout 200 $hf make "$cfg" /tmp/qf >"$out/full.log" 2>&1
ids=$(python3 -c "import random; r=random.Random(1); print(','.join(str(r.randrange(151936)) for _ in range(128)))")
timeout 120 "$root/.gpu/moec" run -model /tmp/qf -device cuda -prompt-ids "$ids" -n 256 -json >"$out/moec.json" 2>>"$out/full.log"
echo "moec run exit $?"
timeout 100 "$test" -test.v -test.run Profile -profile-model /tmp/qf >"$out/profile.log" 2>&1
grep "cuda_test" "$out/profile.log" | sed 's/^ *cuda_test.go:[0-9]*: //'
timeout 150 $hf bench /tmp/qf --impl batched_mm >"$out/hf.json" 2>>"$out/full.log"
cat "$out/hf.json"
timeout 150 $hf ref /tmp/qf /tmp/qfref.safetensors --tokens 64 >>"$out/full.log" 2>&1
timeout 100 "$test" -test.v -test.run Validate -model /tmp/qf -ref /tmp/qfref.safetensors >"$out/qfval.log" 2>&1
echo "validate 24-layer exit $?"; grep -E "cuda_test|--- " "$out/qfval.log" | grep -v "hidden:" | tail -12
