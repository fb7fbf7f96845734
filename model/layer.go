package model

import (
	"slices"
	"strconv"
)

// A Weight is one tensor a forward pass reads: its name in the checkpoint
// and the shape the config gives it, in the order safetensors stores it
// (a projection is [out, in], as torch's nn.Linear keeps its weight). The
// zero Weight stands for a tensor the layer does not have.
type Weight struct {
	Name  string
	Shape []int64
}

// Present reports whether w names a tensor.
func (w Weight) Present() bool { return w.Name != "" }

// A Layer is the tensors of one decoder layer. Every family computes
//
//	h = x + Attention(InputNorm(x))
//	y = h + MLP(PostAttentionNorm(h))   dense layers
//	y = h + MoE(PostAttentionNorm(h))   sparse layers
//
// with RMSNorms of the Config's RMSNormEps; the family's file says what
// its Attention and MoE compute.
type Layer struct {
	Index                        int
	InputNorm, PostAttentionNorm Weight // [hidden]
	Attention                    Attention
	MLP                          MLP  // a dense layer's; zero in a sparse layer
	MoE                          *MoE // nil in a dense layer
}

// Attention is the tensors of a layer's self-attention. Grouped-query
// attention uses Q, K, V and O, with biases and q/k norms where the
// family has them; DeepSeek's multi-head latent attention (Config.MLA)
// uses Q or QA/QANorm/QB, KVA/KVANorm/KVB and O.
type Attention struct {
	Q, K, V, O                 Weight // q_proj, k_proj, v_proj, o_proj
	QBias, KBias, VBias, OBias Weight
	// QNorm and KNorm are RMSNorms applied to q and k before rope: to
	// each head ([head_dim], Qwen3-MoE) or to the whole projection
	// ([heads x head_dim], OLMoE).
	QNorm, KNorm Weight
	Sinks        Weight // gpt-oss: [heads], one more logit per head in the softmax
	// MLA: q = QB(QANorm(QA(x))) (or Q(x) when q_lora_rank is 0);
	// [c_kv, k_rope] = KVA(x); [k_nope, v] = KVB(KVANorm(c_kv)).
	QA, QANorm, QB    Weight
	KVA, KVANorm, KVB Weight
	// Window is the sliding window (sliding_window): a token attends
	// only to the last Window positions. 0 attends to the whole context.
	Window int
}

// weights lists every tensor of a, the zero ones included.
func (a *Attention) weights() []Weight {
	return []Weight{a.Q, a.K, a.V, a.O, a.QBias, a.KBias, a.VBias, a.OBias, a.QNorm, a.KNorm, a.Sinks,
		a.QA, a.QANorm, a.QB, a.KVA, a.KVANorm, a.KVB}
}

// An MLP is a gated MLP, Down(SiLU(Gate(x)) * Up(x)) (gpt-oss clamps it:
// Config.Activation): a dense layer's, a shared expert's, or one routed
// expert's.
type MLP struct {
	Gate, Up, Down Weight // [inter, hidden], [inter, hidden], [hidden, inter]
}

// MoE is the tensors of a sparse layer: a router over Config.Experts
// routed experts (Config.Router says how it picks Config.TopK of them),
// and the shared expert that every token runs.
type MoE struct {
	Router     Weight // [experts, hidden]
	RouterBias Weight // [experts]: gpt-oss's router bias, DeepSeek-V3's e_score_correction_bias
	// Shared is the shared expert (DeepSeek's n_shared_experts are one
	// MLP n_shared_experts times as wide); zero without one.
	Shared MLP
	// SharedGate scales the shared expert's output by
	// sigmoid(SharedGate · x) (Qwen2-MoE): [1, hidden].
	SharedGate Weight
	// Fused holds gpt-oss's experts, whose weights are stored per layer,
	// not per expert; zero for the other families.
	Fused FusedExperts

	experts expertNames // the routed experts' names; zero when Fused
	layer   int
	gate    []int64 // the shape of one expert's gate (and up) projection
	down    []int64
}

// Expert returns the tensors of routed expert e, or the zero MLP for a
// family whose experts are Fused.
func (m *MoE) Expert(e int) MLP {
	if m.experts.block == "" {
		return MLP{}
	}
	return MLP{
		Gate: Weight{m.experts.name(m.layer, e, 0), m.gate},
		Up:   Weight{m.experts.name(m.layer, e, 1), m.gate},
		Down: Weight{m.experts.name(m.layer, e, 2), m.down},
	}
}

// FusedExperts is gpt-oss's layout: each projection of every expert of a
// layer in one tensor, gate and up interleaved column by column (gate
// columns even, up columns odd), with biases, as transformers 4.55
// declares them. The published checkpoints store GateUp and Down as MXFP4
// blocks and scales (gate_up_proj_blocks, gate_up_proj_scales, ...).
type FusedExperts struct {
	GateUp     Weight // [experts, hidden, 2 x inter]
	GateUpBias Weight // [experts, 2 x inter]
	Down       Weight // [experts, inter, hidden]
	DownBias   Weight // [experts, hidden]
}

// expertNames is how a family names its routed experts' tensors:
// model.layers.L.<block>.experts.E.<proj>.weight.
type expertNames struct {
	block string    // "block_sparse_moe" (Mixtral) or "mlp"
	proj  [3]string // gate, up, down
}

// The two namings.
var (
	mixtralExperts = expertNames{"block_sparse_moe", [3]string{"w1", "w3", "w2"}}
	mlpExperts     = expertNames{"mlp", [3]string{"gate_proj", "up_proj", "down_proj"}}
)

// name returns the name of projection proj (0 gate, 1 up, 2 down) of
// expert e of layer l.
func (n expertNames) name(l, e, proj int) string {
	return layerPrefix(l) + n.block + ".experts." + strconv.Itoa(e) + "." + n.proj[proj] + ".weight"
}

// The builders the families share.

func vec(name string, n int) Weight       { return Weight{name, []int64{int64(n)}} }
func mat(name string, out, in int) Weight { return Weight{name, []int64{int64(out), int64(in)}} }

// mlp returns the gated MLP whose tensors start with p, inter wide.
func (c *Config) mlp(p string, inter int) MLP {
	return MLP{
		Gate: mat(p+"gate_proj.weight", inter, c.Hidden),
		Up:   mat(p+"up_proj.weight", inter, c.Hidden),
		Down: mat(p+"down_proj.weight", c.Hidden, inter),
	}
}

// norms fills the two norms every family has around attention and MLP.
func (c *Config) norms(l *Layer) {
	p := layerPrefix(l.Index)
	l.InputNorm = vec(p+"input_layernorm.weight", c.Hidden)
	l.PostAttentionNorm = vec(p+"post_attention_layernorm.weight", c.Hidden)
}

// Which projections of grouped-query attention have a bias.
type attnBias struct{ qkv, o bool }

// gqa returns grouped-query attention: Heads query heads and KVHeads
// key/value heads of HeadDim each.
func (c *Config) gqa(i int, bias attnBias) Attention {
	p := layerPrefix(i) + "self_attn."
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	a := Attention{
		Q:      mat(p+"q_proj.weight", q, c.Hidden),
		K:      mat(p+"k_proj.weight", kv, c.Hidden),
		V:      mat(p+"v_proj.weight", kv, c.Hidden),
		O:      mat(p+"o_proj.weight", c.Hidden, q),
		Window: c.window(i),
	}
	if bias.qkv {
		a.QBias, a.KBias, a.VBias = vec(p+"q_proj.bias", q), vec(p+"k_proj.bias", kv), vec(p+"v_proj.bias", kv)
	}
	if bias.o {
		a.OBias = vec(p+"o_proj.bias", c.Hidden)
	}
	return a
}

// feedForward fills the feed-forward half of layer l: a dense MLP
// intermediate_size wide, or in a sparse layer a router and routed
// experts named as n names them.
func (c *Config) feedForward(l *Layer, n expertNames) {
	if c.Sparse(l.Index) {
		l.MoE = c.sparseMoE(l.Index, n)
	} else {
		l.MLP = c.mlp(layerPrefix(l.Index)+"mlp.", c.DenseIntermediate)
	}
}

// sparseMoE returns the router and routed experts of sparse layer i,
// named as n names them under block.
func (c *Config) sparseMoE(i int, n expertNames) *MoE {
	return &MoE{
		Router:  mat(layerPrefix(i)+n.block+".gate.weight", c.Experts, c.Hidden),
		experts: n,
		layer:   i,
		gate:    []int64{int64(c.ExpertIntermediate), int64(c.Hidden)},
		down:    []int64{int64(c.Hidden), int64(c.ExpertIntermediate)},
	}
}

// Weights returns every tensor the model's checkpoint holds, as the
// config describes them: the embedding, the final norm and the LM head
// (unless tied), then each layer's norms, attention, and MLP or router,
// shared expert and routed experts.
func (c *Config) Weights() []Weight {
	var (
		ws []Weight
		p  Params
	)
	c.eachWeight(&p, func(_ *int64, w ...Weight) bool {
		ws = append(ws, w...)
		return true
	}, func(m *MoE) {
		f := m.Fused
		ws = append(ws, f.GateUp, f.GateUpBias, f.Down, f.DownBias)
		for e := range c.Experts {
			x := m.Expert(e)
			ws = append(ws, x.Gate, x.Up, x.Down)
		}
	})
	return slices.DeleteFunc(ws, func(w Weight) bool { return !w.Present() })
}

// eachWeight calls add with the tensors the config describes but the
// routed experts, in checkpoint order, each group with the part of p it
// counts toward: the embedding, the final norm and the LM head (unless
// tied), then each layer's norms, attention and dense MLP, and a sparse
// layer's router and shared expert, after which it calls experts, when
// not nil, with the layer's MoE. It stops when add returns false.
// Weights lists what it visits; countParams counts it.
func (c *Config) eachWeight(p *Params, add func(part *int64, ws ...Weight) bool, experts func(m *MoE)) {
	if !add(&p.Embedding, c.Embedding()) || !add(&p.Norms, c.FinalNorm()) ||
		!c.TiedEmbeddings && !add(&p.LMHead, c.LMHead()) {
		return
	}
	for i := range c.Layers {
		l := c.Layer(i)
		if !add(&p.Norms, l.InputNorm, l.PostAttentionNorm) || !add(&p.Attention, l.Attention.weights()...) ||
			!add(&p.Dense, l.MLP.Gate, l.MLP.Up, l.MLP.Down) {
			return
		}
		if m := l.MoE; m != nil {
			if !add(&p.Routers, m.Router, m.RouterBias, m.SharedGate) || !add(&p.Shared, m.Shared.Gate, m.Shared.Up, m.Shared.Down) {
				return
			}
			if experts != nil {
				experts(m)
			}
		}
	}
}
