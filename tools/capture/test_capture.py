"""Tests of tools/capture: python3 -m unittest discover -s tools/capture

The writer and the vLLM log writer need only the standard library. The
Recorder tests need torch (not transformers: they hook a small stand-in
model) and are skipped without it. The tests that read what was written
with moec itself run when a moec binary is found (MOEC_BIN, or .gpu/moec
from `CGO_ENABLED=0 go build -o .gpu/moec ./cmd/moec`).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import capture  # noqa: E402

try:
    import torch
except ImportError:  # the CPU machines have no torch
    torch = None


def moec_bin():
    for p in (os.environ.get("MOEC_BIN"), os.path.join(ROOT, ".gpu", "moec")):
        if p and os.access(p, os.X_OK):
            return p
    return shutil.which("moec")


REAL_TRACE = os.path.join(ROOT, "testdata", "traces", "qwen15moe-gsm8k-5layer.jsonl")


class FormatTest(unittest.TestCase):
    def test_real_trace_bytes(self):
        # moec's Go writer and the reference's recorders lay rows out alike;
        # the real trace's lines must come back byte for byte.
        if not os.path.exists(REAL_TRACE):
            self.skipTest("no real trace")
        with open(REAL_TRACE) as f:
            header = f.readline().rstrip("\n")
            lines = [f.readline().rstrip("\n") for _ in range(500)]
        h = json.loads(header)
        self.assertEqual(
            capture.format_header(h["model_name"], h["num_layers"], h["num_experts"], h["top_k"],
                                  h["num_entries"]),
            header)
        for line in lines:
            r = json.loads(line)
            self.assertEqual(capture.format_row(r["t"], r["l"], r["e"], r["s"]), line)

    def test_rounding_and_null(self):
        self.assertEqual(capture.format_row(3, 1, [5, 2], [0.123456, 0.5]),
                         '{"t":3,"l":1,"e":[5,2],"s":[0.1235,0.5]}')
        self.assertEqual(capture.format_row(0, 0, [7], None), '{"t":0,"l":0,"e":[7],"s":null}')
        self.assertEqual(capture.format_row(0, 0, [1, 0], [1, -0.00001]),
                         '{"t":0,"l":0,"e":[1,0],"s":[1.0,0.0]}')
        with self.assertRaises(ValueError):
            capture.format_row(0, 0, [1], [float("nan")])

    def test_describe_model(self):
        self.assertEqual(capture.describe_model("m", [0, 1, 2], 3), "m")
        self.assertEqual(capture.describe_model("ds", list(range(1, 27)), 27), "ds MoE layers 1..26 of 27")
        self.assertEqual(capture.describe_model("q", [0, 8, 12], 24), "q MoE layers 0,8,12 of 24")
        self.assertEqual(capture.describe_model("q", [3], 4), "q MoE layers 3 of 4")


class WriterTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "t.jsonl")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_header_counts_rows(self):
        with capture.TraceWriter(self.path, "m", 2, 8, 2) as w:
            w.write_row(0, 0, [1, 2], [0.6, 0.4])
            w.write_row(0, 1, [3, 4], None)
            w.write_row(1, 0, [5], [1.0])
        with open(self.path) as f:
            lines = f.read().splitlines()
        self.assertEqual(json.loads(lines[0]),
                         {"model_name": "m", "num_layers": 2, "num_experts": 8, "top_k": 2, "num_entries": 3})
        self.assertEqual(lines[1:], ['{"t":0,"l":0,"e":[1,2],"s":[0.6,0.4]}',
                                     '{"t":0,"l":1,"e":[3,4],"s":null}',
                                     '{"t":1,"l":0,"e":[5],"s":[1.0]}'])
        self.assertEqual(os.listdir(self.dir), ["t.jsonl"])  # no temporary files left

    def test_checks(self):
        w = capture.TraceWriter(self.path, "m", 2, 8, 2)
        cases = [
            ((0, 2, [1], None), "layer 2 out of range [0,2)"),
            ((0, 0, [8], None), "expert 8 out of range [0,8)"),
            ((0, 0, [1, 1], None), "duplicate expert 1"),
            ((0, 0, [1, 2, 3], None), "3 experts, header says top_k 2"),
            ((0, 0, [], None), "no experts"),
            ((0, 0, [1, 2], [0.5]), "1 scores for 2 experts"),
            ((-1, 0, [1], None), "token -1, need at least 0"),
        ]
        for args, msg in cases:
            with self.assertRaises(ValueError) as cm:
                w.write_row(*args)
            self.assertEqual(str(cm.exception), msg)
        self.assertEqual(w.num_entries, 0)
        w.close()
        with self.assertRaises(ValueError):
            w.write_row(0, 0, [1], None)
        for args in ((0, 8, 2), (1, 0, 1), (1, 4, 5)):
            with self.assertRaises(ValueError):
                capture.TraceWriter(self.path, "m", *args)

    def test_abort_writes_nothing(self):
        with self.assertRaises(RuntimeError):
            with capture.TraceWriter(self.path, "m", 1, 4, 1) as w:
                w.write_row(0, 0, [1], None)
                raise RuntimeError("boom")
        self.assertEqual(os.listdir(self.dir), [])

    def test_moec_reads_it(self):
        moec = moec_bin()
        if not moec:
            self.skipTest("no moec binary (MOEC_BIN or .gpu/moec)")
        with capture.TraceWriter(self.path, "m", 3, 8, 2) as w:
            for t in range(50):
                for l in range(3):
                    w.write_row(t, l, [(t + l) % 8, (t * 3 + l + 1) % 8], [0.7, 0.3])
        out = subprocess.run([moec, "trace", "stats", self.path], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("3 layers, 8 experts, top-2; 150 rows, 300 accesses", out.stdout)


class FakeTensor:
    """Stands in for a torch tensor: only tolist() is used."""

    def __init__(self, rows):
        self.rows = rows

    def tolist(self):
        return [list(r) for r in self.rows]


class VllmLogTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return [json.loads(line) for line in f]

    def test_route_log_lines(self):
        p = os.path.join(self.dir, "l8.jsonl")
        log = capture.VllmRouteLog(p, "Qwen/Qwen1.5-MoE-A2.7B-Chat", 8, 60, 4, num_layers=24)
        log.write(["a", "b"], [0, 5], FakeTensor([[1, 2, 3, 4], [5, 6, 7, 8]]),
                  FakeTensor([[0.41234, 0.2, 0.1, 0.05], [0.3, 0.3, 0.2, 0.1]]))
        log.write("c", 0, [[9, 10, 11, 12]], None)
        log.close()
        rows = self.read("l8.jsonl")
        self.assertEqual(rows[0], {"type": "meta", "model": "Qwen/Qwen1.5-MoE-A2.7B-Chat", "layer": 8,
                                   "num_experts": 60, "top_k": 4, "num_layers": 24})
        self.assertEqual(rows[1], {"type": "route", "req_id": "a", "token_idx": 0, "layer": 8,
                                   "topk_ids": [1, 2, 3, 4], "topk_weights": [0.4123, 0.2, 0.1, 0.05]})
        self.assertEqual(rows[2]["req_id"], "b")
        self.assertEqual(rows[2]["token_idx"], 5)
        self.assertEqual(rows[3], {"type": "route", "req_id": "c", "token_idx": 0, "layer": 8,
                                   "topk_ids": [9, 10, 11, 12], "topk_weights": None})
        self.assertEqual(log.routes, 3)
        bad = capture.VllmRouteLog(os.path.join(self.dir, "x.jsonl"), "m", 0, 8, 2)
        with self.assertRaises(ValueError):
            bad.write(["a"], [0, 1], [[1, 2], [3, 4]])
        bad.close()

    def test_logger_record_and_convert(self):
        lg = capture._VllmLogger(self.dir, "m", 4, started=False)

        class Moe:
            def __init__(self, name):
                self.layer_name = name

        moes = [Moe("model.layers.%d.mlp.experts" % i) for i in (1, 3)]
        self.assertEqual([lg.layer_index(m) for m in moes], [1, 3])
        # a profiling pass, then two real passes of 3 and 1 tokens
        for m in moes:
            lg.record(lg.layer_index(m), [[0, 1]] * 5, [[0.5, 0.5]] * 5, 8, 2)
        lg.start()
        for step, n in enumerate((3, 1)):
            for j, m in enumerate(moes):
                ids = [[(i + j + step) % 8, (i + j + step + 1) % 8] for i in range(n)]
                lg.record(lg.layer_index(m), FakeTensor(ids), FakeTensor([[0.6, 0.4]] * n), 8, 2)
        lg.close()
        self.assertEqual(sorted(os.listdir(self.dir)), ["layer001.jsonl", "layer003.jsonl"])
        rows = self.read("layer003.jsonl")
        self.assertEqual([(r["req_id"], r["token_idx"]) for r in rows[1:]],
                         [("profile-0", i) for i in range(5)] + [("step-1", 0), ("step-1", 1), ("step-1", 2),
                                                                 ("step-2", 0)])
        moec = moec_bin()
        if not moec:
            self.skipTest("no moec binary (MOEC_BIN or .gpu/moec)")
        out = os.path.join(self.dir, "trace.jsonl")
        r = subprocess.run([moec, "trace", "convert", "-o", out,
                            os.path.join(self.dir, "layer003.jsonl"), os.path.join(self.dir, "layer001.jsonl")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            lines = [json.loads(x) for x in f]
        self.assertEqual(lines[0]["num_layers"], 2)
        self.assertEqual(lines[0]["num_entries"], 8)
        self.assertEqual(lines[0]["model_name"], "m layers 1,3 of 4")
        self.assertEqual(lines[1], {"t": 0, "l": 0, "e": [0, 1], "s": [0.6, 0.4]})
        self.assertEqual(lines[2], {"t": 0, "l": 1, "e": [1, 2], "s": [0.6, 0.4]})
        self.assertEqual(lines[8], {"t": 3, "l": 1, "e": [2, 3], "s": [0.6, 0.4]})


@unittest.skipIf(torch is None, "torch is not installed")
class RecorderTest(unittest.TestCase):
    """The Recorder on a stand-in for a transformers MoE model: layers with
    .mlp.gate (nn.Linear, as transformers 4.x), one dense layer, and a
    forward that runs every layer's router on all tokens."""

    def make_model(self, gate_kind="linear", family="qwen2_moe", norm=False):
        nn = torch.nn

        class Cfg:
            model_type = family
            num_experts = 8
            num_experts_per_tok = 2
            norm_topk_prob = norm
            name_or_path = "fake/%s" % family

        class TopK(nn.Module):  # transformers 5.x style: (logits, weights, ids)
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(16, 8, bias=False)

            def forward(self, h):
                logits = self.lin(h.reshape(-1, 16))
                p = torch.softmax(logits.float(), dim=-1)
                w, i = torch.topk(p, 2, dim=-1)
                return logits, w / w.sum(-1, keepdim=True), i

        class Mlp(nn.Module):
            def __init__(self, moe):
                super().__init__()
                if moe:
                    self.gate = nn.Linear(16, 8, bias=False) if gate_kind == "linear" else TopK()
                else:
                    self.gate_proj = nn.Linear(16, 16, bias=False)

            def forward(self, h):
                if hasattr(self, "gate"):
                    self.gate(h.reshape(-1, 16))
                    return h
                return self.gate_proj(h)

        class Layer(nn.Module):
            def __init__(self, moe):
                super().__init__()
                self.mlp = Mlp(moe)

            def forward(self, h):
                return h + 0.1 * self.mlp(h)

        class Inner(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList([Layer(i != 0) for i in range(4)])

            def forward(self, h):
                for layer in self.layers:
                    h = layer(h)
                return h

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.config = Cfg()
                self.model = Inner()

            def forward(self, h):
                return self.model(h)

        torch.manual_seed(0)
        return Model()

    def routes(self, model, h):
        """The experts each MoE layer's router picks, computed directly."""
        out = []
        with torch.no_grad():
            for layer in model.model.layers:
                if hasattr(layer.mlp, "gate"):
                    g = layer.mlp.gate
                    logits = (g.lin if hasattr(g, "lin") else g)(h.reshape(-1, 16))
                    out.append(torch.topk(torch.softmax(logits.float(), -1), 2, -1))
                h = layer(h)
        return out

    def run_capture(self, model, inputs):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        path = os.path.join(d, "t.jsonl")
        with torch.no_grad(), capture.Recorder(model, path) as rec:
            for h in inputs:
                model(h)
        with open(path) as f:
            header = json.loads(f.readline())
            rows = [json.loads(x) for x in f]
        return rec, header, rows

    def test_token_major_rows(self):
        model = self.make_model()
        inputs = [torch.randn(1, 5, 16), torch.randn(1, 1, 16), torch.randn(2, 1, 16)]
        rec, header, rows = self.run_capture(model, inputs)
        self.assertEqual(header, {"model_name": "fake/qwen2_moe MoE layers 1..3 of 4", "num_layers": 3,
                                  "num_experts": 8, "top_k": 2, "num_entries": 24})
        self.assertEqual(rec.tokens, 8)
        self.assertEqual([(r["t"], r["l"]) for r in rows], [(t, l) for t in range(8) for l in range(3)])
        t0 = 0
        for h in inputs:
            want = self.routes(model, h)
            n = h.shape[0] * h.shape[1]
            for tok in range(n):
                for l in range(3):
                    r = rows[(t0 + tok) * 3 + l]
                    self.assertEqual(r["e"], want[l].indices[tok].tolist())
                    for a, b in zip(r["s"], want[l].values[tok].tolist()):  # not renormalised
                        self.assertAlmostEqual(a, b, places=3)
            t0 += n

    def test_renormalised(self):
        for family, norm in (("mixtral", False), ("qwen3_moe", True)):
            model = self.make_model(family=family, norm=norm)
            _, _, rows = self.run_capture(model, [torch.randn(1, 4, 16)])
            for r in rows:
                self.assertAlmostEqual(sum(r["s"]), 1.0, places=3)

    def test_topk_router_tuple(self):
        model = self.make_model(gate_kind="topk", family="mixtral")
        h = torch.randn(1, 6, 16)
        _, header, rows = self.run_capture(model, [h])
        want = self.routes(model, h)
        for tok in range(6):
            for l in range(3):
                r = rows[tok * 3 + l]
                self.assertEqual(r["e"], want[l].indices[tok].tolist())
                self.assertAlmostEqual(sum(r["s"]), 1.0, places=3)

    def test_deepseek_tuple_and_v3_logits(self):
        f = capture.routing_from_gate_output
        ids = torch.tensor([[3, 1], [0, 2]])
        w = torch.tensor([[0.7, 0.3], [0.6, 0.4]])
        got_i, got_w = f((ids, w, None), "deepseek_v2", None, 8, 2)
        self.assertEqual(got_i.tolist(), ids.tolist())
        self.assertEqual(got_w.tolist(), w.tolist())

        class Cfg:
            scoring_func = "sigmoid"
            n_group = 2
            topk_group = 1
            norm_topk_prob = True
            routed_scaling_factor = 2.5

        logits = torch.tensor([[5.0, 0.0, 0.0, 0.0, 4.0, 4.0, 0.0, 0.0]])
        # group 1 (experts 4..7) scores higher by its top two, so expert 0 is out
        i, wts = f(logits, "deepseek_v3", Cfg(), 8, 2)
        self.assertEqual(sorted(i[0].tolist()), [4, 5])
        self.assertAlmostEqual(float(wts.sum()), 2.5, places=4)

    def test_no_gate(self):
        model = self.make_model()
        for layer in model.model.layers:
            if hasattr(layer.mlp, "gate"):
                del layer.mlp.gate
        with self.assertRaises(ValueError):
            capture.Recorder(model, os.path.join(tempfile.gettempdir(), "never.jsonl"))


if __name__ == "__main__":
    unittest.main()
