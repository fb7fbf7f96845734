"""Capture routing traces from two small randomly initialised MoE models.

    python3 tools/capture/demo.py OUT_DIR [-n TOKENS] [--seed N]

builds a Mixtral-style model (4 layers, 8 experts, top-2) and a
Qwen2-MoE-style one (4 layers, the first dense, 8 experts, top-2, plus a
shared expert), on CUDA if available, generates TOKENS tokens (default 32)
from 16 random input ids with the Recorder attached, and writes
OUT_DIR/mixtral-demo.jsonl and OUT_DIR/qwen2moe-demo.jsonl. It also checks
each trace against an independent routing computation: a forward pass over
the whole generated sequence with output_router_logits=True, whose logits
give the experts of every token (the last step's KV-cached decode sees the
same inputs, so the ids must agree wherever top-k is not a near tie).
"""

import argparse
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import capture  # noqa: E402


def build(kind, device):
    import torch
    import transformers

    if kind == "mixtral":
        cfg = transformers.MixtralConfig(
            hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_local_experts=8,
            num_experts_per_tok=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=1000,
            max_position_embeddings=512)
        name = "demo/mixtral-tiny-random (MixtralConfig 4x8 top-2, hidden 256)"
    else:
        cfg = transformers.Qwen2MoeConfig(
            hidden_size=256, intermediate_size=512, moe_intermediate_size=128,
            shared_expert_intermediate_size=512, num_hidden_layers=4, num_experts=8,
            num_experts_per_tok=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=1000,
            max_position_embeddings=512, mlp_only_layers=[0], decoder_sparse_step=1,
            norm_topk_prob=False)
        name = "demo/qwen2moe-tiny-random (Qwen2MoeConfig 4 layers, 8 experts top-2, layer 0 dense)"
    model = transformers.AutoModelForCausalLM.from_config(cfg).to(device=device, dtype=torch.float32)
    model.eval()
    return model, name


def check(model, seq, path):
    """Compare the trace's experts with a full forward pass's router logits."""
    import torch

    with torch.no_grad():
        out = model(seq, output_router_logits=True)
    logits = getattr(out, "router_logits", None)
    if not logits:
        return "no router_logits output to check against"
    fam = capture._family(model.config)
    with open(path) as f:
        header = json.loads(f.readline())
        rows = [json.loads(line) for line in f]
    k = header["top_k"]
    n_tok = seq.shape[1] - 1  # the last generated token is never fed back
    agree = total = 0
    for l, lg in enumerate(logits):
        lg = lg.reshape(-1, lg.shape[-1])[:n_tok]
        idx, _ = capture._route_from_logits(lg.float(), fam, model.config, k, None)
        for t in range(n_tok):
            r = rows[t * header["num_layers"] + l]
            total += 1
            agree += sorted(r["e"]) == sorted(idx[t].tolist())
    return "%d of %d rows agree with a full forward pass's router logits" % (agree, total)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("-n", "--tokens", type=int, default=32)
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    import torch
    import transformers

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print("torch %s, transformers %s, device %s%s" % (
        torch.__version__, transformers.__version__, device,
        " (%s)" % torch.cuda.get_device_name(0) if device == "cuda" else ""))
    os.makedirs(a.out_dir, exist_ok=True)
    failed = 0
    for kind, fname in (("mixtral", "mixtral-demo.jsonl"), ("qwen2moe", "qwen2moe-demo.jsonl")):
        try:
            torch.manual_seed(a.seed)
            model, name = build(kind, device)
            ids = torch.randint(3, 1000, (1, a.prompt_len), device=device)
            path = os.path.join(a.out_dir, fname)
            with torch.no_grad(), capture.Recorder(model, path, model_name=name) as rec:
                seq = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=a.tokens,
                                     min_new_tokens=a.tokens, do_sample=False, pad_token_id=0)
            print("%s: %s; %d tokens routed (%d prompt + %d decode steps), %d rows, %d MoE layers %s, "
                  "%d experts, top-%d, family %s" % (
                      path, rec.model_name, rec.tokens, a.prompt_len, seq.shape[1] - a.prompt_len - 1,
                      rec.num_entries, rec.num_layers, rec.moe_layers, rec.num_experts, rec.top_k, rec.family))
            gate = rec._gates[0]
            print("  router module: %s.%s" % (type(gate).__module__, type(gate).__name__))
        except Exception:
            traceback.print_exc()
            failed += 1
            continue
        try:
            print("  check: " + check(model, seq, path))
        except Exception:
            traceback.print_exc()
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
