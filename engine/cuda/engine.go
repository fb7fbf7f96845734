//go:build cuda

package cuda

/*
#include <cuda.h>
#include "params.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/moepolicy/moec/model"
)

// Options configure Open.
type Options struct {
	Device     int // the GPU ordinal
	MaxContext int // tokens the key/value cache holds; prompt + generated must fit
	// KVFloat32 keeps the key/value cache in float32 rather than bf16:
	// exactly what was computed, at twice the bytes read per step.
	KVFloat32 bool
	// RecordHidden keeps the residual stream after every layer of the
	// last step, for validation (TeacherForced).
	RecordHidden bool

	// Experts, when set, places the routed experts: they are not
	// uploaded, and each step runs on the host loop (see Experts).
	Experts Experts
	// Route, when set, is given each sparse layer's top-k choice (the
	// layer, the expert ids and their combine weights) after the router
	// ran on the GPU, and may overwrite it: routing forced from a trace.
	// The step then runs on the host loop, the experts resident unless
	// Experts places them.
	Route func(layer int, ids []int32, weights []float32) error
	// StepPrefill runs a prompt through the decode step one token at a
	// time, as a policy that places the experts token by token needs,
	// instead of in chunks of batched products (prefill.go), and leaves
	// the chunks' workspace unallocated.
	StepPrefill bool
}

// An Engine is a model with every weight resident on one GPU, running a
// decode step as one captured CUDA graph: embedding, every layer, the
// final norm, the language-model head and the choice of the next token,
// with no round trip through the host.
type Engine struct {
	d   *device
	cfg *model.Config
	o   Options

	// headDim, qDim and kvDim are what the attention kernel sees: for
	// multi-head latent attention, one key/value head of kv_lora_rank +
	// qk_rope_head_dim (mla.go).
	hidden, qDim, kvDim, headDim int
	topk, splits, actStride      int
	qkvRows                      int     // rows of a layer's first projection
	ropeScale                    float32 // YaRN's attention factor on cos and sin; 1 otherwise

	state, prompt, out, ones        C.CUdeviceptr
	x, xn, qkv, q, att, logits      C.CUdeviceptr
	parts                           C.CUdeviceptr
	sel, weights, act, trace, hid   C.CUdeviceptr
	rlogits                         C.CUdeviceptr
	partOut, partML, invFreq        C.CUdeviceptr
	mq, qa, mv                      C.CUdeviceptr // MLA: q_b_proj's queries, q_a_layernorm's output, the heads' values
	embed, finalNorm, lmHead        C.CUdeviceptr
	layers                          []layerBufs
	weightBytes, kvBytes, workBytes int64

	step *graph       // the decode step, one graph; nil on the host loop
	h    *hostLoop    // the decode step in segments; nil when step is one graph
	pre  *prefillBufs // the chunked prefill's workspace; nil under StepPrefill and on the host loop

	// Step's state.
	pos      int
	profPos  int // the position Profile runs at
	logitBuf []byte
	logitF   []float32
}

// layerBufs are one layer's weights and cache on the device.
type layerBufs struct {
	inNorm, postNorm, qkvW, qkvB, o, qNorm, kNorm C.CUdeviceptr
	kc, vc                                        C.CUdeviceptr // MLA: kc holds [c, k_pe] a position; no vc
	qaNorm, qb, kvNorm, uk, uv                    C.CUdeviceptr // MLA (mla.go)
	router                                        C.CUdeviceptr // [experts (+1 shared gate row)][hidden]
	gateTab, upTab, downTab                       C.CUdeviceptr
	experts                                       []C.CUdeviceptr // each resident expert's gate, up and down, contiguous
	sharedG, sharedU, sharedD                     C.CUdeviceptr
	sharedInter                                   int
	sparse, sharedGate                            bool
}

// Open loads the model of cfg from ck onto the GPU. The calling goroutine
// is locked to its OS thread until Close, and every method must be called
// from it.
func Open(cfg *model.Config, ck *model.Checkpoint, o Options) (*Engine, error) {
	if err := supported(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", model.ConfigPath(ck.Dir()), err) // what the config asks that the GPU path lacks
	}
	if o.MaxContext <= 0 {
		return nil, fmt.Errorf("cuda: a context of %d tokens", o.MaxContext)
	}
	d, err := openDevice(o.Device)
	if err != nil {
		return nil, err
	}
	e := &Engine{d: d, cfg: cfg, o: o}
	if err := e.fits(); err != nil {
		d.close()
		return nil, err
	}
	if err := e.load(ck); err != nil {
		d.close()
		return nil, err
	}
	if o.Experts != nil || o.Route != nil {
		err = e.openHostLoop()
	} else {
		err = e.capture()
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// fits checks, before anything is uploaded, that the weights (in bf16)
// and the key/value cache fit in the GPU's free memory, so that a model
// too large is an error that names the bytes rather than an allocation
// failing halfway.
func (e *Engine) fits() error {
	cfg := e.cfg
	weights := 2 * cfg.TotalParams()
	what := "weights"
	if e.o.Experts != nil {
		weights = 2 * cfg.NonExpertParams().Total()
		what = "weights but the routed experts"
	}
	kv, err := cfg.KVBytes(int64(e.o.MaxContext)) // 16-bit entries
	if err != nil {
		return fmt.Errorf("cuda: %v", err)
	}
	kv = kv / 2 * e.kvElem()
	free, _, err := e.d.freeMem()
	if err != nil {
		return err
	}
	if need := weights + kv; need > free {
		return fmt.Errorf("cuda: %s needs %.2f GiB of GPU memory (%s %.2f GiB in bf16, key/value cache for %d tokens %.2f GiB), but the %s has %.2f GiB free",
			cfg.Type, gib(need), what, gib(weights), e.o.MaxContext, gib(kv), e.d.name, gib(free))
	}
	return nil
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// supported says why the GPU path cannot run cfg, or nil: the family's
// attention (supportedMLA for DeepSeek's latent attention), then what
// every family's router and gemvs take.
func supported(cfg *model.Config) error {
	widths := []int{cfg.Hidden, cfg.ExpertIntermediate, cfg.SharedIntermediate, cfg.DenseIntermediate}
	if m := cfg.MLA; m != nil {
		if err := supportedMLA(cfg); err != nil {
			return err
		}
		widths = append(widths, m.KVLoraRank, m.QKNope, m.QLoraRank, cfg.Heads*m.VHead)
	} else {
		if err := supportedGQA(cfg); err != nil {
			return err
		}
		widths = append(widths, cfg.Heads*cfg.HeadDim)
	}
	switch {
	case cfg.Experts > C.MAX_EXPERTS || cfg.TopK > C.MAX_TOPK:
		return fmt.Errorf("cuda: %d experts, top-%d (the router kernel takes up to %d, top-%d)", cfg.Experts, cfg.TopK, C.MAX_EXPERTS, C.MAX_TOPK)
	case cfg.Router.Groups > C.MAX_GROUPS:
		return fmt.Errorf("cuda: %d expert groups (n_group; the router kernel takes up to %d)", cfg.Router.Groups, C.MAX_GROUPS)
	}
	for _, n := range widths {
		if n%8 != 0 {
			return fmt.Errorf("cuda: width %d is not a multiple of 8 (the kernels load 8 bf16 at a time)", n)
		}
	}
	return nil
}

// supportedGQA says why the GPU path cannot run cfg, a model of
// grouped-query attention, or nil.
func supportedGQA(cfg *model.Config) error {
	switch {
	case cfg.Router.Scoring != model.Softmax || cfg.Router.Groups > 1:
		return fmt.Errorf("cuda: %s's router is not a plain softmax top-k, which is all the GPU path runs yet", cfg.Type)
	case cfg.Activation() != (model.SwiGLU{}):
		return fmt.Errorf("cuda: %s's clamped SwiGLU is not on the GPU path yet", cfg.Type)
	case cfg.Rope.Type != "default" || cfg.Rope.Interleaved:
		return fmt.Errorf("cuda: rope scaling %q is not on the GPU path yet", cfg.Rope.Type)
	case cfg.HeadDim > C.MAX_HEAD_DIM || cfg.HeadDim%2 != 0:
		return fmt.Errorf("cuda: head_dim %d (the attention kernel takes even sizes up to %d)", cfg.HeadDim, C.MAX_HEAD_DIM)
	case cfg.ClipQKV() != 0:
		return fmt.Errorf("cuda: clip_qkv is not on the GPU path yet")
	}
	for i := range cfg.Layers {
		if cfg.Layer(i).Attention.Window != 0 {
			return fmt.Errorf("cuda: layer %d has a sliding window, which the GPU path does not run yet", i)
		}
	}
	return nil
}

// Close frees the GPU memory and unlocks the thread.
func (e *Engine) Close() {
	e.step.destroy()
	if e.h != nil {
		e.h.close()
	}
	e.d.close()
}

// DeviceName returns the GPU's name.
func (e *Engine) DeviceName() string { return e.d.name }

// Memory returns the device bytes the engine holds: weights, key/value
// cache and workspace.
func (e *Engine) Memory() (weights, kv, work int64) { return e.weightBytes, e.kvBytes, e.workBytes }

// upload copies weight w of ck to the device as bf16.
func (e *Engine) upload(ck *model.Checkpoint, w model.Weight) (C.CUdeviceptr, error) {
	b, err := ck.BFloat16(w)
	if err != nil {
		return 0, err
	}
	return e.uploadBytes(b, &e.weightBytes)
}

func (e *Engine) uploadBytes(b []byte, count *int64) (C.CUdeviceptr, error) {
	p, err := e.d.alloc(int64(len(b)))
	if err != nil {
		return 0, err
	}
	*count += int64(len(b))
	return p, e.d.upload(p, b)
}

// uploadRows uploads the weights ws in bf16, one after another, as one
// matrix: projections of the same input that one gemv computes together.
func (e *Engine) uploadRows(ck *model.Checkpoint, ws ...model.Weight) (C.CUdeviceptr, error) {
	var rows []byte
	for _, w := range ws {
		b, err := ck.BFloat16(w)
		if err != nil {
			return 0, err
		}
		rows = append(rows, b...)
	}
	return e.uploadBytes(rows, &e.weightBytes)
}

// opt uploads w when the layer has it, and returns 0 otherwise.
func (e *Engine) opt(ck *model.Checkpoint, w model.Weight) (C.CUdeviceptr, error) {
	if !w.Present() {
		return 0, nil
	}
	return e.upload(ck, w)
}

func (e *Engine) work(n int64) (C.CUdeviceptr, error) {
	p, err := e.d.alloc(n)
	e.workBytes += n
	return p, err
}

// load uploads the weights and allocates the cache and the workspace.
func (e *Engine) load(ck *model.Checkpoint) (err error) {
	cfg := e.cfg
	e.hidden, e.headDim = cfg.Hidden, cfg.HeadDim
	e.qDim, e.kvDim = cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	e.qkvRows = e.qDim + 2*e.kvDim
	if m := cfg.MLA; m != nil {
		e.headDim = m.KVLoraRank + m.QKRope
		e.qDim, e.kvDim = cfg.Heads*e.headDim, e.headDim
		e.qkvRows = cfg.Heads*(m.QKNope+m.QKRope) + e.kvDim // q_proj's queries, then the latent
		if m.QLoraRank > 0 {
			e.qkvRows = m.QLoraRank + e.kvDim
		}
	}
	mq, qa, mv := mlaRows(cfg) // MLA's buffers, in floats
	inv, ropeScale, err := cfg.Rope.Frequencies(cfg.MaxPositions)
	if err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	e.ropeScale = ropeScale
	e.topk = cfg.TopK
	maxInter := max(cfg.ExpertIntermediate, cfg.SharedIntermediate*max(cfg.SharedExperts, 1), cfg.DenseIntermediate)
	e.actStride = maxInter
	// Splits: a block per head and share of 64 positions, up to 32
	// shares, so that long contexts spread over the GPU's 132 SMs (a block
	// walking 128 positions alone took 24 µs a layer on the H200); a
	// share's scores live in shared memory (at most 8192 floats, 32 KB).
	e.splits = max(1, min(32, (e.o.MaxContext+C.ATTN_SHARE-1)/C.ATTN_SHARE))
	for (e.o.MaxContext+e.splits-1)/e.splits > 8192 {
		e.splits *= 2
	}

	if e.embed, err = e.upload(ck, cfg.Embedding()); err != nil {
		return err
	}
	if e.finalNorm, err = e.upload(ck, cfg.FinalNorm()); err != nil {
		return err
	}
	if cfg.TiedEmbeddings {
		e.lmHead = e.embed
	} else if e.lmHead, err = e.upload(ck, cfg.LMHead()); err != nil {
		return err
	}
	e.layers = make([]layerBufs, cfg.Layers)
	for i := range e.layers {
		if err := e.loadLayer(ck, i); err != nil {
			return err
		}
	}

	kvRow := int64(e.kvDim) * e.kvElem()
	for i := range e.layers {
		l := &e.layers[i]
		if l.kc, err = e.d.alloc(int64(e.o.MaxContext) * kvRow); err != nil {
			return err
		}
		e.kvBytes += int64(e.o.MaxContext) * kvRow
		if cfg.MLA != nil {
			continue // one cache of latents, keys and values alike
		}
		if l.vc, err = e.d.alloc(int64(e.o.MaxContext) * kvRow); err != nil {
			return err
		}
		e.kvBytes += int64(e.o.MaxContext) * kvRow
	}

	f := int64(4)
	for _, b := range []struct {
		p *C.CUdeviceptr
		n int64
	}{
		{&e.state, int64(unsafe.Sizeof(C.StepState{}))},
		{&e.prompt, int64(e.o.MaxContext+1) * 4},
		{&e.out, int64(e.o.MaxContext+1) * 4},
		{&e.ones, f},
		{&e.x, int64(e.hidden) * f},
		{&e.xn, int64(e.hidden) * f},
		{&e.parts, int64(e.topk+1) * int64(e.hidden) * f},
		{&e.qkv, int64(e.qkvRows) * f},
		{&e.q, int64(e.qDim) * f},
		{&e.att, int64(e.qDim) * f},
		{&e.logits, int64(cfg.Vocab) * f},
		{&e.sel, int64(e.topk+1) * 4},
		{&e.rlogits, int64(cfg.Experts+1) * f},
		{&e.weights, int64(e.topk+1) * f},
		{&e.act, int64(e.topk+1) * int64(e.actStride) * f},
		{&e.trace, int64(cfg.Layers) * int64(e.o.MaxContext+1) * int64(e.topk) * 4},
		{&e.hid, int64(cfg.Layers) * int64(e.hidden) * f},
		{&e.partOut, int64(cfg.Heads) * int64(e.splits) * int64(e.headDim) * f},
		{&e.partML, int64(cfg.Heads) * int64(e.splits) * 2 * f},
		{&e.invFreq, int64(len(inv)) * f},
		{&e.mq, int64(mq) * f}, // MLA's three: a byte each otherwise
		{&e.qa, int64(qa) * f},
		{&e.mv, int64(mv) * f},
	} {
		if *b.p, err = e.work(b.n); err != nil {
			return err
		}
	}
	one := make([]byte, 4)
	putF32(one, 0, 1)
	if err := e.d.upload(e.ones, one); err != nil {
		return err
	}
	ib := make([]byte, 4*len(inv))
	for i, v := range inv {
		putF32(ib, i, v)
	}
	if err := e.d.upload(e.invFreq, ib); err != nil {
		return err
	}
	// The host loop runs prompts step by step.
	if !e.o.StepPrefill && e.o.Experts == nil && e.o.Route == nil {
		if err := e.allocPrefill(); err != nil {
			return err
		}
	}
	attn := e.kernel("attn")
	if cfg.MLA != nil {
		attn = e.kernel("attn_mla")
	}
	return e.d.setMaxSmem(attn, e.attnSmem())
}

// kvElem is the bytes of one element of the key/value cache.
func (e *Engine) kvElem() int64 {
	if e.o.KVFloat32 {
		return 4
	}
	return 2
}

// kernel is the variant of rope or attn for the cache's element type.
func (e *Engine) kernel(name string) string {
	if e.o.KVFloat32 {
		return name + "_f32"
	}
	return name
}

// attnSmem is the dynamic shared memory of the attention kernel: one
// float per position of a split's share.
func (e *Engine) attnSmem() int { return 4 * ((e.o.MaxContext + e.splits - 1) / e.splits) }

func (e *Engine) loadLayer(ck *model.Checkpoint, i int) (err error) {
	cfg := e.cfg
	ly := cfg.Layer(i)
	a := ly.Attention
	l := &e.layers[i]
	if l.inNorm, err = e.upload(ck, ly.InputNorm); err != nil {
		return err
	}
	if l.postNorm, err = e.upload(ck, ly.PostAttentionNorm); err != nil {
		return err
	}
	if a.OBias.Present() {
		return fmt.Errorf("cuda: layer %d has an o_proj bias, which the GPU path does not add yet", i)
	}
	if l.o, err = e.upload(ck, a.O); err != nil {
		return err
	}
	if cfg.MLA != nil {
		err = e.loadMLA(ck, l, a)
	} else {
		err = e.loadGQA(ck, l, a)
	}
	if err != nil {
		return err
	}
	if ly.MoE == nil {
		l.sharedInter = cfg.DenseIntermediate
		return e.loadMLP(ck, ly.MLP, &l.sharedG, &l.sharedU, &l.sharedD)
	}
	m := ly.MoE
	l.sparse = true
	if m.RouterBias.Present() {
		return fmt.Errorf("cuda: layer %d's router has a bias, which the GPU path does not add yet", i)
	}
	// The router's matrix and, as one more row, the shared expert's gate:
	// one gemv computes every logit the router kernel needs.
	rb, err := ck.BFloat16(m.Router)
	if err != nil {
		return err
	}
	if m.SharedGate.Present() {
		gb, err := ck.BFloat16(m.SharedGate)
		if err != nil {
			return err
		}
		rb = append(rb, gb...)
		l.sharedGate = true
	}
	if l.router, err = e.uploadBytes(rb, &e.weightBytes); err != nil {
		return err
	}
	if m.Shared.Gate.Present() {
		l.sharedInter = cfg.SharedIntermediate * max(cfg.SharedExperts, 1)
		if err := e.loadMLP(ck, m.Shared, &l.sharedG, &l.sharedU, &l.sharedD); err != nil {
			return err
		}
	}
	if e.o.Experts != nil {
		return nil // placed each layer by Experts
	}
	// Each expert's gate, up and down in one allocation, as a store's
	// slot holds them, so the host loop can name an expert by one address.
	tabs := [3][]byte{}
	for x := range cfg.Experts {
		mlp := m.Expert(x)
		var b []byte
		var at [3]int
		for j, w := range []model.Weight{mlp.Gate, mlp.Up, mlp.Down} {
			wb, err := ck.BFloat16(w)
			if err != nil {
				return err
			}
			at[j] = len(b)
			b = append(b, wb...)
		}
		p, err := e.uploadBytes(b, &e.weightBytes)
		if err != nil {
			return err
		}
		l.experts = append(l.experts, p)
		for j := range tabs {
			tabs[j] = appendPtr(tabs[j], p+C.CUdeviceptr(at[j]))
		}
	}
	for j, p := range []*C.CUdeviceptr{&l.gateTab, &l.upTab, &l.downTab} {
		if *p, err = e.uploadBytes(tabs[j], &e.workBytes); err != nil {
			return err
		}
	}
	return nil
}

// loadGQA uploads grouped-query attention's q/k/v projections (one
// matrix, so one launch computes all three), their biases and the q/k
// norms.
func (e *Engine) loadGQA(ck *model.Checkpoint, l *layerBufs, a model.Attention) (err error) {
	if l.qkvW, err = e.uploadRows(ck, a.Q, a.K, a.V); err != nil {
		return err
	}
	var bias []byte
	if a.QBias.Present() || a.KBias.Present() || a.VBias.Present() {
		for j, w := range []model.Weight{a.QBias, a.KBias, a.VBias} {
			n := []int{e.qDim, e.kvDim, e.kvDim}[j]
			if !w.Present() {
				bias = append(bias, make([]byte, 2*n)...)
				continue
			}
			b, err := ck.BFloat16(w)
			if err != nil {
				return err
			}
			bias = append(bias, b...)
		}
		if l.qkvB, err = e.uploadBytes(bias, &e.weightBytes); err != nil {
			return err
		}
	}
	if l.qNorm, err = e.opt(ck, a.QNorm); err != nil {
		return err
	}
	l.kNorm, err = e.opt(ck, a.KNorm)
	return err
}

func (e *Engine) loadMLP(ck *model.Checkpoint, m model.MLP, g, u, d *C.CUdeviceptr) (err error) {
	if *g, err = e.upload(ck, m.Gate); err != nil {
		return err
	}
	if *u, err = e.upload(ck, m.Up); err != nil {
		return err
	}
	*d, err = e.upload(ck, m.Down)
	return err
}

// capture records one decode step into a graph.
func (e *Engine) capture() error {
	g, err := e.d.capture(func() error { return e.launchStep(nil) })
	if err != nil {
		return err
	}
	e.step = g
	return nil
}

func dp(p C.CUdeviceptr) C.dptr { return C.dptr(p) }

// launchStep launches the kernels of one decode step: per layer, the
// attention norm (which first adds the previous layer's expert outputs to
// the residual stream), q/k/v, rope, attention, o_proj (added to the
// residual stream), the MLP norm, the router, and the experts' two
// launches; then the final norm, lm_head and the choice of the next token.
// cut, when not nil, is called at each sparse layer after its router
// (experts false) and after its experts (experts true): the host loop's
// segment boundaries.
func (e *Engine) launchStep(cut func(layer int, experts bool) error) error {
	cfg := e.cfg
	d := e.d
	eps := C.float(cfg.RMSNormEps)
	var errs []error
	try := func(err error) { errs = append(errs, err) }

	ep := C.EmbedParams{state: dp(e.state), table: dp(e.embed), x: dp(e.x), hidden: C.int(e.hidden), vocab: C.int(cfg.Vocab)}
	try(launch(d, "embed", [2]int{(e.hidden + 255) / 256, 1}, 256, 0, &ep, int64(e.hidden)*6))
	norm := func(w C.CUdeviceptr, nparts int) {
		np := C.NormParams{x: dp(e.x), weight: dp(w), xn: dp(e.xn), n: C.int(e.hidden), eps: eps}
		if nparts > 0 {
			np.parts, np.nparts = dp(e.parts), C.int(nparts)
		}
		try(launch(d, "add_norm", [2]int{1, 1}, C.NORM_THREADS, 0, &np, int64(e.hidden)*int64(14+4*nparts)))
	}
	qkNorm := e.qkNorm()
	pending := 0 // expert outputs not yet added to the residual stream
	for i := range e.layers {
		l := &e.layers[i]
		norm(l.inNorm, pending)
		if cfg.MLA != nil {
			e.latentAttention(l, try)
		} else {
			rows := e.qkvRows
			try(gemv(d, &C.GemvParams{w: dp(l.qkvW), bias: dp(l.qkvB), x: dp(e.xn), y: dp(e.qkv), rows: C.int(rows), cols: C.int(e.hidden)}))
			rp := C.RopeParams{state: dp(e.state), qkv: dp(e.qkv), q_out: dp(e.q), kcache: dp(l.kc), vcache: dp(l.vc), inv_freq: dp(e.invFreq),
				qnorm: dp(l.qNorm), knorm: dp(l.kNorm), heads: C.int(cfg.Heads), kv_heads: C.int(cfg.KVHeads), head_dim: C.int(e.headDim),
				max_ctx: C.int(e.o.MaxContext), qk_norm: C.int(qkNorm), eps: eps, attn_scale: C.float(e.ropeScale)}
			try(launch(d, e.kernel("rope"), [2]int{cfg.Heads + 2*cfg.KVHeads, 1}, C.ROPE_THREADS, 0, &rp, int64(rows)*4+int64(e.qDim)*4+int64(e.kvDim)*4))
			ap := C.AttnParams{state: dp(e.state), q: dp(e.q), kcache: dp(l.kc), vcache: dp(l.vc), part_out: dp(e.partOut), part_ml: dp(e.partML),
				out: dp(e.att), heads: C.int(cfg.Heads), kv_heads: C.int(cfg.KVHeads), head_dim: C.int(e.headDim), max_ctx: C.int(e.o.MaxContext),
				splits: C.int(e.splits), scale: C.float(1 / math.Sqrt(float64(e.headDim)))}
			try(launch(d, e.kernel("attn"), [2]int{cfg.Heads, e.splits}, C.ATTN_THREADS, e.attnSmem(), &ap, e.kvBytesRead()))
			try(launch(d, "attn_combine", [2]int{cfg.Heads, 1}, C.ATTN_THREADS, 0, &ap, int64(cfg.Heads*e.splits*(e.headDim+2)*4+e.qDim*4)))
			try(gemv(d, &C.GemvParams{w: dp(l.o), x: dp(e.att), y: dp(e.x), rows: C.int(e.hidden), cols: C.int(e.qDim), accumulate: 1}))
		}
		norm(l.postNorm, 0)

		mp := C.MoEParams{xn: dp(e.xn), act: dp(e.act), parts: dp(e.parts), hidden: C.int(e.hidden), act_stride: C.int(e.actStride),
			shared_gate_w: dp(l.sharedG), shared_up_w: dp(l.sharedU), shared_down_w: dp(l.sharedD), shared_inter: C.int(l.sharedInter)}
		if l.sparse {
			rt, rows := e.router(i, e.rlogits, e.sel, e.weights)
			rt.state = dp(e.state)
			try(gemv(d, &C.GemvParams{w: dp(l.router), x: dp(e.xn), y: dp(e.rlogits), rows: C.int(rows), cols: C.int(e.hidden)}))
			try(launch(d, "router", [2]int{1, 1}, 32, 0, &rt, int64(rows)*4))
			mp.sel, mp.weights = dp(e.sel), dp(e.weights)
			mp.gate_tab, mp.up_tab, mp.down_tab = dp(l.gateTab), dp(l.upTab), dp(l.downTab)
			mp.inter, mp.topk = C.int(cfg.ExpertIntermediate), C.int(e.topk)
			if cut != nil {
				try(cut(i, false))
			}
			if e.h != nil {
				tab := e.h.table(i)
				mp.slots, mp.weights = dp(tab), dp(tab+C.CUdeviceptr(e.h.tabWeights))
			}
		} else {
			mp.weights = dp(e.ones) // the dense MLP is entry 0, of weight 1
		}
		n := int(mp.topk)
		if l.sharedG != 0 {
			n++
		}
		up := max(int(mp.inter), int(mp.shared_inter))
		width := int64(e.topk)*int64(cfg.ExpertIntermediate) + int64(l.sharedInter)
		if !l.sparse {
			width = int64(l.sharedInter)
		}
		try(launch(d, "moe_up", [2]int{(up + C.MOE_UP_ROWS - 1) / C.MOE_UP_ROWS, n}, C.MOE_THREADS, 0, &mp, 4*width*int64(e.hidden)))
		try(launch(d, "moe_down", [2]int{(e.hidden + C.MOE_DOWN_ROWS - 1) / C.MOE_DOWN_ROWS, n}, C.MOE_THREADS, 0, &mp, 2*width*int64(e.hidden)))
		if cut != nil && l.sparse {
			try(cut(i, true))
		}
		pending = n
		if e.o.RecordHidden {
			norm(l.postNorm, pending) // adds the experts' outputs; its xn is not used
			pending = 0
			try(check("cuMemcpyDtoDAsync", C.cuMemcpyDtoDAsync(e.hid+C.CUdeviceptr(i*e.hidden*4), e.x, C.size_t(e.hidden*4), d.stream)))
		}
	}
	norm(e.finalNorm, pending)
	try(gemv(d, &C.GemvParams{w: dp(e.lmHead), x: dp(e.xn), y: dp(e.logits), rows: C.int(cfg.Vocab), cols: C.int(e.hidden)}))
	am := C.ArgmaxParams{state: dp(e.state), logits: dp(e.logits), prompt: dp(e.prompt), out: dp(e.out), vocab: C.int(cfg.Vocab)}
	try(launch(d, "argmax", [2]int{1, 1}, C.ARGMAX_THREADS, 0, &am, int64(cfg.Vocab)*4))
	return errors.Join(errs...)
}

// qkNorm is RopeParams.qk_norm for the model: 0 without q/k norms, 1
// over every head (OLMoE), 2 per head (Qwen3-MoE).
func (e *Engine) qkNorm() int {
	a := e.cfg.Layer(0).Attention
	switch {
	case !a.QNorm.Present():
		return 0
	case a.QNorm.Elems() != int64(e.headDim):
		return 1
	}
	return 2
}

// router returns the router's parameters for sparse layer i, reading
// its logits from logits and writing its choice to sel and weights (the
// step's, or a prefill chunk's rows), and the rows of its logits: the
// experts, and the shared expert's gate when the layer has one.
func (e *Engine) router(i int, logits, sel, weights C.CUdeviceptr) (C.RouterParams, int) {
	cfg := e.cfg
	rows := cfg.Experts
	rt := C.RouterParams{logits: dp(logits), sel: dp(sel), weights: dp(weights),
		trace: dp(e.trace + C.CUdeviceptr(i*(e.o.MaxContext+1)*e.topk*4)), experts: C.int(cfg.Experts), topk: C.int(e.topk)}
	if e.layers[i].sharedGate {
		rt.shared_gate = 1
		rows++
	}
	if cfg.Router.NormTopK {
		rt.norm_topk = 1
	}
	if g := cfg.Router; g.Groups > 1 {
		rt.groups, rt.groups_kept = C.int(g.Groups), C.int(g.GroupsKept)
	}
	if cfg.Router.Scale != 1 {
		rt.scale = C.float(float32(cfg.Router.Scale)) // torch multiplies by the float32 of the Python float
	}
	return rt, rows
}

// kvBytesRead is what a step's attention reads of one layer's cache, for
// the profile: keys and values of every position up to the one profiled
// (for MLA one row a position, its latent both key and value).
func (e *Engine) kvBytesRead() int64 {
	caches := int64(2)
	if e.cfg.MLA != nil {
		caches = 1
	}
	return caches * int64(e.profPos+1) * int64(e.kvDim) * e.kvElem()
}

// gemv launches the gemv kernel whose blocks of four warps compute R rows
// each, R the largest of 8, 4, 2 and 1 that still gives at least 1024
// blocks (eight per SM on a 132-SM H200), so short matrices spread over
// the whole GPU and tall ones keep 2R loads in flight per thread.
func gemv(d *device, p *C.GemvParams) error { return gemvHeads(d, p, 1) }

// gemvHeads launches gemv for heads products at once, one a row of the
// grid (GemvParams' strides say where each head's matrix and vectors
// are), R chosen on the rows of all of them.
func gemvHeads(d *device, p *C.GemvParams, heads int) error {
	rows := int(p.rows)
	r := 8
	for r > 1 && heads*((rows+r-1)/r) < 1024 {
		r /= 2
	}
	return launch(d, "gemv"+strconv.Itoa(r), [2]int{(rows + r - 1) / r, heads}, C.GEMV_THREADS, 0, p, int64(heads)*int64(rows)*int64(p.cols)*2)
}

func putF32(b []byte, i int, v float32) {
	*(*uint32)(unsafe.Pointer(&b[4*i])) = math.Float32bits(v)
}

func appendPtr(b []byte, p C.CUdeviceptr) []byte {
	v := uint64(p)
	for range 8 {
		b = append(b, byte(v))
		v >>= 8
	}
	return b
}
