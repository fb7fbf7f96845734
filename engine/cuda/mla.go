//go:build cuda

package cuda

/*
#include <cuda.h>
#include "params.h"
*/
import "C"

import (
	"fmt"

	"github.com/moepolicy/moec/engine/cpu"
	"github.com/moepolicy/moec/model"
)

// DeepSeek-V2's multi-head latent attention runs in the absorbed form
// that DeepSeek's paper (section 2.1.3) and vLLM use for decoding: the
// cache keeps, a token, the compressed latent c (kv_lora_rank, after
// kv_a_layernorm) and the rotated rope key k_pe shared by every head
// (qk_rope_head_dim), and kv_b_proj is never applied to the cache.
// kv_b_proj's rows of head h are W_UK[h] (qk_nope_head_dim rows, the
// keys') then W_UV[h] (v_head_dim rows, the values'); since
// q_nope . (W_UK c) = (W_UK^T q_nope) . c, a step computes per head
//
//	q_lat = W_UK[h]^T q_nope[h]                    rank floats
//	score_t = (q_lat . c_t + q_pe[h] . k_pe_t) * softmax_scale
//	out_lat = sum_t softmax(score)_t c_t
//	v[h] = W_UV[h] out_lat
//
// and then o_proj: attention of one key/value head of rank + rope
// dimensions (attn_mla), between two head-batched gemvs. The numbers are
// engine/cpu's (mla.go), which decompresses as transformers does, up to
// fp32 rounding and one rounding point: the cache holds c rather than
// W_UK c and W_UV c, rounded to bf16 unless Options.KVFloat32 (HF's bf16
// run rounds c, after kv_a_layernorm, too).
//
// The chunked prefill (prefill.go) runs the same per row of a chunk
// (latentAttentionRows): the projections, the absorption and the values'
// expansion as tensor-core products over the rows (the absorbed products
// one per head, in one launch), mla_rope_rows writing the chunk's latents
// to the cache at their positions, and attn_mla_rows attending each row
// over the cache up to its own position.

// supportedMLA says why the GPU path cannot run cfg, a model of
// multi-head latent attention, or nil: it runs what the CPU reference
// runs (DeepSeek-V2), within the attention kernels' sizes (supported
// checks the router's and the widths).
func supportedMLA(cfg *model.Config) error {
	if err := cpu.Supported(cfg); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	m := cfg.MLA
	switch {
	case m.KVLoraRank+m.QKRope > C.MAX_MLA_DIM:
		return fmt.Errorf("cuda: kv_lora_rank %d + qk_rope_head_dim %d is more than the %d floats of a latent cache row the attention kernel takes", m.KVLoraRank, m.QKRope, C.MAX_MLA_DIM)
	case (m.QKNope+m.QKRope)%4 != 0 || (m.KVLoraRank+m.QKRope)%4 != 0:
		return fmt.Errorf("cuda: qk_nope_head_dim %d + qk_rope_head_dim %d, or kv_lora_rank %d + qk_rope_head_dim, is not a multiple of 4 (the head-batched gemvs load a head's vector 4 floats at a time)", m.QKNope, m.QKRope, m.KVLoraRank)
	}
	return nil
}

// mlaRows returns the floats a token takes in latent attention's own
// buffers: q_b_proj's queries and q_a_layernorm's output (0 without
// q_lora_rank: q_proj's queries go with the latent, in the qkv rows) and
// the heads' values; zeros for the other families.
func mlaRows(cfg *model.Config) (mq, qa, mv int) {
	m := cfg.MLA
	if m == nil {
		return 0, 0, 0
	}
	if m.QLoraRank > 0 {
		mq, qa = cfg.Heads*(m.QKNope+m.QKRope), m.QLoraRank
	}
	return mq, qa, cfg.Heads * m.VHead
}

// loadMLA uploads a layer's latent attention: q_proj, or q_a_proj with
// q_a_layernorm and q_b_proj, whose first matrix shares a launch with
// kv_a_proj_with_mqa (one matrix, so one gemv computes both from the
// normalised token); kv_a_layernorm; and kv_b_proj split by head into
// W_UK^T ([heads][rank][nope]: transposed, so that absorbing q_nope is a
// gemv over rows) and W_UV ([heads][v][rank]).
func (e *Engine) loadMLA(ck *model.Checkpoint, l *layerBufs, a model.Attention) (err error) {
	m, heads := e.cfg.MLA, e.cfg.Heads
	first := a.Q
	if m.QLoraRank > 0 {
		first = a.QA
		if l.qaNorm, err = e.upload(ck, a.QANorm); err != nil {
			return err
		}
		if l.qb, err = e.upload(ck, a.QB); err != nil {
			return err
		}
	}
	if l.qkvW, err = e.uploadRows(ck, first, a.KVA); err != nil {
		return err
	}
	if l.kvNorm, err = e.upload(ck, a.KVANorm); err != nil {
		return err
	}
	kvb, err := ck.BFloat16(a.KVB)
	if err != nil {
		return err
	}
	rank, nope, v := m.KVLoraRank, m.QKNope, m.VHead // ck checked kv_b_proj's shape
	uk, uv := make([]byte, 2*heads*rank*nope), make([]byte, 2*heads*v*rank)
	for h := range heads {
		for j := range nope {
			row := kvb[2*(h*(nope+v)+j)*rank:]
			for c := range rank {
				at := 2 * ((h*rank+c)*nope + j)
				uk[at], uk[at+1] = row[2*c], row[2*c+1]
			}
		}
		copy(uv[2*h*v*rank:2*(h+1)*v*rank], kvb[2*(h*(nope+v)+nope)*rank:])
	}
	if l.uk, err = e.uploadBytes(uk, &e.weightBytes); err != nil {
		return err
	}
	l.uv, err = e.uploadBytes(uv, &e.weightBytes)
	return err
}

// latentAttention launches a layer's multi-head latent attention on the
// normalised token e.xn, adding o_proj's output to the residual stream:
// the projections, the query's absorption, mla_rope (the rotations, the
// latent's norm and the cache), attention over the latents, and the
// values' expansion.
func (e *Engine) latentAttention(l *layerBufs, try func(error)) {
	cfg, d, m := e.cfg, e.d, e.cfg.MLA
	heads, rank, rope, qk := cfg.Heads, m.KVLoraRank, m.QKRope, m.QKNope+m.QKRope
	eps := C.float(m.NormEps)
	try(gemv(d, &C.GemvParams{w: dp(l.qkvW), x: dp(e.xn), y: dp(e.qkv), rows: C.int(e.qkvRows), cols: C.int(e.hidden)}))
	q, kv := e.qkv, e.qkv+C.CUdeviceptr(4*heads*qk)
	if m.QLoraRank > 0 {
		kv = e.qkv + C.CUdeviceptr(4*m.QLoraRank)
		np := C.NormParams{x: dp(e.qkv), weight: dp(l.qaNorm), xn: dp(e.qa), n: C.int(m.QLoraRank), eps: eps}
		try(launch(d, "add_norm", [2]int{1, 1}, C.NORM_THREADS, 0, &np, int64(m.QLoraRank)*14))
		try(gemv(d, &C.GemvParams{w: dp(l.qb), x: dp(e.qa), y: dp(e.mq), rows: C.int(heads * qk), cols: C.int(m.QLoraRank)}))
		q = e.mq
	}
	// q_lat of head h into the first rank floats of its row of e.q.
	try(gemvHeads(d, &C.GemvParams{w: dp(l.uk), x: dp(q), y: dp(e.q), rows: C.int(rank), cols: C.int(m.QKNope),
		w_stride: C.longlong(rank * m.QKNope), x_stride: C.int(qk), y_stride: C.int(e.headDim)}, heads))
	rp := C.MLARopeParams{state: dp(e.state), q: dp(q), kv: dp(kv), q_out: dp(e.q), cache: dp(l.kc), inv_freq: dp(e.invFreq),
		kv_norm: dp(l.kvNorm), heads: C.int(heads), nope: C.int(m.QKNope), rope: C.int(rope), rank: C.int(rank), eps: eps,
		attn_scale: C.float(e.ropeScale)}
	try(launch(d, e.kernel("mla_rope"), [2]int{heads + 1, 1}, C.ROPE_THREADS, 0, &rp, int64(heads*rope+rank+rope)*4+int64(e.kvDim)*e.kvElem()))
	ap := C.AttnParams{state: dp(e.state), q: dp(e.q), kcache: dp(l.kc), vcache: dp(l.kc), part_out: dp(e.partOut), part_ml: dp(e.partML),
		out: dp(e.att), heads: C.int(heads), kv_heads: 1, head_dim: C.int(e.headDim), max_ctx: C.int(e.o.MaxContext),
		splits: C.int(e.splits), scale: C.float(m.SoftmaxScale)}
	try(launch(d, e.kernel("attn_mla"), [2]int{heads, e.splits}, C.ATTN_THREADS, e.attnSmem(), &ap, e.kvBytesRead()))
	try(launch(d, "attn_combine", [2]int{heads, 1}, C.ATTN_THREADS, 0, &ap, int64(heads*e.splits*(e.headDim+2)*4+e.qDim*4)))
	// v[h] = W_UV[h] out_lat[h]: the first rank floats of e.att's row h.
	try(gemvHeads(d, &C.GemvParams{w: dp(l.uv), x: dp(e.att), y: dp(e.mv), rows: C.int(m.VHead), cols: C.int(rank),
		w_stride: C.longlong(m.VHead * rank), x_stride: C.int(e.headDim), y_stride: C.int(m.VHead)}, heads))
	try(gemv(d, &C.GemvParams{w: dp(l.o), x: dp(e.mv), y: dp(e.x), rows: C.int(e.hidden), cols: C.int(heads * m.VHead), accumulate: 1}))
}

// latentAttentionRows launches a layer's multi-head latent attention on
// a prefill chunk's rows normalised tokens (the chunk's xn) at positions
// c0.., adding o_proj's output to their residual stream: latentAttention's
// launches over the rows, each gemv a gemm.
func (e *Engine) latentAttentionRows(l *layerBufs, c0, rows int, try func(error)) {
	cfg, d, m, p := e.cfg, e.d, e.cfg.MLA, e.pre
	heads, rank, rope, qk := cfg.Heads, m.KVLoraRank, m.QKRope, m.QKNope+m.QKRope
	hidden, n, eps := C.int(e.hidden), int64(rows), C.float(m.NormEps)
	ld := e.qkvRows // a row of the first projection: q (or q_a), then kv_a
	try(gemm(d, &C.GemmParams{w: dp(l.qkvW), x: dp(p.xn), y: dp(p.qkv), n: C.int(ld), k: hidden, rows: C.int(rows),
		ldx: hidden, ldy: C.int(ld)}, 0, n))
	q, qld, kv := p.qkv, ld, p.qkv+C.CUdeviceptr(4*heads*qk)
	if m.QLoraRank > 0 {
		kv = p.qkv + C.CUdeviceptr(4*m.QLoraRank)
		np := C.NormRowsParams{norm: C.NormParams{x: dp(p.qkv), weight: dp(l.qaNorm), xn: dp(p.qa), n: C.int(m.QLoraRank), eps: eps},
			rows: C.int(rows), x_ld: C.int(ld)}
		try(launch(d, "add_norm_rows", [2]int{rows, 1}, C.NORM_THREADS, 0, &np, n*int64(m.QLoraRank)*14))
		try(gemm(d, &C.GemmParams{w: dp(l.qb), x: dp(p.qa), y: dp(p.mq), n: C.int(heads * qk), k: C.int(m.QLoraRank), rows: C.int(rows),
			ldx: C.int(m.QLoraRank), ldy: C.int(heads * qk)}, 0, n))
		q, qld = p.mq, heads*qk
	}
	// q_lat of row t's head h into the first rank floats of that head's
	// row of the chunk's q, one product per head.
	try(gemm(d, &C.GemmParams{w: dp(l.uk), x: dp(q), y: dp(p.q), n: C.int(rank), k: C.int(m.QKNope), rows: C.int(rows),
		ldx: C.int(qld), ldy: C.int(e.qDim), heads: C.int(heads), w_stride: C.longlong(rank * m.QKNope), x_stride: C.int(qk),
		y_stride: C.int(e.headDim)}, 0, n))
	rp := C.MLARopeRowsParams{rope: C.MLARopeParams{q: dp(q), kv: dp(kv), q_out: dp(p.q), cache: dp(l.kc), inv_freq: dp(e.invFreq),
		kv_norm: dp(l.kvNorm), heads: C.int(heads), nope: C.int(m.QKNope), rope: C.int(rope), rank: C.int(rank), eps: eps,
		attn_scale: C.float(e.ropeScale)}, pos0: C.int(c0), rows: C.int(rows), q_ld: C.int(qld), kv_ld: C.int(ld)}
	try(launch(d, e.kernel("mla_rope_rows"), [2]int{heads + 1, rows}, C.ROPE_THREADS, 0, &rp,
		n*(int64(heads*rope+rank+rope)*4+int64(e.kvDim)*e.kvElem())))
	ap := C.AttnRowsParams{q: dp(p.q), kcache: dp(l.kc), vcache: dp(l.kc), out: dp(p.att), heads: C.int(heads), kv_heads: 1,
		head_dim: C.int(e.headDim), pos0: C.int(c0), rows: C.int(rows), scale: C.float(m.SoftmaxScale)}
	try(launch(d, e.kernel("attn_mla_rows"), [2]int{heads, rows}, C.ATTN_THREADS, 0, &ap, int64(c0+rows)*int64(e.kvDim)*e.kvElem()))
	// v[h] = W_UV[h] out_lat[h] per row: the first rank floats of each of
	// the row's heads in the chunk's att.
	try(gemm(d, &C.GemmParams{w: dp(l.uv), x: dp(p.att), y: dp(p.mv), n: C.int(m.VHead), k: C.int(rank), rows: C.int(rows),
		ldx: C.int(e.qDim), ldy: C.int(heads * m.VHead), heads: C.int(heads), w_stride: C.longlong(m.VHead * rank),
		x_stride: C.int(e.headDim), y_stride: C.int(m.VHead)}, 0, n))
	try(gemm(d, &C.GemmParams{w: dp(l.o), x: dp(p.mv), y: dp(p.x), n: hidden, k: C.int(heads * m.VHead), rows: C.int(rows),
		ldx: C.int(heads * m.VHead), ldy: hidden, accumulate: 1}, 0, n))
}
