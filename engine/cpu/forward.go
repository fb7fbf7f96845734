package cpu

import (
	"fmt"
	"math"
	"slices"
)

// QKNorm says where a family normalises queries and keys before RoPE.
type QKNorm int

const (
	NoQKNorm      QKNorm = iota // Qwen2-MoE, Mixtral
	FullQKNorm                  // OLMoE: one RMSNorm over all heads of q (and of k)
	PerHeadQKNorm               // Qwen3-MoE: one RMSNorm of head_dim, shared by the heads
)

// Dims are the sizes and rules of a decoder that the forward pass needs.
type Dims struct {
	Hidden, Heads, KVHeads, HeadDim, Vocab int
	Eps                                    float32 // RMSNorm epsilon
	// InvFreq and RopeScale are the rotation's inverse frequencies and
	// the factor on its cos and sin (model.Rope.Frequencies: YaRN's for
	// DeepSeek).
	InvFreq   []float32
	RopeScale float32
	QKNorm    QKNorm
	// MLA is set for DeepSeek's multi-head latent attention, which
	// replaces grouped-query attention (KVHeads and HeadDim are then
	// unused).
	MLA      *MLADims
	TopK     int  // experts per token
	NormTopK bool // renormalise the top-k weights to sum to 1
	// RouteScale multiplies the top-k weights, after NormTopK
	// (DeepSeek's routed_scaling_factor); 0 leaves them as they are.
	RouteScale float32
	// Groups and GroupsKept choose the top-k among the GroupsKept best
	// of Groups equal groups of experts, each scored by its best
	// probability (DeepSeek-V2's group_limited_greedy); Groups <= 1
	// chooses among all.
	Groups, GroupsKept int
}

// MLADims are the sizes of DeepSeek's multi-head latent attention
// (model.MLA). Each head's query is QKNope dimensions without rotation and
// QKRope with; its key the same, the rotated part shared by every head;
// its value VHead.
type MLADims struct {
	KVLoraRank, QLoraRank, QKNope, QKRope, VHead int
	NormEps                                      float32 // of q_a_layernorm and kv_a_layernorm
	Scale                                        float32 // the softmax scale
}

// An MLP is a SwiGLU feed-forward block, down(silu(gate x) * up x): a
// dense layer's MLP, one routed expert or a shared expert. Gate and Up are
// Inter x Hidden, Down is Hidden x Inter, row-major.
type MLP struct {
	Gate, Up, Down []float32
	Inter          int
}

// Layer holds one decoder layer's weights, widened to float32. A sparse
// layer has Router and Experts (and, for Qwen2-MoE, Shared and
// SharedGate); a dense one has Dense. The Experts of a model loaded by
// LoadSkeleton are nil: a session's ExpertSource supplies them.
type Layer struct {
	AttnNorm, MLPNorm   []float32
	Q, K, V, O          []float32
	QBias, KBias, VBias []float32 // nil when the family has none
	QNorm, KNorm        []float32 // nil for NoQKNorm
	// Multi-head latent attention (Dims.MLA), in place of K and V: the
	// query is Q x, or QB(QANorm(QA x)) when QA is set (Q nil then);
	// [c, k_rope] = KVA x; [k_nope, v] per head = KVB(KVANorm(c)).
	QA, QANorm, QB    []float32
	KVA, KVANorm, KVB []float32
	Router            []float32 // Experts x Hidden
	Experts           []MLP
	Shared            *MLP
	SharedGate        []float32 // 1 x Hidden
	Dense             *MLP
}

// Weights is a whole model in float32.
type Weights struct {
	Dims      Dims
	Embed     []float32 // Vocab x Hidden
	Layers    []Layer
	FinalNorm []float32
	LMHead    []float32 // Vocab x Hidden; the embedding itself when tied
}

// Routing is what a sparse layer's router chose for one token.
type Routing struct {
	Experts []int     // top-k expert ids, most probable first
	Weights []float32 // their combine weights
}

// A Session runs the model over one sequence, token by token, keeping the
// key/value cache: per layer and position, the keys and values of every
// key/value head as transformers' cache holds them (for MLA, each head's
// k_nope with the shared rotated k_rope, and its value: what the
// compressed latent expands to, computed once per token).
type Session struct {
	w         *Weights
	invFreq   []float32
	ropeScale float32
	pos       int
	maxPos    int
	kRow      int         // a cache row of keys: KVHeads*HeadDim, or Heads*(QKNope+QKRope)
	vRow      int         // of values: KVHeads*HeadDim, or Heads*VHead
	kc, vc    [][]float32 // per layer: maxPos rows
	x, h      []float32
	q, k, v   []float32
	att, tmp  []float32
	qa        []float32 // MLA: q_a_proj's output (QLoraRank)
	ckv       []float32 // MLA: kv_a_proj_with_mqa's output (KVLoraRank + QKRope)
	kvb       []float32 // MLA: kv_b_proj's output (Heads*(QKNope+VHead))
	cos, sin  []float32
	scores    []float32
	logits    []float32
	gate, up  []float32
	moe       []float64
	probs     []float32
	masked    []float32 // group_limited_greedy: probs outside the kept groups zeroed
	groups    []float32 // the groups' scores
	groupIdx  []int
	topIdx    []int
	routes    []Routing // per layer, the last token's routing (nil Experts when dense)
	src       ExpertSource
	force     RoutingForcer
}

// An ExpertSource supplies the weights of the experts a sparse layer
// selected, in place of Layer.Experts: package engine's policy-driven
// store, which places them where a policy says.
type ExpertSource interface {
	// Experts returns the weights of the experts r selected at decoder
	// layer layer, in r's order. They stay valid until Done.
	Experts(layer int, r Routing) ([]*MLP, error)
	// Done says that layer's experts have run.
	Done(layer int) error
}

// A RoutingForcer replaces a sparse layer's top-k choice after its
// router ran (so the router's time is spent all the same): package
// engine's routing trace.
type RoutingForcer interface {
	// Force overwrites r, what decoder layer layer's router chose, in
	// place.
	Force(layer int, r Routing)
}

// ForceRouting makes f choose every sparse layer's experts and weights.
func (s *Session) ForceRouting(f RoutingForcer) { s.force = f }

// UseExperts makes the session take every sparse layer's routed experts
// from src rather than from its Weights.
func (s *Session) UseExperts(src ExpertSource) { s.src = src }

// NewSession returns a session over w for sequences of at most maxPos
// tokens.
func NewSession(w *Weights, maxPos int) (*Session, error) {
	d := w.Dims
	if d.Hidden <= 0 || d.Heads <= 0 || d.Vocab <= 0 || d.TopK < 0 {
		return nil, fmt.Errorf("cpu: invalid dims %+v", d)
	}
	if maxPos <= 0 {
		return nil, fmt.Errorf("cpu: context of %d tokens", maxPos)
	}
	s := &Session{
		w:         w,
		invFreq:   d.InvFreq,
		ropeScale: d.RopeScale,
		maxPos:    maxPos,
		x:         make([]float32, d.Hidden),
		h:         make([]float32, d.Hidden),
		tmp:       make([]float32, d.Hidden),
		scores:    make([]float32, maxPos),
		logits:    make([]float32, d.Vocab),
		moe:       make([]float64, d.Hidden),
		topIdx:    make([]int, max(d.TopK, 1)),
		routes:    make([]Routing, len(w.Layers)),
	}
	rotated := d.HeadDim
	if m := d.MLA; m != nil {
		if m.KVLoraRank <= 0 || m.QLoraRank < 0 || m.QKNope <= 0 || m.QKRope <= 0 || m.QKRope%2 != 0 || m.VHead <= 0 {
			return nil, fmt.Errorf("cpu: invalid latent attention dims %+v", *m)
		}
		rotated = m.QKRope
		qk := m.QKNope + m.QKRope
		s.kRow, s.vRow = d.Heads*qk, d.Heads*m.VHead
		s.q = make([]float32, d.Heads*qk)
		s.att = make([]float32, d.Heads*m.VHead)
		s.qa = make([]float32, m.QLoraRank)
		s.ckv = make([]float32, m.KVLoraRank+m.QKRope)
		s.kvb = make([]float32, d.Heads*(m.QKNope+m.VHead))
	} else {
		if d.KVHeads <= 0 || d.HeadDim <= 0 || d.HeadDim%2 != 0 || d.Heads%d.KVHeads != 0 {
			return nil, fmt.Errorf("cpu: invalid dims %+v", d)
		}
		s.kRow, s.vRow = d.KVHeads*d.HeadDim, d.KVHeads*d.HeadDim
		s.q = make([]float32, d.Heads*d.HeadDim)
		s.att = make([]float32, d.Heads*d.HeadDim)
	}
	s.k, s.v = make([]float32, s.kRow), make([]float32, s.vRow)
	if len(s.invFreq) != rotated/2 {
		return nil, fmt.Errorf("cpu: %d rope frequencies for %d rotated dimensions", len(s.invFreq), rotated)
	}
	s.cos, s.sin = make([]float32, rotated/2), make([]float32, rotated/2)
	maxInter := 0
	for i := range w.Layers {
		l := &w.Layers[i]
		for _, m := range l.mlps() {
			maxInter = max(maxInter, m.Inter)
		}
		if n := l.experts(d.Hidden); n > 0 {
			if d.TopK == 0 || d.TopK > n {
				return nil, fmt.Errorf("cpu: top-%d of %d experts", d.TopK, n)
			}
			s.probs = make([]float32, max(len(s.probs), n))
			s.routes[i] = Routing{Experts: make([]int, d.TopK), Weights: make([]float32, d.TopK)}
			if d.Groups > 1 {
				if n%d.Groups != 0 || d.GroupsKept < 1 || d.GroupsKept > d.Groups || d.TopK > d.GroupsKept*(n/d.Groups) {
					return nil, fmt.Errorf("cpu: top-%d of %d experts in %d groups, %d kept", d.TopK, n, d.Groups, d.GroupsKept)
				}
				s.masked = make([]float32, max(len(s.masked), n))
				s.groups = make([]float32, d.Groups)
				s.groupIdx = make([]int, d.GroupsKept)
			}
		}
	}
	s.gate = make([]float32, maxInter)
	s.up = make([]float32, maxInter)
	s.kc = make([][]float32, len(w.Layers))
	s.vc = make([][]float32, len(w.Layers))
	for i := range w.Layers {
		s.kc[i] = make([]float32, maxPos*s.kRow)
		s.vc[i] = make([]float32, maxPos*s.vRow)
	}
	return s, nil
}

// experts returns the number of routed experts of the layer: its
// router's rows.
func (l *Layer) experts(hidden int) int {
	if l.Dense != nil {
		return 0
	}
	return len(l.Router) / hidden
}

// mlps returns every MLP of the layer.
func (l *Layer) mlps() []*MLP {
	var ms []*MLP
	for i := range l.Experts {
		ms = append(ms, &l.Experts[i])
	}
	if l.Shared != nil {
		ms = append(ms, l.Shared)
	}
	if l.Dense != nil {
		ms = append(ms, l.Dense)
	}
	return ms
}

// Pos returns how many tokens the session has seen.
func (s *Session) Pos() int { return s.pos }

// Routing returns what layer's router chose for the last token; its
// Experts are nil for a dense layer. The slices are the session's own and
// change with the next Step.
func (s *Session) Routing(layer int) Routing { return s.routes[layer] }

// Step runs token id at the next position and returns the logits of the
// next token. The slice is the session's own and changes with the next
// Step.
func (s *Session) Step(id int) ([]float32, error) {
	d := s.w.Dims
	if id < 0 || id >= d.Vocab {
		return nil, fmt.Errorf("cpu: token id %d is outside the vocabulary [0, %d)", id, d.Vocab)
	}
	if s.pos >= s.maxPos {
		return nil, fmt.Errorf("cpu: the context of %d tokens is full", s.maxPos)
	}
	copy(s.x, s.w.Embed[id*d.Hidden:(id+1)*d.Hidden])
	ropeAngles(s.cos, s.sin, s.invFreq, s.pos, s.ropeScale)
	for i := range s.w.Layers {
		if err := s.layer(i); err != nil {
			return nil, err
		}
	}
	rmsNorm(s.h, s.x, s.w.FinalNorm, d.Eps)
	matVec(s.logits, s.w.LMHead, s.h, nil)
	s.pos++
	return s.logits, nil
}

// layer runs decoder layer i on s.x in place.
func (s *Session) layer(i int) error {
	d := s.w.Dims
	l := &s.w.Layers[i]

	// Attention.
	rmsNorm(s.h, s.x, l.AttnNorm, d.Eps)
	if d.MLA != nil {
		s.latentAttention(i, l)
	} else {
		s.groupedAttention(i, l)
	}
	matVec(s.tmp, l.O, s.att, nil)
	for j := range s.x {
		s.x[j] += s.tmp[j]
	}

	// Feed-forward.
	rmsNorm(s.h, s.x, l.MLPNorm, d.Eps)
	if l.Dense != nil {
		s.mlp(s.tmp, l.Dense, s.h)
		for j := range s.x {
			s.x[j] += s.tmp[j]
		}
		return nil
	}
	r := &s.routes[i]
	probs := s.probs[:l.experts(d.Hidden)]
	matVec(probs, l.Router, s.h, nil)
	softmax(probs)
	choose := probs
	if d.Groups > 1 {
		choose = s.keepGroups(probs)
	}
	topK(s.topIdx[:d.TopK], choose)
	var sum float64
	for j, e := range s.topIdx[:d.TopK] {
		r.Experts[j] = e
		r.Weights[j] = probs[e]
		sum += float64(probs[e])
	}
	if d.NormTopK {
		for j := range r.Weights {
			r.Weights[j] = float32(float64(r.Weights[j]) / sum)
		}
	}
	if d.RouteScale != 0 {
		for j := range r.Weights {
			r.Weights[j] *= d.RouteScale // a float32 product, as torch's
		}
	}
	if s.force != nil {
		s.force.Force(i, *r)
	}
	clear(s.moe)
	var from []*MLP
	if s.src != nil {
		var err error
		if from, err = s.src.Experts(i, *r); err != nil {
			return err
		}
	} else if len(l.Experts) == 0 {
		return fmt.Errorf("cpu: layer %d's experts were not loaded, and the session has no ExpertSource", i)
	}
	for j, e := range r.Experts {
		var m *MLP
		if from != nil {
			m = from[j]
		} else {
			m = &l.Experts[e]
		}
		s.mlp(s.tmp, m, s.h)
		w := r.Weights[j]
		for c, v := range s.tmp {
			// Each expert's output is scaled in float32, then summed.
			s.moe[c] += float64(v * w)
		}
	}
	if l.Shared != nil {
		s.mlp(s.tmp, l.Shared, s.h)
		g := float32(1) // an ungated shared expert counts once
		if l.SharedGate != nil {
			g = sigmoid(float32(dot(l.SharedGate, s.h)))
		}
		for c, v := range s.tmp {
			s.moe[c] += float64(g * v)
		}
	}
	for j := range s.x {
		s.x[j] += float32(s.moe[j])
	}
	if s.src != nil {
		return s.src.Done(i)
	}
	return nil
}

// groupedAttention sets s.att to the attention output of decoder layer i
// for the normalised token s.h: grouped-query attention with q/k norms
// where the family has them and NeoX RoPE.
func (s *Session) groupedAttention(i int, l *Layer) {
	d := s.w.Dims
	matVec(s.q, l.Q, s.h, l.QBias)
	matVec(s.k, l.K, s.h, l.KBias)
	matVec(s.v, l.V, s.h, l.VBias)
	switch d.QKNorm {
	case FullQKNorm:
		rmsNorm(s.q, s.q, l.QNorm, d.Eps)
		rmsNorm(s.k, s.k, l.KNorm, d.Eps)
	case PerHeadQKNorm:
		for h := 0; h < len(s.q); h += d.HeadDim {
			rmsNorm(s.q[h:h+d.HeadDim], s.q[h:h+d.HeadDim], l.QNorm, d.Eps)
		}
		for h := 0; h < len(s.k); h += d.HeadDim {
			rmsNorm(s.k[h:h+d.HeadDim], s.k[h:h+d.HeadDim], l.KNorm, d.Eps)
		}
	}
	ropeNeoX(s.q, d.HeadDim, s.cos, s.sin)
	ropeNeoX(s.k, d.HeadDim, s.cos, s.sin)
	copy(s.kc[i][s.pos*s.kRow:], s.k)
	copy(s.vc[i][s.pos*s.vRow:], s.v)
	scale := float32(1 / math.Sqrt(float64(d.HeadDim)))
	attention(s.att, s.q, s.kc[i], s.vc[i], s.scores, d.Heads, d.KVHeads, d.HeadDim, d.HeadDim, s.pos+1, scale)
}

// keepGroups returns probs with every expert outside the GroupsKept
// groups of the best scores (a group's score is its best probability)
// set to 0, as DeepSeek-V2's group_limited_greedy masks them before its
// top-k.
func (s *Session) keepGroups(probs []float32) []float32 {
	d := s.w.Dims
	size := len(probs) / d.Groups
	for g := range s.groups {
		s.groups[g] = slices.Max(probs[g*size : (g+1)*size])
	}
	topK(s.groupIdx, s.groups)
	masked := s.masked[:len(probs)]
	clear(masked)
	for _, g := range s.groupIdx {
		copy(masked[g*size:(g+1)*size], probs[g*size:(g+1)*size])
	}
	return masked
}

// mlp sets dst = down(silu(gate x) * up x).
func (s *Session) mlp(dst []float32, m *MLP, x []float32) {
	if m.Inter > len(s.gate) { // an ExpertSource's expert wider than the session's MLPs
		s.gate, s.up = make([]float32, m.Inter), make([]float32, m.Inter)
	}
	m.Apply(dst, x, s.gate, s.up)
}

// Apply sets dst = down(silu(gate x) * up x), using gate and up (at least
// Inter long each) as scratch.
func (m *MLP) Apply(dst, x, gate, up []float32) {
	g, u := gate[:m.Inter], up[:m.Inter]
	matVec(g, m.Gate, x, nil)
	matVec(u, m.Up, x, nil)
	for j := range g {
		g[j] = SiLU(g[j]) * u[j]
	}
	matVec(dst, m.Down, g, nil)
}
