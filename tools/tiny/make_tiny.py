"""Make the tiny random MoE checkpoints that moec's engine is tested against.

Run on a machine with torch and transformers (the GPU machine has
transformers 5.17 and torch 2.11; the script runs on its CPU, in fp32, so
no TF32 or reduced-precision kernel is involved):

    python3 tools/tiny/make_tiny.py OUT_DIR [NAME...]

For each family it writes OUT_DIR/<name>/ with config.json and
model.safetensors (save_pretrained's own files) and golden.json: the prompt,
HF's greedy continuation, the teacher-forced logits of prompt + continuation
(fp32), the per-layer top-k expert ids of every position, and the margins
that make the comparison exact in meaning. A seed is kept only when, at
every position and MoE layer, the k-th router probability beats the
(k+1)-th by ROUTER_GAP and, at every position, the top logit beats the
second by LOGIT_GAP: then an fp32 implementation that agrees with HF to
1e-5 must pick the same experts and the same tokens.

Variants with bf16 or fp16 weights are saved in that dtype; their goldens
come from HF running in fp32 on the same rounded weights, which is what
moec's CPU reference computes (weights widened to fp32, fp32 arithmetic).
"""

import json
import os
import sys

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

ROUTER_GAP = 2e-4
LOGIT_GAP = 2e-3
PROMPT = [1, 17, 42, 99, 7, 200, 33, 5, 128, 64]
NEW_TOKENS = 14
VOCAB = 256

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    num_attention_heads=4,
    max_position_embeddings=512,
    rms_norm_eps=1e-6,
    initializer_range=0.1,
    use_cache=True,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
)

# name -> (model_type, config overrides, weight dtype)
FAMILIES = {
    # Qwen1.5-MoE's rules: q/k/v bias, a sigmoid-gated shared expert,
    # top-k weights not renormalised, one dense layer (mlp_only_layers).
    "qwen2_moe": ("qwen2_moe", dict(
        num_hidden_layers=3, num_key_value_heads=2, num_experts=12,
        num_experts_per_tok=4, moe_intermediate_size=32,
        shared_expert_intermediate_size=48, intermediate_size=96,
        decoder_sparse_step=1, mlp_only_layers=[1], norm_topk_prob=False,
        rope_theta=10000.0, tie_word_embeddings=False), torch.float32),
    # The same family with renormalised top-k and every second layer
    # sparse (decoder_sparse_step = 2), stored as bf16.
    "qwen2_moe_bf16": ("qwen2_moe", dict(
        num_hidden_layers=4, num_key_value_heads=4, num_experts=10,
        num_experts_per_tok=3, moe_intermediate_size=32,
        shared_expert_intermediate_size=40, intermediate_size=80,
        decoder_sparse_step=2, mlp_only_layers=[], norm_topk_prob=True,
        rope_theta=1000000.0, tie_word_embeddings=False), torch.bfloat16),
    # OLMoE: full-width q/k RMSNorm, no biases, no shared expert.
    "olmoe": ("olmoe", dict(
        num_hidden_layers=2, num_key_value_heads=4, num_experts=12,
        num_experts_per_tok=4, intermediate_size=32, norm_topk_prob=False,
        rope_theta=10000.0, tie_word_embeddings=False), torch.float32),
    # Qwen3-MoE: per-head q/k RMSNorm, head_dim apart from hidden/heads,
    # GQA, renormalised top-k, a dense first layer; stored as fp16.
    "qwen3_moe": ("qwen3_moe", dict(
        num_hidden_layers=3, num_key_value_heads=2, head_dim=32,
        num_experts=12, num_experts_per_tok=4, moe_intermediate_size=32,
        intermediate_size=96, decoder_sparse_step=1, mlp_only_layers=[0],
        norm_topk_prob=True, rope_theta=1000000.0,
        tie_word_embeddings=False), torch.float16),
    # Mixtral: GQA, softmax over the top-k logits, tied embeddings.
    "mixtral": ("mixtral", dict(
        num_hidden_layers=2, num_key_value_heads=2, num_local_experts=8,
        num_experts_per_tok=2, intermediate_size=64, rope_theta=1000000.0,
        sliding_window=None, tie_word_embeddings=True), torch.float32),
}


def router_modules(model):
    """The router of each MoE layer, in layer order."""
    out = []
    for name, mod in model.named_modules():
        if name.endswith("mlp.gate") or name.endswith("block_sparse_moe.gate"):
            out.append((name, mod))
    return out


def probs_of(router, hidden):
    """Router probabilities computed from the router's input and weight:
    transformers versions differ in what a router module returns (logits,
    probabilities, or a tuple of them), not in what it computes."""
    x = hidden.reshape(-1, router.weight.shape[1]).float()
    return torch.softmax(x @ router.weight.float().T, dim=-1)


def run(name, model_type, overrides, dtype, seed, out_dir):
    cfg = AutoConfig.for_model(model_type, **COMMON, **overrides)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.float().eval()
    # Generation runs to NEW_TOKENS whatever it draws.
    model.generation_config.eos_token_id = None
    if dtype != torch.float32:
        # Round every weight to the stored dtype, then compute in fp32.
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(dtype).to(torch.float32))
    k = cfg.num_experts_per_tok
    routers = router_modules(model)
    captured = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: captured.append((mod, inp[0]))) for _, m in routers]

    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        gen = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False,
                             eos_token_id=None, pad_token_id=0, use_cache=True)
    generated = gen[0, len(PROMPT):].tolist()
    captured.clear()
    with torch.no_grad():
        logits = model(gen).logits[0].float()
    for h in hooks:
        h.remove()
    if len(captured) != len(routers):
        raise SystemExit(f"{name}: {len(routers)} routers but {len(captured)} router outputs")

    top2 = torch.topk(logits, 2, dim=-1).values
    logit_gap = float((top2[:, 0] - top2[:, 1]).min())
    router_gap = 1.0
    experts = []
    for mod, hidden in captured:
        p = probs_of(mod, hidden)
        s = torch.sort(p, dim=-1, descending=True)
        router_gap = min(router_gap, float((s.values[:, k - 1] - s.values[:, k]).min()))
        experts.append(torch.topk(p, k, dim=-1).indices.tolist())
    # Greedy continuation agrees with teacher forcing (the KV cache path
    # and the full pass pick the same tokens).
    tf = logits.argmax(-1)[len(PROMPT) - 1:-1].tolist()
    consistent = tf == generated
    ok = router_gap >= ROUTER_GAP and logit_gap >= LOGIT_GAP and consistent
    if not ok:
        return None
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    model.to(dtype).save_pretrained(d, safe_serialization=True)
    golden = {
        "family": model_type,
        "seed": seed,
        "dtype": str(dtype).removeprefix("torch."),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "prompt": PROMPT,
        "generated": generated,
        "router_layers": [n for n, _ in routers],
        "experts": experts,
        "min_router_gap": router_gap,
        "min_logit_gap": logit_gap,
        "logits": [[float(x) for x in row] for row in logits],
    }
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    # save_pretrained may add files the engine does not need.
    for extra in ("generation_config.json",):
        p = os.path.join(d, extra)
        if os.path.exists(p):
            os.remove(p)
    return golden


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "testdata/models"
    torch.set_num_threads(8)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    only = set(sys.argv[2:])
    for name, (mt, ov, dt) in FAMILIES.items():
        if only and name not in only:
            continue
        for seed in range(200):
            g = run(name, mt, ov, dt, seed, out_dir)
            if g is not None:
                print(f"{name}: seed {seed}, router gap {g['min_router_gap']:.2e}, "
                      f"logit gap {g['min_logit_gap']:.2e}, generated {g['generated']}")
                break
        else:
            raise SystemExit(f"{name}: no seed in 0..199 has clear margins")


if __name__ == "__main__":
    main()
