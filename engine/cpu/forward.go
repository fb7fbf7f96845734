package cpu

import (
	"fmt"
	"math"

	"github.com/moepolicy/moec/model"
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
	RopeTheta                              float64
	QKNorm                                 QKNorm
	TopK                                   int  // experts per token
	NormTopK                               bool // renormalise the top-k weights to sum to 1
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
	Router              []float32 // Experts x Hidden
	Experts             []MLP
	Shared              *MLP
	SharedGate          []float32 // 1 x Hidden
	Dense               *MLP
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
// key/value cache. It is not safe for concurrent use.
type Session struct {
	w        *Weights
	invFreq  []float32
	pos      int
	maxPos   int
	kc, vc   [][]float32 // per layer: maxPos rows of KVHeads*HeadDim
	x, h     []float32
	q, k, v  []float32
	att, tmp []float32
	cos, sin []float32
	scores   []float32
	logits   []float32
	gate, up []float32
	moe      []float64
	probs    []float32
	topIdx   []int
	routes   []Routing // per layer, the last token's routing (nil Experts when dense)
	src      ExpertSource
	force    RoutingForcer
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
	if d.Hidden <= 0 || d.Heads <= 0 || d.KVHeads <= 0 || d.HeadDim <= 0 || d.HeadDim%2 != 0 || d.Heads%d.KVHeads != 0 || d.Vocab <= 0 {
		return nil, fmt.Errorf("cpu: invalid dims %+v", d)
	}
	if maxPos <= 0 {
		return nil, fmt.Errorf("cpu: context of %d tokens", maxPos)
	}
	kv := d.KVHeads * d.HeadDim
	s := &Session{
		w:       w,
		invFreq: model.Rope{Theta: d.RopeTheta, Dim: d.HeadDim}.InvFreq(),
		maxPos:  maxPos,
		x:       make([]float32, d.Hidden),
		h:       make([]float32, d.Hidden),
		q:       make([]float32, d.Heads*d.HeadDim),
		k:       make([]float32, kv),
		v:       make([]float32, kv),
		att:     make([]float32, d.Heads*d.HeadDim),
		tmp:     make([]float32, d.Hidden),
		cos:     make([]float32, d.HeadDim/2),
		sin:     make([]float32, d.HeadDim/2),
		scores:  make([]float32, maxPos),
		logits:  make([]float32, d.Vocab),
		moe:     make([]float64, d.Hidden),
		topIdx:  make([]int, max(d.TopK, 1)),
		routes:  make([]Routing, len(w.Layers)),
	}
	maxInter := 0
	for i := range w.Layers {
		l := &w.Layers[i]
		for _, m := range l.mlps() {
			maxInter = max(maxInter, m.Inter)
		}
		if n := l.experts(d.Hidden); n > 0 {
			s.probs = make([]float32, max(len(s.probs), n))
			s.routes[i] = Routing{Experts: make([]int, d.TopK), Weights: make([]float32, d.TopK)}
		}
	}
	s.gate = make([]float32, maxInter)
	s.up = make([]float32, maxInter)
	s.kc = make([][]float32, len(w.Layers))
	s.vc = make([][]float32, len(w.Layers))
	for i := range w.Layers {
		s.kc[i] = make([]float32, maxPos*kv)
		s.vc[i] = make([]float32, maxPos*kv)
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
	ropeAngles(s.cos, s.sin, s.invFreq, s.pos, 1)
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
	kv := d.KVHeads * d.HeadDim

	// Attention.
	rmsNorm(s.h, s.x, l.AttnNorm, d.Eps)
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
	copy(s.kc[i][s.pos*kv:], s.k)
	copy(s.vc[i][s.pos*kv:], s.v)
	scale := float32(1 / math.Sqrt(float64(d.HeadDim)))
	attention(s.att, s.q, s.kc[i], s.vc[i], s.scores, d.Heads, d.KVHeads, d.HeadDim, s.pos+1, scale)
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
	topK(s.topIdx[:d.TopK], probs)
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
