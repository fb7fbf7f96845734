"""Record MoE routing traces from a running model, in moec's trace format.

Two sources:

* Hugging Face transformers: ``Recorder`` attaches forward hooks to the
  router ("gate") modules of Mixtral, Qwen2-MoE / Qwen1.5-MoE, Qwen3-MoE,
  DeepSeek-V2/V3 and OLMoE models and writes a JSONL trace (a header line,
  then one ``{"t","l","e","s"}`` row per MoE layer per token) that
  ``moec replay -trace`` reads::

      from tools.capture import capture   # or: import capture
      with capture.Recorder(model, "trace.jsonl") as rec:
          model.generate(input_ids, max_new_tokens=32)
      print(rec.num_entries)

* vLLM: ``install_vllm_logger(out_dir)`` monkeypatches vLLM's fused-MoE layer
  to write one per-layer route log per MoE layer, the input of
  ``moec trace convert``.

Row order is token-major: for each forward pass, for each token of the pass
(batch rows flattened, batch-major, as the router sees them), one row per MoE
layer in layer order. ``t`` counts tokens across the whole capture. MoE
layers are renumbered 0..L-1 in model order; when the model has dense layers
too, ``model_name`` says which layers they were ("... MoE layers 1..26 of 27").

The writer (``TraceWriter``, ``format_header``, ``format_row``) and the vLLM
log writer (``VllmRouteLog``) need only the standard library; torch is
imported when a model is hooked. docs/TRACES.md ("Capturing traces from a
model") documents all of it.
"""

import json
import math
import os
import re
import sys
import tempfile
import threading

__all__ = [
    "TraceWriter",
    "format_header",
    "format_row",
    "Recorder",
    "find_moe_gates",
    "routing_from_gate_output",
    "VllmRouteLog",
    "install_vllm_logger",
]

SCORE_DECIMALS = 4


# ---------------------------------------------------------------------------
# The trace format (standard library only).


def _round_score(x):
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        raise ValueError("score %r is not finite" % x)
    r = round(x, SCORE_DECIMALS)
    if r == 0.0:
        r = 0.0  # no "-0.0"
    return r


def format_header(model_name, num_layers, num_experts, top_k, num_entries):
    """The header line (without newline), laid out as the reference's recorders
    and moec's Go writer lay it out (Python's json.dumps defaults)."""
    return json.dumps(
        {
            "model_name": str(model_name),
            "num_layers": int(num_layers),
            "num_experts": int(num_experts),
            "top_k": int(top_k),
            "num_entries": int(num_entries),
        }
    )


def format_row(t, l, experts, scores):
    """One row (without newline): compact JSON, scores rounded to 4 decimals
    and printed as Python prints floats, "s":null without scores."""
    e = [int(x) for x in experts]
    s = None if scores is None else [_round_score(x) for x in scores]
    return json.dumps({"t": int(t), "l": int(l), "e": e, "s": s}, separators=(",", ":"))


def _layer_list(indices):
    """'1..26' for a contiguous run, else '0,8,12'."""
    indices = list(indices)
    if len(indices) > 1 and indices == list(range(indices[0], indices[-1] + 1)):
        return "%d..%d" % (indices[0], indices[-1])
    return ",".join(str(i) for i in indices)


def describe_model(name, moe_layer_indices, total_layers):
    """The header's model_name: the name, plus which layers of the model the
    trace's layers 0..L-1 are, unless they are all of them."""
    idx = list(moe_layer_indices)
    if total_layers is not None and idx == list(range(total_layers)):
        return name
    of = " of %d" % total_layers if total_layers is not None else ""
    return "%s MoE layers %s%s" % (name, _layer_list(idx), of)


class TraceWriter:
    """Writes a trace. Rows go to a temporary file beside ``path`` as they
    come; ``close()`` writes the header, whose num_entries must count them,
    then the rows, and renames the result over ``path`` (so a capture that
    fails leaves no half-written trace).

    ``write_row`` checks each row as moec's reader does: layer in range,
    1..top_k distinct experts in range, scores aligned with experts.
    """

    def __init__(self, path, model_name, num_layers, num_experts, top_k):
        if num_layers < 1:
            raise ValueError("num_layers %d, need at least 1" % num_layers)
        if not 1 <= num_experts <= 65536:
            raise ValueError("num_experts %d, need 1 to 65536" % num_experts)
        if not 1 <= top_k <= num_experts:
            raise ValueError("top_k %d, need 1 to num_experts %d" % (top_k, num_experts))
        self.path = os.fspath(path)
        self.model_name = model_name
        self.num_layers = int(num_layers)
        self.num_experts = int(num_experts)
        self.top_k = int(top_k)
        self.num_entries = 0
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        fd, self._tmp_rows = tempfile.mkstemp(prefix=".rows-", suffix=".jsonl", dir=d)
        self._rows = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self._closed = False

    def write_row(self, t, l, experts, scores=None):
        if self._closed:
            raise ValueError("%s: write after close" % self.path)
        experts = [int(x) for x in experts]
        if not 0 <= l < self.num_layers:
            raise ValueError("layer %d out of range [0,%d)" % (l, self.num_layers))
        if t < 0:
            raise ValueError("token %d, need at least 0" % t)
        if not experts:
            raise ValueError("no experts")
        if len(experts) > self.top_k:
            raise ValueError("%d experts, header says top_k %d" % (len(experts), self.top_k))
        seen = set()
        for e in experts:
            if not 0 <= e < self.num_experts:
                raise ValueError("expert %d out of range [0,%d)" % (e, self.num_experts))
            if e in seen:
                raise ValueError("duplicate expert %d" % e)
            seen.add(e)
        if scores is not None and len(scores) != len(experts):
            raise ValueError("%d scores for %d experts" % (len(scores), len(experts)))
        self._rows.write(format_row(t, l, experts, scores))
        self._rows.write("\n")
        self.num_entries += 1

    def close(self):
        """Write the trace to ``path``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._rows.close()
        d = os.path.dirname(os.path.abspath(self.path))
        fd, tmp_out = tempfile.mkstemp(prefix=".trace-", suffix=".jsonl", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
                out.write(
                    format_header(
                        self.model_name, self.num_layers, self.num_experts, self.top_k, self.num_entries
                    )
                )
                out.write("\n")
                with open(self._tmp_rows, "r", encoding="utf-8") as rows:
                    for line in rows:
                        out.write(line)
            os.replace(tmp_out, self.path)
        except BaseException:
            os.unlink(tmp_out)
            raise
        finally:
            os.unlink(self._tmp_rows)

    def abort(self):
        """Drop the rows; write nothing."""
        if self._closed:
            return
        self._closed = True
        self._rows.close()
        os.unlink(self._tmp_rows)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


# ---------------------------------------------------------------------------
# Hugging Face transformers.

# The attribute paths of a decoder layer's router module, tried in order.
# transformers 4.x Mixtral: layer.block_sparse_moe.gate; transformers 5.x
# Mixtral and every Qwen-MoE, DeepSeek and OLMoE version: layer.mlp.gate.
# Dense MLPs have gate_proj, not gate, and Qwen2-MoE's shared_expert_gate is
# another name, so a "gate" attribute marks a MoE layer.
GATE_PATHS = (("block_sparse_moe", "gate"), ("mlp", "gate"), ("moe", "gate"))


def _get_path(obj, path):
    for name in path:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _decoder_layers(model):
    for path in (("model", "layers"), ("layers",), ("model", "model", "layers"), ("transformer", "layers")):
        layers = _get_path(model, path)
        if layers is not None:
            return list(layers)
    raise ValueError("cannot find the decoder layers: no model.model.layers")


def find_moe_gates(model):
    """[(model layer index, gate module)] for the MoE layers of ``model``,
    found by walking model.model.layers and looking for the router."""
    found = []
    for i, layer in enumerate(_decoder_layers(model)):
        for path in GATE_PATHS:
            gate = _get_path(layer, path)
            if gate is not None and callable(gate):
                found.append((i, gate))
                break
    return found


def _cfg(config, *names, default=None):
    for n in names:
        v = getattr(config, n, None)
        if v is not None:
            return v
    return default


def _family(config):
    mt = str(getattr(config, "model_type", "") or "").lower()
    for fam in ("mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v3", "deepseek_v2", "olmoe"):
        if fam in mt:
            return fam
    if "deepseek" in mt:
        return "deepseek_v2"
    return mt or "unknown"


def _looks_like_probs(x):
    """True when every row of x (N, E) is a probability distribution: the
    router already applied softmax (transformers 5's Qwen2-MoE gate does)."""
    import torch

    if x.numel() == 0:
        return False
    xf = x.float()
    if bool((xf < 0).any()):
        return False
    return bool(torch.allclose(xf.sum(dim=-1), torch.ones(xf.shape[0], device=xf.device), atol=1e-3))


def _route_from_logits(logits, family, config, top_k, gate):
    """Top-k ids and weights (N, k) from router logits (N, E), as ``family``
    routes. The weights are what the model multiplies each expert's output
    by."""
    import torch

    logits = logits.float()
    norm = bool(_cfg(config, "norm_topk_prob", default=False))
    if family == "mixtral":
        probs = logits if _looks_like_probs(logits) else torch.softmax(logits, dim=-1)
        w, idx = torch.topk(probs, top_k, dim=-1)
        return idx, w / w.sum(dim=-1, keepdim=True)
    if family in ("deepseek_v2", "deepseek_v3"):
        scoring = _cfg(config, "scoring_func", default="sigmoid" if family == "deepseek_v3" else "softmax")
        if scoring == "sigmoid":
            scores = torch.sigmoid(logits)
        else:
            scores = logits if _looks_like_probs(logits) else torch.softmax(logits, dim=-1)
        choice = scores
        bias = getattr(gate, "e_score_correction_bias", None)
        if bias is not None:
            choice = scores + bias.float().to(scores.device).unsqueeze(0)
        n_group = int(_cfg(config, "n_group", default=1) or 1)
        topk_group = int(_cfg(config, "topk_group", default=n_group) or n_group)
        n, e = choice.shape
        if n_group > 1 and topk_group < n_group and e % n_group == 0:
            grouped = choice.view(n, n_group, e // n_group)
            if family == "deepseek_v3" or bias is not None:
                group_scores = grouped.topk(min(2, e // n_group), dim=-1)[0].sum(dim=-1)
            else:
                group_scores = grouped.max(dim=-1).values
            gidx = torch.topk(group_scores, topk_group, dim=-1)[1]
            gmask = torch.zeros_like(group_scores).scatter_(1, gidx, 1)
            smask = gmask.unsqueeze(-1).expand(n, n_group, e // n_group).reshape(n, e)
            choice = choice.masked_fill(smask == 0, float("-inf"))
        idx = torch.topk(choice, top_k, dim=-1)[1]
        w = scores.gather(1, idx)
        if top_k > 1 and norm:
            w = w / (w.sum(dim=-1, keepdim=True) + 1e-20)
        w = w * float(_cfg(config, "routed_scaling_factor", default=1.0))
        return idx, w
    # qwen2_moe, qwen3_moe, olmoe and others: softmax over all experts, top-k,
    # renormalised when the config says norm_topk_prob.
    probs = logits if _looks_like_probs(logits) else torch.softmax(logits, dim=-1)
    w, idx = torch.topk(probs, top_k, dim=-1)
    if norm:
        w = w / w.sum(dim=-1, keepdim=True)
    return idx, w


def _weights_at(dense, idx, family, config):
    """The weights of experts idx (N, k) from a dense (N, E) router output:
    scores scattered at the chosen experts (zero elsewhere) are the weights
    as they are; a full softmax is normalised as the family does; logits go
    through softmax first."""
    import torch

    w = dense.gather(1, idx)
    zeros_elsewhere = bool((dense.ne(0).sum(dim=-1) <= idx.shape[-1]).all())
    if zeros_elsewhere:
        return w
    if not _looks_like_probs(dense):
        w = torch.softmax(dense, dim=-1).gather(1, idx)
    if family == "mixtral" or bool(_cfg(config, "norm_topk_prob", default=False)):
        w = w / w.sum(dim=-1, keepdim=True)
    return w


def routing_from_gate_output(output, family, config, num_experts, top_k, gate=None):
    """(ids, weights), each (N, k), from whatever the router module returned:

    * a logits tensor (N, E) or (B, T, E) (transformers 4.x nn.Linear gates):
      the family's routing is computed from it;
    * a tuple holding an integer (N, k) tensor of expert ids, i.e. the model's
      own choice (transformers 5.x TopKRouter returns (logits, weights, ids);
      DeepSeek's remote-code MoEGate returns (ids, weights, aux_loss)): used
      as it is, with the float (N, k) tensor beside it as weights, or, when
      the weights are dense (N, E), the entries at the ids.
    """
    import torch

    if isinstance(output, torch.Tensor):
        logits = output.reshape(-1, output.shape[-1])
        return _route_from_logits(logits, family, config, top_k, gate)
    if not isinstance(output, (tuple, list)):
        raise TypeError("router returned %s, expected a tensor or a tuple" % type(output).__name__)
    tensors = [x for x in output if isinstance(x, torch.Tensor) and x.dim() >= 2]
    ints = [x for x in tensors if not torch.is_floating_point(x)]
    floats = [x for x in tensors if torch.is_floating_point(x)]
    if ints:
        idx = ints[0]
        idx = idx.reshape(-1, idx.shape[-1])
        k = idx.shape[-1]
        w = None
        for f in floats:
            if f.shape[-1] == k and f.numel() == idx.numel():
                w = f.reshape(-1, k)
                break
        if w is None:
            for f in floats:
                if f.shape[-1] == num_experts and f.numel() == idx.shape[0] * num_experts:
                    w = _weights_at(f.reshape(-1, num_experts).float(), idx.long(), family, config)
                    break
        return idx, w
    for f in floats:
        if f.shape[-1] == num_experts:
            return _route_from_logits(f.reshape(-1, num_experts), family, config, top_k, gate)
    raise TypeError("router output has no expert ids and no (N, %d) logits" % num_experts)


class Recorder:
    """Records the routing of a transformers MoE model into a trace.

    ``with Recorder(model, path) as rec: model.generate(...)``: forward hooks
    on each MoE layer's router collect the selected experts and weights; a
    hook on the model itself marks the end of each forward pass, where the
    pass's rows are written token-major (for each token, its MoE layers in
    order). ``close()`` (the end of the ``with``) writes the trace with its
    header. On an exception inside the ``with`` nothing is written.

    ``model_name`` defaults to config.name_or_path (else model_type);
    ``num_experts`` and ``top_k`` default to the config's.
    """

    def __init__(self, model, path, model_name=None, num_experts=None, top_k=None):
        import torch  # noqa: F401  (fail early without torch)

        self.model = model
        self.path = os.fspath(path)
        config = getattr(model, "config", None)
        self.config = config
        self.family = _family(config)
        gates = find_moe_gates(model)
        if not gates:
            raise ValueError("no MoE router found in model.model.layers (looked for %s)" % (
                ", ".join(".".join(p) for p in GATE_PATHS)))
        self.moe_layers = [i for i, _ in gates]
        self._gates = [g for _, g in gates]
        total = len(_decoder_layers(model))
        self.num_experts = int(num_experts or _cfg(
            config, "num_local_experts", "num_experts", "n_routed_experts", default=0) or 0)
        if not self.num_experts:
            w = getattr(self._gates[0], "weight", None)
            if w is None:
                raise ValueError("cannot tell the number of experts; pass num_experts")
            self.num_experts = int(w.shape[0])
        self.top_k = int(top_k or _cfg(config, "num_experts_per_tok", "top_k", "moe_topk", default=0) or 0)
        if not self.top_k:
            raise ValueError("cannot tell top_k; pass top_k")
        name = model_name or _cfg(config, "name_or_path", "_name_or_path", default="") or _cfg(
            config, "model_type", default="model")
        self.model_name = describe_model(str(name), self.moe_layers, total)
        self.num_layers = len(self.moe_layers)
        self.num_entries = 0
        self.tokens = 0
        self._pending = [[] for _ in self.moe_layers]
        self._handles = []
        self._writer = None
        self._lock = threading.Lock()

    # hooks

    def _gate_hook(self, layer):
        def hook(module, args, output):
            import torch

            with torch.no_grad():
                idx, w = routing_from_gate_output(
                    output, self.family, self.config, self.num_experts, self.top_k, module)
                idx = idx.detach().to("cpu", torch.int64)
                w = None if w is None else w.detach().to("cpu", torch.float32)
            with self._lock:
                self._pending[layer].append((idx, w))

        return hook

    def _pre_forward(self, module, args):
        self._flush()

    def _post_forward(self, module, args, output):
        self._flush()

    def _flush(self):
        with self._lock:
            pending = self._pending
            self._pending = [[] for _ in self.moe_layers]
        if not any(pending):
            return
        per_layer = []
        n = None
        for l, chunks in enumerate(pending):
            ids = [i for c in chunks for i in c[0].tolist()]
            ws = [None] * len(ids)
            if chunks and all(c[1] is not None for c in chunks):
                ws = [x for c in chunks for x in c[1].tolist()]
            if n is None:
                n = len(ids)
            elif len(ids) != n:
                raise RuntimeError(
                    "MoE layer %d (model layer %d) routed %d tokens in this forward pass, layer 0 routed %d"
                    % (l, self.moe_layers[l], len(ids), n))
            per_layer.append((ids, ws))
        for tok in range(n):
            t = self.tokens + tok
            for l, (ids, ws) in enumerate(per_layer):
                self._writer.write_row(t, l, ids[tok], ws[tok])
        self.tokens += n
        self.num_entries = self._writer.num_entries

    # lifecycle

    def start(self):
        if self._writer is not None:
            raise RuntimeError("recorder already started")
        self._writer = TraceWriter(self.path, self.model_name, self.num_layers, self.num_experts, self.top_k)
        for l, g in enumerate(self._gates):
            self._handles.append(g.register_forward_hook(self._gate_hook(l)))
        self._handles.append(self.model.register_forward_pre_hook(self._pre_forward))
        self._handles.append(self.model.register_forward_hook(self._post_forward))
        return self

    def _remove_hooks(self):
        for h in self._handles:
            h.remove()
        self._handles = []

    def close(self):
        """Remove the hooks and write the trace."""
        self._remove_hooks()
        if self._writer is None:
            return
        self._flush()
        self._writer.close()
        self.num_entries = self._writer.num_entries

    def abort(self):
        self._remove_hooks()
        if self._writer is not None:
            self._writer.abort()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


# ---------------------------------------------------------------------------
# vLLM.


def _tolist(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    return [list(r) if isinstance(r, (list, tuple)) or hasattr(r, "__iter__") else r for r in x]


class VllmRouteLog:
    """One MoE layer's route log, the per-layer input of ``moec trace
    convert``: a meta line, then one route line per token.

    ``write(req_ids, token_idxs, topk_ids, topk_weights)`` takes the rows of
    one forward pass: ids and weights as (N, k) tensors or lists of lists
    (weights may be None); req_ids and token_idxs as lists of N values or a
    single value for every row.
    """

    def __init__(self, path, model, layer, num_experts, top_k, num_layers=None):
        self.path = os.fspath(path)
        self.layer = int(layer)
        self.top_k = int(top_k)
        self.num_experts = int(num_experts)
        self.routes = 0
        self._f = open(self.path, "w", encoding="utf-8", newline="\n")
        meta = {"type": "meta", "model": str(model), "layer": self.layer,
                "num_experts": self.num_experts, "top_k": self.top_k}
        if num_layers is not None:
            meta["num_layers"] = int(num_layers)
        self._f.write(json.dumps(meta, separators=(",", ":")) + "\n")

    def write(self, req_ids, token_idxs, topk_ids, topk_weights=None):
        ids = _tolist(topk_ids)
        ws = None if topk_weights is None else _tolist(topk_weights)
        n = len(ids)
        if ws is not None and len(ws) != n:
            raise ValueError("%d weight rows for %d id rows" % (len(ws), n))
        if not isinstance(req_ids, (list, tuple)):
            req_ids = [req_ids] * n
        if not isinstance(token_idxs, (list, tuple)):
            token_idxs = [token_idxs] * n
        if len(req_ids) != n or len(token_idxs) != n:
            raise ValueError("%d req_ids and %d token_idxs for %d rows" % (len(req_ids), len(token_idxs), n))
        out = []
        for i in range(n):
            row_ids = [int(e) for e in ids[i]]
            row_w = None if ws is None else [_round_score(x) for x in ws[i]]
            out.append(json.dumps({"type": "route", "req_id": req_ids[i], "token_idx": int(token_idxs[i]),
                                   "layer": self.layer, "topk_ids": row_ids, "topk_weights": row_w},
                                  separators=(",", ":")))
        if out:
            self._f.write("\n".join(out) + "\n")
        self.routes += n

    def flush(self):
        self._f.flush()

    def close(self):
        if not self._f.closed:
            self._f.close()


_LAYER_RE = re.compile(r"layers\.(\d+)\.")


class _VllmLogger:
    """What install_vllm_logger returns: start()/stop() the logging of real
    requests, close() the files, uninstall() the patches."""

    def __init__(self, out_dir, model_name, num_layers, started):
        self.out_dir = os.fspath(out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        self.model_name = model_name
        self.num_layers = num_layers
        self.started = started
        self.logs = {}  # model layer index -> VllmRouteLog
        self._layer_of = {}  # id(FusedMoE) -> model layer index
        self._step = {}  # layer -> forward passes seen
        self._local = threading.local()
        self._undo = []

    def layer_index(self, moe_module):
        key = id(moe_module)
        if key not in self._layer_of:
            name = str(getattr(moe_module, "layer_name", "") or getattr(moe_module, "prefix", "") or "")
            m = _LAYER_RE.search(name + ".")
            self._layer_of[key] = int(m.group(1)) if m else len(self._layer_of)
        return self._layer_of[key]

    def record(self, layer, topk_ids, topk_weights, num_experts, top_k):
        """Log one forward pass's routing at a model layer. Forward pass s
        of every layer is the same batch, so route i of each file is the
        same token: req_id "step-s" (or "profile-s" before start()),
        token_idx i."""
        log = self.logs.get(layer)
        if log is None:
            log = VllmRouteLog(os.path.join(self.out_dir, "layer%03d.jsonl" % layer), self.model_name,
                               layer, num_experts, top_k, self.num_layers)
            self.logs[layer] = log
        s = self._step.get(layer, 0)
        self._step[layer] = s + 1
        ids = _tolist(topk_ids)
        req = ("step-%d" if self.started else "profile-%d") % s
        log.write(req, list(range(len(ids))), ids, None if topk_weights is None else _tolist(topk_weights))

    def start(self):
        self.started = True

    def stop(self):
        self.started = False

    def close(self):
        for log in self.logs.values():
            log.close()

    def uninstall(self):
        for obj, name, old in reversed(self._undo):
            setattr(obj, name, old)
        self._undo = []
        self.close()


def install_vllm_logger(out_dir, model_name="", num_layers=None, started=True):
    """Patch vLLM's FusedMoE so that every routing decision is logged, one
    file per MoE layer (out_dir/layerNNN.jsonl), for ``moec trace convert``.

    Call it in the process that runs the model before the model is built
    (with ``LLM(..., enforce_eager=True)``: CUDA-graph replays and compiled
    graphs do not run Python, so they would log nothing), and with
    VLLM_ENABLE_V1_MULTIPROCESSING=0 so the engine core runs in that process.
    Each FusedMoE forward records which layer is running (from its
    layer_name, "model.layers.8.mlp.experts" -> 8); the wrapped
    select_experts logs the top-k ids and weights it returns. Started with
    started=False, passes are logged as "profile-N" (skipped by convert)
    until ``.start()``. Returns the logger; ``uninstall()`` restores vLLM.

    Not run here: the device machine has no vLLM, so only the log writing
    (VllmRouteLog, _VllmLogger.record) is tested.
    """
    from vllm.model_executor.layers.fused_moe import layer as fmoe  # noqa: import only where vLLM is

    logger = _VllmLogger(out_dir, model_name, num_layers, started)
    cls = fmoe.FusedMoE
    fwd_name = "forward_impl" if hasattr(cls, "forward_impl") else "forward"
    old_fwd = getattr(cls, fwd_name)

    def forward(self, *args, **kwargs):
        prev = getattr(logger._local, "moe", None)
        logger._local.moe = self
        try:
            return old_fwd(self, *args, **kwargs)
        finally:
            logger._local.moe = prev

    setattr(cls, fwd_name, forward)
    logger._undo.append((cls, fwd_name, old_fwd))

    raw = cls.__dict__.get("select_experts")
    if raw is None:
        raise RuntimeError("this vLLM's FusedMoE has no select_experts; see docs/TRACES.md")
    is_static = isinstance(raw, staticmethod)
    fn = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw

    def _log(result):
        moe = getattr(logger._local, "moe", None)
        if moe is None:
            return
        # (topk_weights, topk_ids[, ...]) in every vLLM version that has it
        weights, ids = result[0], result[1]
        num_experts = int(getattr(moe, "global_num_experts", 0) or getattr(moe, "num_experts", 0) or 0)
        top_k = int(getattr(moe, "top_k", 0) or ids.shape[-1])
        logger.record(logger.layer_index(moe), ids, weights.float(), num_experts or int(ids.max()) + 1, top_k)

    if is_static:
        def select_experts(*args, **kwargs):
            result = fn(*args, **kwargs)
            _log(result)
            return result
        setattr(cls, "select_experts", staticmethod(select_experts))
    else:
        def select_experts(self, *args, **kwargs):
            result = fn(self, *args, **kwargs)
            prev = getattr(logger._local, "moe", None)
            logger._local.moe = prev or self
            try:
                _log(result)
            finally:
                logger._local.moe = prev
            return result
        setattr(cls, "select_experts", select_experts)
    logger._undo.append((cls, "select_experts", raw))
    return logger


def main(argv=None):
    """python3 tools/capture/capture.py MODEL_DIR OUT.jsonl [PROMPT] [-n TOKENS]:
    load a local transformers checkpoint, generate, and write the trace."""
    import argparse

    p = argparse.ArgumentParser(description="Record a transformers MoE model's routing as a moec trace.")
    p.add_argument("model", help="a local checkpoint directory or hub id (already downloaded)")
    p.add_argument("out", help="the trace to write (.jsonl)")
    p.add_argument("prompt", nargs="?", default="The capital of France is")
    p.add_argument("-n", "--max-new-tokens", type=int, default=32)
    p.add_argument("--dtype", default="bfloat16")
    a = p.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=getattr(torch, a.dtype), device_map="auto")
    ids = tok(a.prompt, return_tensors="pt").input_ids.to(model.device)
    with Recorder(model, a.out) as rec:
        model.generate(ids, max_new_tokens=a.max_new_tokens, do_sample=False)
    print("%s: %d tokens, %d rows, %d MoE layers, %d experts, top-%d (%s)" % (
        a.out, rec.tokens, rec.num_entries, rec.num_layers, rec.num_experts, rec.top_k, rec.model_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
