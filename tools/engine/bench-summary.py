#!/usr/bin/env python3
"""bench-summary.py reads what scripts/offload-bench.sh wrote.

    python3 tools/engine/bench-summary.py line RUN.json
        one line: a moec run -json's speeds, memory and policy counts.
    python3 tools/engine/bench-summary.py table DIR
        the markdown tables of docs/PERFORMANCE.md: per cap, each policy's
        decode and prefill tok/s, hit rate, misses per token, the floor
        T_resident + misses x expert_bytes / B (T_resident from the
        all-resident run, B the pinned bandwidth measured in the same
        call, misses per token run from the run's own plans) and the
        measured time over the floor's; Belady's hit rate; transformers'
        device_map="auto" at the caps it ran.
"""
import glob
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def line(path):
    d = load(path)
    if d is None or "decode_tok_s" not in d:
        return "no result"
    s = "decode %.1f tok/s, prefill %.1f tok/s, %.2f GiB" % (d["decode_tok_s"], d["prefill_tok_s"], d["gpu_memory_bytes"] / 2**30)
    p = d.get("policy")
    if p:
        s += ", hit %.4f, %d misses, %.1f GB on demand, stall %.0f ms (host %.0f)" % (
            p["hit_rate"], p["misses"], p["demand"]["bytes"] / 1e9, p.get("stall_ms", 0), p.get("host_ms", 0))
    return s


def table(dirname):
    bw = load(os.path.join(dirname, "bandwidth.json"))
    res = load(os.path.join(dirname, "resident.json"))
    if not bw or not res:
        sys.exit("bench-summary: %s lacks bandwidth.json or resident.json" % dirname)
    B = bw["gbps"] * 1e9
    t_res = 1 / res["decode_tok_s"]
    print("pinned host-to-GPU copies of one expert: %.1f GB/s; all resident: decode %.1f tok/s (%.2f ms/token), prefill %.1f tok/s" % (
        bw["gbps"], res["decode_tok_s"], 1e3 * t_res, res["prefill_tok_s"]))
    rr = load(os.path.join(dirname, "resident-route.json"))
    if rr:
        print("all resident, routing forced through the host loop: decode %.1f tok/s" % rr["decode_tok_s"])
    caps = sorted({int(os.path.basename(f).split("-")[1].split(".")[0]) for f in glob.glob(os.path.join(dirname, "lru-*.json"))}, reverse=True)
    for cap in caps:
        print("\n| at %d GiB | decode tok/s | prefill tok/s | hit rate | misses/token | floor tok/s | measured / floor | GPU memory |" % cap)
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in ["lru", "tuned", "lfu", "composed"]:
            d = load(os.path.join(dirname, "%s-%d.json" % (name, cap)))
            if not d or "policy" not in d:
                print("| %s | failed | | | | | | |" % name)
                continue
            p = d["policy"]
            steps = len(d["prompt"]) + len(d["generated"]) - 1  # tokens run: the last one chosen is not
            mpt = p["misses"] / steps
            eb = p["memory"]["expert_bytes"]
            floor = 1 / (t_res + mpt * eb / B)
            print("| %s (%s) | %.1f | %.1f | %.4f | %.1f | %.1f | %.2f | %.2f GiB |" % (
                name, p["name"], d["decode_tok_s"], d["prefill_tok_s"], p["hit_rate"], mpt, floor, d["decode_tok_s"] / floor,
                d["gpu_memory_bytes"] / 2**30))
        b = load(os.path.join(dirname, "replay-lru-%d.json" % cap))
        if b and "opt" in b:
            print("\nBelady's optimum for the same slots over the same routing (moec replay -opt): hit rate %.4f" % b["opt"].get("hit_rate", 0))
        hf = load(os.path.join(dirname, "hf-auto-%d.json" % cap))
        if hf and "decode_tok_s" in hf:
            print("transformers %s device_map=\"auto\", max_memory %s: decode %.3f tok/s, prefill %.1f tok/s" % (
                hf.get("transformers"), hf.get("max_memory"), hf["decode_tok_s"], hf["prefill_tok_s"]))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("line", "table"):
        sys.exit(__doc__)
    if sys.argv[1] == "line":
        print(line(sys.argv[2]))
    else:
        table(sys.argv[2])
