//go:build cuda

package cuda

/*
#include <cuda.h>
#include "params.h"
*/
import "C"

import (
	"errors"
	"math"
	"unsafe"
)

// The prefill runs a prompt in chunks of C.PREFILL_T tokens: per layer,
// each matrix is multiplied by the chunk's rows at once on tensor cores
// (engine/kernels/prefill.cu says why, with the arithmetic), and a sparse
// layer's (token, k) slots are grouped by expert so that each expert's
// weights are read once for all the tokens that chose it. It writes the
// key/value cache and the routing trace of every prompt position, then
// runs the final norm, lm_head and argmax of the last prompt token only,
// leaving the step state, the output tokens and the cache as the decode
// steps of the prompt would have: the captured decode step continues
// from there. Multi-head latent attention runs over the rows as the
// decode step runs it for one token (latentAttentionRows, mla.go). It
// needs every expert resident; Options.StepPrefill turns it off.

// chunkTokens is the most prompt tokens a chunk runs.
const chunkTokens = C.PREFILL_T

// prefillBufs is a chunk's workspace, PREFILL_T rows of each.
type prefillBufs struct {
	x, xn, qkv, q, att C.CUdeviceptr // [T][hidden], [T][hidden], [T][qkvRows], [T][q], [T][q]
	mq, qa, mv         C.CUdeviceptr // MLA: [T][heads][nope+rope] (q_b_proj's), [T][q_lora_rank], [T][heads][v]
	rlogits            C.CUdeviceptr // [T][rld]: the router's logits and the shared gate's
	sel                C.CUdeviceptr // int [T][topk]
	weights            C.CUdeviceptr // [T][slots]: the combine weights, then the shared expert's
	offsets, list      C.CUdeviceptr // int [experts+1], int [T*topk]: the slots by expert
	act                C.CUdeviceptr // [T*slots][actStride]: entry k of token t at row t*slots + k
	parts              C.CUdeviceptr // [T*slots][hidden]: the same rows, the entries' outputs
	slots, rld         int
}

// allocPrefill allocates the chunk's workspace (27 MB for Qwen1.5-MoE).
func (e *Engine) allocPrefill() error {
	cfg := e.cfg
	p := &prefillBufs{slots: e.topk + 1, rld: cfg.Experts + 1}
	T, f := int64(C.PREFILL_T), int64(4)
	h, slots, k := int64(e.hidden), int64(p.slots), int64(max(e.topk, 1))
	mq, qa, mv := mlaRows(cfg) // MLA's, in floats a row
	for _, b := range []struct {
		p *C.CUdeviceptr
		n int64
	}{
		{&p.x, T * h * f},
		{&p.xn, T * h * f},
		{&p.qkv, T * int64(e.qkvRows) * f},
		{&p.q, T * int64(e.qDim) * f},
		{&p.att, T * int64(e.qDim) * f},
		{&p.mq, T * int64(mq) * f}, // a byte each but for MLA
		{&p.qa, T * int64(qa) * f},
		{&p.mv, T * int64(mv) * f},
		{&p.rlogits, T * int64(p.rld) * f},
		{&p.sel, T * k * 4},
		{&p.weights, T * slots * f},
		{&p.offsets, int64(cfg.Experts+1) * 4},
		{&p.list, T * k * 4},
		{&p.act, T * slots * int64(e.actStride) * f},
		{&p.parts, T * slots * h * f},
	} {
		var err error
		if *b.p, err = e.work(b.n); err != nil {
			return err
		}
	}
	e.pre = p
	return nil
}

// runPrompt runs the prompt begin uploaded, up to and including the
// choice of the first generated token: in chunks, or one decode step per
// token under StepPrefill (or for a prompt of one token, which is one
// step either way).
func (e *Engine) runPrompt(prompt []int) error {
	if e.pre == nil || e.o.StepPrefill || e.h != nil || len(prompt) < 2 {
		for range prompt {
			if err := e.runStep(); err != nil {
				return err
			}
		}
		return nil
	}
	return e.prefill(prompt)
}

// prefill runs the prompt in chunks; the stream is idle (begin
// synchronised) and the prompt is on the device.
func (e *Engine) prefill(prompt []int) error {
	cfg, d, p := e.cfg, e.d, e.pre
	n := len(prompt)
	// The state as the decode steps leave it before the last prompt
	// token's step, whose argmax chooses the first generated token and
	// advances it to position n. Only that argmax reads it.
	st := C.StepState{pos: C.int(n - 1), token: C.int(prompt[n-1]), prompt_len: C.int(n)}
	if err := d.upload(e.state, unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st))); err != nil {
		return err
	}
	var errs []error
	try := func(err error) { errs = append(errs, err) }
	pending, last := 0, 0
	for c0 := 0; c0 < n; c0 += C.PREFILL_T {
		rows := min(C.PREFILL_T, n-c0)
		pending = e.prefillChunk(c0, rows, try)
		last = rows - 1
	}
	h := C.CUdeviceptr(e.hidden * 4)
	np := C.NormRowsParams{norm: C.NormParams{x: dp(p.x + C.CUdeviceptr(last)*h), weight: dp(e.finalNorm), xn: dp(e.xn),
		n: C.int(e.hidden), eps: C.float(cfg.RMSNormEps)}, rows: 1, parts_stride: C.int(p.slots * e.hidden)}
	if pending > 0 {
		np.norm.parts, np.norm.nparts = dp(p.parts+C.CUdeviceptr(last*p.slots)*h), C.int(pending)
	}
	try(launch(d, "add_norm_rows", [2]int{1, 1}, C.NORM_THREADS, 0, &np, int64(e.hidden)*int64(14+4*pending)))
	try(gemv(d, &C.GemvParams{w: dp(e.lmHead), x: dp(e.xn), y: dp(e.logits), rows: C.int(cfg.Vocab), cols: C.int(e.hidden)}))
	am := C.ArgmaxParams{state: dp(e.state), logits: dp(e.logits), prompt: dp(e.prompt), out: dp(e.out), vocab: C.int(cfg.Vocab)}
	try(launch(d, "argmax", [2]int{1, 1}, C.ARGMAX_THREADS, 0, &am, int64(cfg.Vocab)*4))
	return errors.Join(errs...)
}

// prefillChunk launches every layer of the rows prompt tokens at
// positions c0.. and returns how many expert outputs per token the last
// layer left in parts, for the next norm to add.
func (e *Engine) prefillChunk(c0, rows int, try func(error)) int {
	cfg, d, p := e.cfg, e.d, e.pre
	hidden, eps := C.int(e.hidden), C.float(cfg.RMSNormEps)
	n, h := int64(rows), int64(e.hidden)
	slots := p.slots
	emb := C.EmbedRowsParams{prompt: dp(e.prompt), out: dp(e.out), table: dp(e.embed), x: dp(p.x), hidden: hidden,
		vocab: C.int(cfg.Vocab), pos0: C.int(c0), rows: C.int(rows)}
	try(launch(d, "embed_rows", [2]int{rows, 1}, 256, 0, &emb, n*h*6))
	norm := func(w C.CUdeviceptr, nparts int) {
		np := C.NormRowsParams{norm: C.NormParams{x: dp(p.x), weight: dp(w), xn: dp(p.xn), n: hidden, eps: eps},
			rows: C.int(rows), parts_stride: C.int(slots * e.hidden)}
		if nparts > 0 {
			np.norm.parts, np.norm.nparts = dp(p.parts), C.int(nparts)
		}
		try(launch(d, "add_norm_rows", [2]int{rows, 1}, C.NORM_THREADS, 0, &np, n*h*int64(14+4*nparts)))
	}
	pending := 0
	for i := range e.layers {
		l := &e.layers[i]
		norm(l.inNorm, pending)
		if cfg.MLA != nil {
			e.latentAttentionRows(l, c0, rows, try)
		} else {
			e.attentionRows(l, c0, rows, try)
		}
		norm(l.postNorm, 0)

		entries, shared := 0, 0 // the shared expert's (or dense MLP's) entry
		if l.sparse {
			router, rl := e.router(i, p.rlogits, p.sel, p.weights)
			rt := C.RouterRowsParams{router: router, ld: C.int(p.rld), pos0: C.int(c0), rows: C.int(rows)}
			try(gemm(d, &C.GemmParams{w: dp(l.router), x: dp(p.xn), y: dp(p.rlogits), n: C.int(rl), k: hidden, rows: C.int(rows),
				ldx: hidden, ldy: C.int(p.rld)}, 0, n))
			try(launch(d, "router_rows", [2]int{rows, 1}, 32, 0, &rt, n*int64(rl)*4))
			gp := C.GroupParams{sel: dp(p.sel), offsets: dp(p.offsets), list: dp(p.list), rows: C.int(rows), topk: C.int(e.topk), experts: C.int(cfg.Experts)}
			try(launch(d, "group_experts", [2]int{1, 1}, C.GROUP_THREADS, 0, &gp, n*int64(e.topk)*8))
			// Slot s = t*topk + k: its input is x row t, its act and parts
			// row t*slots + k, its weight weights[t*slots + k].
			inter := C.int(cfg.ExpertIntermediate)
			try(gemm(d, &C.GemmParams{w_tab: dp(l.gateTab), w2_tab: dp(l.upTab), offsets: dp(p.offsets), list: dp(p.list),
				x: dp(p.xn), y: dp(p.act), n: inter, k: hidden, ldx: hidden, ldy: C.int(e.actStride), odiv: C.int(e.topk), omul: C.int(slots)},
				cfg.Experts, 0))
			try(gemm(d, &C.GemmParams{w_tab: dp(l.downTab), offsets: dp(p.offsets), list: dp(p.list), x: dp(p.act), y: dp(p.parts),
				scale: dp(p.weights), n: hidden, k: inter, ldx: C.int(e.actStride), ldy: hidden, odiv: C.int(e.topk), omul: C.int(slots), in_mapped: 1},
				cfg.Experts, 0))
			entries, shared = e.topk, e.topk
		}
		if l.sharedG != 0 {
			// Token t: input x row t, act and parts row t*slots + shared.
			si := C.int(l.sharedInter)
			try(gemm(d, &C.GemmParams{w: dp(l.sharedG), w2: dp(l.sharedU), x: dp(p.xn), y: dp(p.act), n: si, k: hidden, rows: C.int(rows),
				ldx: hidden, ldy: C.int(e.actStride), omul: C.int(slots), oadd: C.int(shared)}, 0, n))
			down := C.GemmParams{w: dp(l.sharedD), x: dp(p.act), y: dp(p.parts), n: hidden, k: si, rows: C.int(rows),
				ldx: C.int(e.actStride), ldy: hidden, omul: C.int(slots), oadd: C.int(shared), in_mapped: 1}
			if l.sparse {
				down.scale = dp(p.weights) // the shared gate's sigmoid, or 1; a dense MLP's weight is 1
			}
			try(gemm(d, &down, 0, n))
			entries++
		}
		pending = entries
	}
	return pending
}

// attentionRows launches a layer's grouped-query attention on the chunk's
// rows normalised tokens at positions c0.., adding o_proj's output to
// their residual stream: q/k/v as one product, rope_rows (which writes
// the cache), attn_rows, o_proj.
func (e *Engine) attentionRows(l *layerBufs, c0, rows int, try func(error)) {
	cfg, d, p := e.cfg, e.d, e.pre
	hidden, n := C.int(e.hidden), int64(rows)
	qkvw := e.qkvRows
	try(gemm(d, &C.GemmParams{w: dp(l.qkvW), bias: dp(l.qkvB), x: dp(p.xn), y: dp(p.qkv), n: C.int(qkvw), k: hidden,
		rows: C.int(rows), ldx: hidden, ldy: C.int(qkvw)}, 0, n))
	rp := C.RopeRowsParams{rope: C.RopeParams{qkv: dp(p.qkv), q_out: dp(p.q), kcache: dp(l.kc), vcache: dp(l.vc), inv_freq: dp(e.invFreq),
		qnorm: dp(l.qNorm), knorm: dp(l.kNorm), heads: C.int(cfg.Heads), kv_heads: C.int(cfg.KVHeads), head_dim: C.int(e.headDim),
		max_ctx: C.int(e.o.MaxContext), qk_norm: C.int(e.qkNorm()), eps: C.float(cfg.RMSNormEps), attn_scale: C.float(e.ropeScale)},
		pos0: C.int(c0), rows: C.int(rows)}
	try(launch(d, e.kernel("rope_rows"), [2]int{cfg.Heads + 2*cfg.KVHeads, rows}, C.ROPE_THREADS, 0, &rp, n*int64(qkvw+e.qDim+2*e.kvDim)*4))
	ap := C.AttnRowsParams{q: dp(p.q), kcache: dp(l.kc), vcache: dp(l.vc), out: dp(p.att), heads: C.int(cfg.Heads), kv_heads: C.int(cfg.KVHeads),
		head_dim: C.int(e.headDim), pos0: C.int(c0), rows: C.int(rows), scale: C.float(1 / math.Sqrt(float64(e.headDim)))}
	try(launch(d, e.kernel("attn_rows"), [2]int{cfg.Heads, rows}, C.ATTN_THREADS, 0, &ap, 2*int64(c0+rows)*int64(e.kvDim)*e.kvElem()))
	try(gemm(d, &C.GemmParams{w: dp(l.o), x: dp(p.att), y: dp(p.x), n: hidden, k: C.int(e.qDim), rows: C.int(rows),
		ldx: C.int(e.qDim), ldy: hidden, accumulate: 1}, 0, n))
}

// gemm launches gemm, or gemm_gated when p has a second matrix: over
// items 0..p.rows-1 in blocks of (GEMM_TOKENS items, GEMM_ROWS rows), the
// blocks sharing a matrix's rows next to each other in launch order so
// that the second reads it from L2; or, when p.offsets is set, over
// groups groups, a block per (GEMM_ROWS rows, group); or, for p.heads
// products, a block per (GEMM_TOKENS items, GEMM_ROWS rows, head), the
// heads' row tiles one after another in the grid's y. A zero odiv or omul
// means 1. tokens is the items, for the profile's bytes (0: grouped).
func gemm(d *device, p *C.GemmParams, groups int, tokens int64) error {
	name := "gemm"
	mats := int64(1)
	if p.w2 != 0 || p.w2_tab != 0 {
		name, mats = "gemm_gated", 2
	}
	p.odiv, p.omul = max(p.odiv, 1), max(p.omul, 1)
	heads := max(int(p.heads), 1)
	tiles := (int(p.n) + C.GEMM_ROWS - 1) / C.GEMM_ROWS
	grid := [2]int{(int(p.rows) + C.GEMM_TOKENS - 1) / C.GEMM_TOKENS, tiles * heads}
	if p.offsets != 0 {
		grid = [2]int{tiles, groups}
	}
	if grid[0] == 0 || grid[1] == 0 {
		return nil
	}
	bytes := mats*int64(p.n)*int64(p.k)*2 + tokens*int64(p.k+p.n)*4
	if p.offsets != 0 {
		bytes *= int64(groups)
	} else {
		bytes *= int64(heads)
	}
	return launch(d, name, grid, C.GEMM_THREADS, 0, p, bytes)
}
