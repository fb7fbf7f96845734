// params.h: the parameter block of each kernel, shared by the CUDA sources
// and by package engine/cuda's cgo, so both sides agree on the layout.
// Every kernel takes exactly one of these by value. Device pointers are
// 64-bit integers, which both compilers lay out alike.
#ifndef MOEC_KERNELS_PARAMS_H
#define MOEC_KERNELS_PARAMS_H

typedef unsigned long long dptr;

// Launch geometry and limits, the one place both sides read them: the
// kernels' block sizes (__launch_bounds__) and tiles, and the sizes the
// kernels' fixed arrays allow, which the host checks before it launches.
#define GEMV_THREADS 128     // four warps split a gemv block's columns
#define NORM_THREADS 256     // add_norm: one block, 4 floats a load
#define ROPE_THREADS 128
#define ATTN_THREADS 128
#define ARGMAX_THREADS 1024
#define MOE_THREADS 128
#define MOE_UP_ROWS 2        // rows of gate and of up per block: 4 loads in flight per step
#define MOE_DOWN_ROWS 4
#define ATTN_SHARE 64        // positions of the context per attention block, at most
#define MAX_HEAD_DIM 256
#define MAX_MLA_DIM 576      // a latent attention's cache row, kv_lora_rank + qk_rope_head_dim: DeepSeek-V2's 512 + 64
#define MAX_GROUPS 32        // router groups (n_group): one bit each in a 32-bit mask
#define MAX_EXPERTS 256
#define MAX_TOPK 16

// The state of a decode step, in device memory: the position of the
// token being run, its id, and the length of the prompt, whose tokens are
// taken in turn before any is chosen. The last kernel of a step advances
// it. It lives in device memory because a captured graph's parameters are
// fixed.
typedef struct {
	int pos;
	int token;
	int prompt_len;
} StepState;

// embed: x = embedding row of the current token.
typedef struct {
	dptr state;  // StepState*
	dptr table;  // bf16 [vocab][hidden]
	dptr x;      // float [hidden]
	int hidden;
	int vocab;
} EmbedParams;

// add_norm: x += the sum of parts (the experts' outputs of the layer
// before, in order), then xn = rmsnorm(x) * weight. One block.
typedef struct {
	dptr x;        // float [n], the residual stream
	dptr parts;    // float [nparts][n] or 0
	dptr weight;   // bf16 [n]
	dptr xn;       // float [n] out
	int n;
	int nparts;
	float eps;
} NormParams;

// gemv: y (+)= W x (+ bias). W is rows x cols bf16, row-major; a block of
// four warps computes rows_per_block rows, the warps splitting the columns.
// A grid of several rows of blocks computes one product per head
// (multi-head latent attention's absorbed projections): head h =
// blockIdx.y's W, x and y start h * w_stride, x_stride and y_stride
// elements after the first's.
typedef struct {
	dptr w;
	dptr bias;     // bf16 [rows] or 0
	dptr x;        // float [cols]
	dptr y;        // float [rows]
	int rows;
	int cols;      // a multiple of 8
	int accumulate;  // 1: y += W x (a residual add); 0: y = W x
	int x_stride;  // a multiple of 4 (x is loaded 4 floats at a time)
	long long w_stride;
	int y_stride;
} GemvParams;

// rope: for the current token, q/k normalisation (by mode), NeoX rotary
// embedding of q into q_out, and k, v appended to the layer's cache.
typedef struct {
	dptr state;     // StepState*
	dptr qkv;       // float [heads*hd + 2*kv_heads*hd]: q, k, v of this token
	dptr q_out;     // float [heads*hd]: q normalised and rotated
	dptr kcache;    // bf16 (rope) or float (rope_f32) [max_ctx][kv_heads*hd]
	dptr vcache;
	dptr inv_freq;  // float [rot/2]
	dptr qnorm;     // bf16 or 0
	dptr knorm;     // bf16 or 0
	int heads;
	int kv_heads;
	int head_dim;
	int max_ctx;
	int qk_norm;    // 0 none, 1 full width (OLMoE), 2 per head (Qwen3)
	float eps;
	float attn_scale;  // multiplies cos and sin (YaRN's mscale; 1 otherwise)
} RopeParams;

// attn: one split of the attention of the current token over the cache;
// attn_combine: the splits merged.
typedef struct {
	dptr state;     // StepState*
	dptr q;         // float [heads*hd], rotated
	dptr kcache;
	dptr vcache;
	dptr part_out;  // float [heads][splits][hd]
	dptr part_ml;   // float [heads][splits][2]: running max and sum
	dptr out;       // float [heads*hd]
	int heads;
	int kv_heads;
	int head_dim;   // at most 256
	int max_ctx;
	int splits;
	float scale;
} AttnParams;

// mla_rope: DeepSeek's multi-head latent attention from the token's
// projections to what its attention reads. Block h < heads rotates head
// h's q_pe into the last rope floats of q_out's row h (whose first rank
// floats the absorbed q_nope fills); block heads normalises the latent c
// (kv_a_layernorm) and appends [c, rotated k_pe] to the cache at the
// token's position. Rope turns pairs (2i, 2i+1), with cos and sin times
// attn_scale (YaRN's attention factor).
typedef struct {
	dptr state;     // StepState*
	dptr q;         // float [heads][nope + rope]: the token's queries
	dptr kv;        // float [rank + rope]: kv_a_proj_with_mqa's output, c then k_pe
	dptr q_out;     // float [heads][rank + rope]
	dptr cache;     // bf16 (mla_rope) or float (mla_rope_f32) [max_ctx][rank + rope]
	dptr inv_freq;  // float [rope/2]
	dptr kv_norm;   // bf16 [rank]
	int heads;
	int nope;
	int rope;
	int rank;       // a multiple of 4; rank + rope at most MAX_MLA_DIM
	float eps;
	float attn_scale;
} MLARopeParams;

// router: from the logits of the experts (and, after them, of the shared
// expert's gate), which a gemv computed: softmax, top-k, the combine
// weights, and the shared expert's sigmoid gate.
typedef struct {
	dptr state;     // StepState*
	dptr logits;    // float [experts + shared_gate]
	int shared_gate;  // 1: logits[experts] is the shared expert's gate
	dptr sel;       // int [topk] out
	dptr weights;   // float [topk+1] out: the combine weights, then the shared expert's (its sigmoid gate, or 1)
	dptr trace;     // int [max_ctx][topk] or 0: the choice at each position
	int experts;    // at most 256
	int topk;       // at most 16
	int norm_topk;
	// groups > 1 chooses the top-k among the groups_kept best of groups
	// equal groups of experts, each scored by its best probability
	// (DeepSeek-V2's group_limited_greedy); at most MAX_GROUPS.
	int groups;
	int groups_kept;
	float scale;    // multiplies the weights after norm_topk (routed_scaling_factor); 0 leaves them
} RouterParams;

// moe_up: act[e] = silu(gate_e xn) * up_e xn for every selected expert e
// (and the shared expert as entry topk); moe_down: parts[e] = weight_e *
// down_e act[e], which the next add_norm sums into the residual stream.
typedef struct {
	dptr xn;
	dptr sel;       // int [topk]
	dptr weights;   // float [topk+1]
	dptr gate_tab;  // dptr [experts]: each expert's gate_proj (inter x hidden)
	dptr up_tab;
	dptr down_tab;  // (hidden x inter)
	// slots, when not 0, replaces sel and the tables: dptr [topk][3], the
	// gate, up and down of entry k wherever its expert is (a store's
	// slot, under a policy), written by the host each layer; an entry
	// whose gate is 0 runs elsewhere (on the host), and its slice of
	// parts is left as the host wrote it.
	dptr slots;
	dptr shared_gate_w;  // or 0
	dptr shared_up_w;
	dptr shared_down_w;
	dptr act;       // float [topk+1][act_stride]
	dptr parts;     // float [topk+1][hidden]
	int hidden;
	int inter;
	int shared_inter;
	int topk;
	int act_stride;
} MoEParams;

// argmax: the next token, greedy, unless the prompt still has one; the
// step state advances.
typedef struct {
	dptr state;    // StepState*
	dptr logits;   // float [vocab]
	dptr prompt;   // int [prompt_len]
	dptr out;      // int [max_ctx+1]: the token at each position
	int vocab;
} ArgmaxParams;

// ---- Prefill (prefill.cu): the prompt run in chunks of PREFILL_T tokens,
// each weight read once per chunk rather than once per token. ----

#define PREFILL_T 128      // tokens per chunk: every expert is read about once a chunk (see prefill.cu)
#define GEMM_THREADS 128   // four warps, 16 output rows each (the mma's M)
#define GEMM_ROWS 64       // output rows per block
#define GEMM_TOKENS 32     // tokens per pass of a block: four tiles of 8 (the mma's N)
#define GROUP_THREADS MAX_EXPERTS  // group_experts: a thread per expert

// embed_rows: x[t] = the embedding row of the prompt's token at pos0 + t,
// and out[pos0 + t] = that token, for t < rows.
typedef struct {
	dptr prompt;   // int [prompt_len]
	dptr out;      // int [max_ctx+1]
	dptr table;    // bf16 [vocab][hidden]
	dptr x;        // float [rows][hidden]
	int hidden;
	int vocab;
	int pos0;
	int rows;
} EmbedRowsParams;

// add_norm_rows: add_norm on each of rows rows: row t's x starts t*x_ld
// floats after norm.x (t*n when x_ld is 0; a multiple of 4), its xn t*n
// floats after norm.xn, its parts (norm.nparts of them, n floats each)
// parts_stride floats after norm.parts.
typedef struct {
	NormParams norm;
	int rows;
	int parts_stride;
	int x_ld;
} NormRowsParams;

// rope_rows: rope for rows tokens at positions pos0.., the q/k/v of token
// t at row t of rope.qkv ((heads + 2 kv_heads) * head_dim floats a row),
// its rotated q at row t of rope.q_out (heads * head_dim floats a row).
// rope.state is not read.
typedef struct {
	RopeParams rope;
	int pos0;
	int rows;
} RopeRowsParams;

// mla_rope_rows: mla_rope for rows tokens at positions pos0..: token t's
// queries at rope.q + t*q_ld, its kv_a_proj_with_mqa output at rope.kv +
// t*kv_ld, its q_out row at rope.q_out + t*heads*(rank + rope), its cache
// row at position pos0 + t. rope.state is not read.
typedef struct {
	MLARopeParams rope;
	int pos0;
	int rows;
	int q_ld;
	int kv_ld;
} MLARopeRowsParams;

// attn_rows: causal attention of rows queries, token t at position
// pos0 + t over the cache's positions 0..pos0 + t. attn_mla_rows runs
// multi-head latent attention's (kv_heads 1, vcache = kcache, as attn_mla).
typedef struct {
	dptr q;         // float [rows][heads*hd], rotated
	dptr kcache;
	dptr vcache;
	dptr out;       // float [rows][heads*hd]
	int heads;
	int kv_heads;
	int head_dim;   // at most MAX_HEAD_DIM (attn_rows) or MAX_MLA_DIM (attn_mla_rows)
	int pos0;
	int rows;
	float scale;
} AttnRowsParams;

// router_rows: the router of rows tokens: token t's logits at
// router.logits + t*ld, its choice at router.sel + t*topk, its weights at
// router.weights + t*(topk+1), its trace row at position pos0 + t.
// router.state is not read.
typedef struct {
	RouterParams router;
	int ld;
	int pos0;
	int rows;
} RouterRowsParams;

// group_experts: the (token, k) slots s = t*topk + k of a chunk grouped by
// expert: list[offsets[e]..offsets[e+1]) are the slots that chose e, in
// ascending order. One block.
typedef struct {
	dptr sel;       // int [rows][topk]
	dptr offsets;   // int [experts+1] out
	dptr list;      // int [rows*topk] out
	int rows;       // at most PREFILL_T
	int topk;
	int experts;
} GroupParams;

// gemm, gemm_gated: for each item s, output row r(s) = (s / odiv) * omul
// + s % odiv + oadd gets y[r(s)][j] = sum_c W[j][c] x[in(s)][c] for j < n,
// where in(s) = r(s) when in_mapped, else s / odiv. gemm stores (+ bias,
// times scale[r(s)] when scale is set) or accumulates; gemm_gated takes a
// second matrix (up) and stores silu(gate row) * up row. The items are
// 0..rows-1 (w, w2), or, when offsets is set, group g = blockIdx.y's
// list[offsets[g]..offsets[g+1]) with its matrices from w_tab[g], w2_tab[g].
// Over items, heads > 1 computes that many products in one launch (multi-
// head latent attention's absorbed projections, per token and head): head
// h's W, x and y start h * w_stride, x_stride and y_stride elements after
// w's, x's and y's (w_stride a multiple of 8, x_stride of 4).
typedef struct {
	dptr w;         // bf16 [n][k]
	dptr w2;
	dptr w_tab;     // dptr [groups]
	dptr w2_tab;
	dptr bias;      // bf16 [n] or 0
	dptr scale;     // float, indexed by r(s), or 0
	dptr offsets;   // int [groups+1] or 0
	dptr list;      // int: the items, by group
	dptr x;         // float, rows ldx floats apart
	dptr y;         // float, rows ldy floats apart
	int n;
	int k;          // a multiple of 8
	int rows;
	int ldx;        // a multiple of 4
	int ldy;
	int odiv;
	int omul;
	int oadd;
	int in_mapped;
	int accumulate;
	int heads;      // 0 or 1: one product
	int x_stride;
	int y_stride;
	long long w_stride;
} GemmParams;

#endif
