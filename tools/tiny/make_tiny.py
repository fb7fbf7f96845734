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

DeepSeek-V2's softmax scale is qk_head_dim^-0.5 * get_mscale(factor,
mscale_all_dim)^2 under YaRN, as DeepSeek's own code has it; transformers
added the mscale factor in PR #47435 (July 2026). With a transformers
that predates it, the script sets each attention's `scaling` to that value
before it runs the model, and golden.json says so ("softmax_scale_patched").
"""

import json
import math
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
    # DeepSeek-V2-Lite's rules: multi-head latent attention with q_proj
    # (q_lora_rank null), YaRN (mscale = mscale_all_dim, so cos and sin
    # are unscaled and the softmax scale takes get_mscale^2), a dense
    # first layer, 2 shared experts, greedy top-k not renormalised.
    "deepseek_v2": ("deepseek_v2", dict(
        num_hidden_layers=3, num_key_value_heads=4, first_k_dense_replace=1,
        intermediate_size=96, kv_lora_rank=32, q_lora_rank=None,
        qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
        n_routed_experts=12, num_experts_per_tok=3, n_shared_experts=2,
        moe_intermediate_size=16, topk_method="greedy", norm_topk_prob=False,
        routed_scaling_factor=1.0, tie_word_embeddings=False,
        rope_parameters=dict(rope_type="yarn", rope_theta=10000.0, factor=4.0,
                             original_max_position_embeddings=128, beta_fast=32,
                             beta_slow=1, mscale=0.707, mscale_all_dim=0.707)),
        torch.float32),
    # DeepSeek-V2's other rules: q_a_proj / q_a_layernorm / q_b_proj,
    # group_limited_greedy (the top-k among the 2 best of 4 groups),
    # routed_scaling_factor, YaRN with mscale apart from mscale_all_dim
    # (cos and sin scaled too); stored as bf16.
    "deepseek_v2_qlora": ("deepseek_v2", dict(
        num_hidden_layers=3, num_key_value_heads=4, first_k_dense_replace=1,
        intermediate_size=96, kv_lora_rank=32, q_lora_rank=24,
        qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
        n_routed_experts=16, num_experts_per_tok=2, n_shared_experts=1,
        moe_intermediate_size=16, topk_method="group_limited_greedy", n_group=4,
        topk_group=2, norm_topk_prob=False, routed_scaling_factor=1.5,
        tie_word_embeddings=False,
        rope_parameters=dict(rope_type="yarn", rope_theta=10000.0, factor=4.0,
                             original_max_position_embeddings=128, beta_fast=32,
                             beta_slow=1, mscale=1.0, mscale_all_dim=0.8)),
        torch.bfloat16),
}


def router_modules(model):
    """The router of each MoE layer, in layer order."""
    out = []
    for name, mod in model.named_modules():
        if name.endswith("mlp.gate") or name.endswith("block_sparse_moe.gate"):
            out.append((name, mod))
    return out


def capture_routers(model, routers, captured):
    """Hooks that record each router's input. DeepSeek-V2's MoE block calls
    F.linear on its gate's weight rather than the gate module, so the hook
    is a pre-hook on the block that holds the gate (the same input in
    every family)."""
    hooks = []
    for name, gate in routers:
        block = model.get_submodule(name.rsplit(".", 1)[0])
        hooks.append(block.register_forward_pre_hook(
            lambda mod, args, gate=gate: captured.append((gate, args[0]))))
    return hooks


def choose(cfg, p, k):
    """The experts the router picks from probabilities p, best first, and
    the smallest margin that makes the choice exact in meaning: the k-th
    probability over the (k+1)-th and, for DeepSeek-V2's
    group_limited_greedy, the kept groups' scores over the next group's."""
    gap = 1.0
    if getattr(cfg, "topk_method", None) == "group_limited_greedy" and (getattr(cfg, "n_group", None) or 1) > 1:
        n, groups, kept = p.shape[0], cfg.n_group, cfg.topk_group
        scores = p.view(n, groups, -1).max(dim=-1).values
        s = torch.sort(scores, dim=-1, descending=True).values
        gap = float((s[:, kept - 1] - s[:, kept]).min())
        keep = torch.zeros_like(scores)
        keep.scatter_(1, torch.topk(scores, kept, dim=-1).indices, 1)
        p = p.masked_fill(~keep.repeat_interleave(p.shape[1] // groups, dim=1).bool(), 0.0)
    s = torch.sort(p, dim=-1, descending=True).values
    gap = min(gap, float((s[:, k - 1] - s[:, k]).min()))
    return torch.topk(p, k, dim=-1).indices.tolist(), gap


def get_mscale(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def fix_mla_scaling(model, cfg):
    """Sets DeepSeek-V2's softmax scale to qk_head_dim^-0.5 *
    get_mscale(factor, mscale_all_dim)^2 where the installed transformers
    (before PR #47435) left it out. Returns the scale and whether it was
    set, or (None, False) for a model without it."""
    rp = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    if cfg.model_type != "deepseek_v2" or rp.get("rope_type", rp.get("type", "default")) == "default" or not rp.get("mscale_all_dim"):
        return None, False
    m = get_mscale(rp["factor"], rp["mscale_all_dim"])
    want = (cfg.qk_nope_head_dim + cfg.qk_rope_head_dim) ** (-0.5) * m * m
    patched = False
    for layer in model.model.layers:
        if not math.isclose(layer.self_attn.scaling, want, rel_tol=1e-12):
            layer.self_attn.scaling = want
            patched = True
    return want, patched


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
    scale, patched = fix_mla_scaling(model, cfg)
    k = cfg.num_experts_per_tok
    routers = router_modules(model)
    captured = []
    hooks = capture_routers(model, routers, captured)

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
        chosen, gap = choose(cfg, probs_of(mod, hidden), k)
        router_gap = min(router_gap, gap)
        experts.append(chosen)
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
    if scale is not None:
        golden["softmax_scale"] = scale
        golden["softmax_scale_patched"] = patched
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
