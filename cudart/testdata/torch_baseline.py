"""The reference's transfer mechanism, timed: PyTorch host-to-GPU copies of
one expert's bytes, from pageable memory (tensor.to("cuda"), what the Python
reference does) and from pinned memory (.to("cuda", non_blocking=True)).

Usage: python3 torch_baseline.py NAME=BYTES ...

Prints one JSON object per size and path on its own line:
{"name": ..., "bytes": ..., "path": "pageable"|"pinned", "median_ms": ..., "gbps": ...}
GB/s counts 10^9 bytes per second, as cudart's table does. TestBenchTable
runs this script and puts its lines in the same table.
"""

import json
import statistics
import sys
import time

import torch


def time_pageable(src, reps):
    """Wall time of a blocking tensor.to("cuda") from pageable memory,
    taking the experts of src in turn."""
    out = []
    for i in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        x = src[i % len(src)].to("cuda")
        torch.cuda.synchronize()
        out.append((time.perf_counter() - t0) * 1e3)
        del x
    return out


def time_pinned(src, reps):
    """Event time of .to("cuda", non_blocking=True) from pinned memory."""
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    out = []
    for i in range(reps):
        start.record()
        x = src[i % 2].to("cuda", non_blocking=True)
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end))
        del x
    return out


def main():
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no GPU"}))
        return 1
    for arg in sys.argv[1:]:
        name, n = arg.split("=")
        n = int(n)
        reps = 30 if n < 100_000_000 else 8
        # Two experts alternate; random bytes. Both fit the host's caches,
        # which flatters the pageable path.
        pageable = torch.randint(0, 256, (2, n), dtype=torch.uint8)
        pinned = pageable.pin_memory()
        for path, fn, src in (("pageable", time_pageable, pageable), ("pinned", time_pinned, pinned)):
            fn(src, 3)  # warm up: allocator, context, page faults
            ms = statistics.median(fn(src, reps))
            print(json.dumps({"name": name, "bytes": n, "path": path, "median_ms": ms, "gbps": n / ms / 1e6}), flush=True)
        del pageable, pinned
        # Distinct experts, as a server moves them: a pool of at least
        # 1 GiB, each copied once per round, none in the caches.
        pool = max(3, -(-(1 << 30) // n))
        experts = torch.randint(0, 256, (pool, n), dtype=torch.uint8)
        time_pageable(experts, pool)  # touch every page once
        ms = statistics.median(time_pageable(experts, max(reps, pool)))
        print(json.dumps({"name": name, "bytes": n, "path": "pageable_pool", "pool": pool, "median_ms": ms, "gbps": n / ms / 1e6}), flush=True)
        del experts
    return 0


if __name__ == "__main__":
    sys.exit(main())
