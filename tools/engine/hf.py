"""transformers' side of moec's engine checks, run on the GPU machine.

    python3 tools/engine/hf.py make CONFIG OUT [--layers N] [--seed S] [--shard GB] [--spill DIR --keep GB]
        a random bf16 checkpoint of CONFIG (a config.json), saved with
        save_pretrained into OUT in shards of --shard GB (5); --layers keeps
        the first N layers. With --spill, written a layer at a time (what
        save_pretrained would write, for a model that fills the GPU), only
        the first --keep GB of shards in OUT, the rest in DIR with a
        symbolic link in OUT (a checkpoint larger than the disk, the rest
        in /dev/shm).
    python3 tools/engine/hf.py ref DIR OUT [--tokens T] [--seed S]
        teacher-forced outputs of DIR's model on T random tokens, run in
        fp32 and in bf16 on the same weights, written to the safetensors
        file OUT: tokens [T] i32; logits_fp32, logits_bf16 [T, vocab];
        hidden_fp32, hidden_bf16 [layers, T, hidden] (each decoder layer's
        output); topk_fp32 [layers, T, k] i32 (each sparse layer's experts,
        -1 rows for dense layers) and topk_bf16 (the same in the bf16
        run), f32 unless said.
    python3 tools/engine/hf.py bench DIR [--prompt P] [--new N] [--impl I,...] [--max-memory M]
        transformers generate, all weights resident, greedy: prefill and
        decode tokens per second for each experts implementation, one JSON
        object per line. With --max-memory (16GiB), device_map="auto" with
        that much of the GPU: the rest of the weights stay on the CPU.
"""

import argparse
import json
import os
import re
import sys
import time

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tiny"))
from make_tiny import choose, fix_mla_scaling, router_modules  # noqa: E402 (the goldens' own helpers)


def make(a):
    with open(a.config) as f:
        d = json.load(f)
    if a.layers:
        d["num_hidden_layers"] = a.layers
    d.pop("transformers_version", None)
    cfg = AutoConfig.for_model(d.pop("model_type"), **d)
    torch.manual_seed(a.seed)
    t = time.time()
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    print(f"init {time.time() - t:.1f} s, {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters")
    t = time.time()
    if a.spill:
        kept, moved = save_spilled(model, a.out, a.shard * 10**9, a.spill, a.keep * 1e9)
        print(f"save {time.time() - t:.1f} s: {kept / 1e9:.1f} GB in {a.out}, {moved / 1e9:.1f} GB in {a.spill}")
        return
    model.save_pretrained(a.out, max_shard_size=f"{a.shard}GB")
    print(f"save {time.time() - t:.1f} s")


def save_spilled(model, out, shard, spill, keep):
    """Writes model as save_pretrained would (its config, the hub's
    tensor names through transformers' own revert_weight_conversion,
    shards and their index), a layer at a time so that the reverted
    copies of a model that fills the GPU fit beside it; the first keep
    bytes of shards go into out, the rest into spill, each with a
    symbolic link in out. It returns the bytes of each."""
    try:
        from transformers.modeling_utils import revert_weight_conversion
    except ImportError:
        from transformers.core_model_loading import revert_weight_conversion
    os.makedirs(out, exist_ok=True)
    os.makedirs(spill, exist_ok=True)
    model.config.save_pretrained(out)
    state = model.state_dict()
    layers = {}
    for k in state:
        m = re.match(r".*?layers\.\d+\.", k)
        layers.setdefault(m.group(0) if m else "", []).append(k)
    weight_map, pending, size, kept, moved, n = {}, {}, 0, 0, 0, 0

    def flush():
        nonlocal pending, size, kept, moved, n
        if not pending:
            return
        n += 1
        name = f"model-{n:05d}.safetensors"
        path = os.path.join(out, name)
        if kept + size > keep:
            path = os.path.join(spill, name)
            os.symlink(path, os.path.join(out, name))
            moved += size
        else:
            kept += size
        save_file(pending, path, metadata={"format": "pt"})
        weight_map.update((k, name) for k in pending)
        pending, size = {}, 0

    for keys in layers.values():
        for k, v in revert_weight_conversion(model, {k: state[k] for k in keys}).items():
            pending[k] = v.detach().to("cpu").contiguous()
            size += pending[k].numel() * pending[k].element_size()
            if size >= shard:
                flush()
    flush()
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": kept + moved}, "weight_map": weight_map}, f, indent=2)
    return kept, moved


def run_ref(model, ids, k):
    layers = model.model.layers
    hidden = [None] * len(layers)
    topk = {}
    hooks = []
    for i, layer in enumerate(layers):
        hooks.append(layer.register_forward_hook(
            lambda mod, inp, out, i=i: hidden.__setitem__(i, (out[0] if isinstance(out, tuple) else out)[0].float().cpu())))
    # A pre-hook on the block that holds the gate, which sees the router's
    # input in every family: DeepSeek-V2's block calls F.linear on the
    # gate's weight, so a hook on the gate module itself never runs.
    for name, gate in router_modules(model):
        li = int(name.split(".")[2])
        block = model.get_submodule(name.rsplit(".", 1)[0])

        def hook(mod, args, li=li, gate=gate):
            x = args[0].reshape(-1, gate.weight.shape[1]).float()
            p = torch.softmax(x @ gate.weight.float().T, dim=-1)
            topk[li] = torch.tensor(choose(model.config, p, k)[0], dtype=torch.int32)
        hooks.append(block.register_forward_pre_hook(hook))
    with torch.no_grad():
        logits = model(ids).logits[0].float().cpu()
    for h in hooks:
        h.remove()
    return logits, torch.stack(hidden), topk


def ref(a):
    model = AutoModelForCausalLM.from_pretrained(a.dir, dtype=torch.bfloat16, device_map="cuda")
    model.eval()
    cfg = model.config
    scale, patched = fix_mla_scaling(model, cfg)
    if patched:
        print(f"softmax scale set to DeepSeek's {scale}")
    k = cfg.num_experts_per_tok
    g = torch.Generator().manual_seed(a.seed)
    ids = torch.randint(0, cfg.vocab_size, (1, a.tokens), generator=g).cuda()
    lb, hb, tkb = run_ref(model, ids, k)
    model.float()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    lf, hf, tk = run_ref(model, ids, k)
    n = cfg.num_hidden_layers
    def stack(found):
        topk = torch.full((n, a.tokens, k), -1, dtype=torch.int32)
        for li, t in found.items():
            topk[li] = t
        return topk
    save_file({
        "tokens": ids[0].int().cpu(), "logits_fp32": lf, "logits_bf16": lb,
        "hidden_fp32": hf, "hidden_bf16": hb, "topk_fp32": stack(tk), "topk_bf16": stack(tkb),
    }, a.out)
    print(f"ref: {a.tokens} tokens, {n} layers -> {a.out}")


def bench(a):
    for impl in a.impl.split(","):
        if a.max_memory:  # what does not fit the cap stays on the CPU, moved to the GPU layer by layer
            model = AutoModelForCausalLM.from_pretrained(a.dir, dtype=torch.bfloat16, device_map="auto",
                                                         max_memory={0: a.max_memory, "cpu": "200GiB"})
        else:
            model = AutoModelForCausalLM.from_pretrained(a.dir, dtype=torch.bfloat16, device_map="cuda")
        model.eval()
        try:
            model.set_experts_implementation(impl)
        except Exception as e:  # an implementation this version lacks
            print(json.dumps({"impl": impl, "error": str(e)}))
            continue
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, model.config.vocab_size, (1, a.prompt), generator=g).cuda()
        kw = dict(do_sample=False, eos_token_id=None, pad_token_id=0)
        model.generation_config.eos_token_id = None
        with torch.no_grad():
            warm = 1 if a.max_memory else 8  # offloaded, a token takes seconds
            model.generate(ids, max_new_tokens=warm, min_new_tokens=warm, **kw)  # warm up
            torch.cuda.synchronize()
            t = time.time()
            model(ids)
            torch.cuda.synchronize()
            pre = time.time() - t
            t = time.time()
            out = model.generate(ids, max_new_tokens=a.new, min_new_tokens=a.new, **kw)
            torch.cuda.synchronize()
            total = time.time() - t
        n = out.shape[1] - a.prompt
        dec = max(total - pre, 1e-9)
        print(json.dumps({"impl": impl, "prompt": a.prompt, "new": n, "prefill_s": pre,
                          "prefill_tok_s": a.prompt / pre, "decode_tok_s": (n - 1) / dec,
                          "total_s": total, "gpu_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
                          "max_memory": a.max_memory or None,
                          "transformers": transformers.__version__}), flush=True)
        del model
        torch.cuda.empty_cache()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("config")
    m.add_argument("out")
    m.add_argument("--layers", type=int, default=0)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--shard", type=int, default=5, help="shard size in GB")
    m.add_argument("--spill", default="", help="where shards beyond --keep GB go")
    m.add_argument("--keep", type=float, default=0, help="GB of shards kept in OUT with --spill")
    r = sub.add_parser("ref")
    r.add_argument("dir")
    r.add_argument("out")
    r.add_argument("--tokens", type=int, default=64)
    r.add_argument("--seed", type=int, default=0)
    b = sub.add_parser("bench")
    b.add_argument("dir")
    b.add_argument("--prompt", type=int, default=128)
    b.add_argument("--new", type=int, default=256)
    b.add_argument("--impl", default="batched_mm,grouped_mm,eager")
    b.add_argument("--max-memory", default="", help="device_map=auto with this much of GPU 0 (16GiB), the rest on the CPU")
    a = p.parse_args()
    {"make": make, "ref": ref, "bench": bench}[a.cmd](a)


if __name__ == "__main__":
    main()
