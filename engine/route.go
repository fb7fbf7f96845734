package engine

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/moepolicy/moec/engine/cpu"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt/trace"
)

// A traceLayerMap says where a model's MoE layer takes its routing from
// a trace: the traced layer, and the permutation applied to its expert
// ids (nil: the ids as traced).
type traceLayerMap struct {
	Layer int
	Perm  []int32
}

// routePermSeed is the second half of the PCG seed of the expert-id
// permutations; the first is the model's MoE layer. Fixed, so a trace
// forces the same routing on every run and in every backend.
const routePermSeed = 0x726f757465 // "route"

// mapTraceLayers is the one mapping Options.RouteTrace uses, on every
// backend: it maps each of a model's layers MoE layers (with experts
// experts each) to the trace's traceLayers. With as many MoE layers as
// the trace, layer m takes traced layer m, its ids unchanged. Otherwise
// layer m takes the traced layer nearest in depth, measuring depth at
// the middle of a layer: floor((2m+1) x traceLayers / (2 x layers)),
// the deeper one on a tie; and its ids go through a permutation of
// [0, experts) drawn by math/rand/v2's Perm from PCG(m, routePermSeed),
// so that the layers sharing a traced layer do not route alike.
func mapTraceLayers(layers, experts, traceLayers int) []traceLayerMap {
	ms := make([]traceLayerMap, layers)
	for m := range ms {
		if layers == traceLayers {
			ms[m].Layer = m
			continue
		}
		ms[m].Layer = min((2*m+1)*traceLayers/(2*layers), traceLayers-1)
		perm := rand.New(rand.NewPCG(uint64(m), routePermSeed)).Perm(experts)
		ms[m].Perm = make([]int32, experts)
		for i, p := range perm {
			ms[m].Perm[i] = int32(p)
		}
	}
	return ms
}

// routeTrace forces the top-k choice of every MoE layer from a routing
// trace (Options.RouteTrace). The n-th token run since Open takes, at
// MoE layer m, the n-th row of m's traced layer, counting that layer's
// rows only, so the rows' "t" (unreliable in the reference's traces) is
// not read. When a traced layer's rows run out, its routing starts over
// from its first row.
type routeTrace struct {
	file    string
	topK    int
	maps    []traceLayerMap // by MoE layer
	moe     []int           // by decoder layer: its MoE layer, -1 when dense
	experts [][]int32       // by traced layer: topK ids per row, in file order
	scores  [][]float32     // likewise, the rows' scores
	token   int             // the token being run, counted from Open
}

// openRouteTrace reads the trace in file for cfg's MoE layers. Its
// experts must be ids of the model's, its top_k the model's and each of
// its rows must list top_k experts; a row without scores weighs its
// experts equally.
func openRouteTrace(file string, cfg *model.Config) (*routeTrace, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	defer f.Close()
	r, err := trace.NewReader(f, file)
	if err != nil {
		return nil, err
	}
	h := r.Header()
	switch {
	case len(cfg.MoELayers) == 0:
		return nil, fmt.Errorf("%s: the model has no MoE layer to route", file)
	case h.Experts > cfg.Experts:
		return nil, fmt.Errorf("%s: num_experts %d, more than the model's %d experts per layer", file, h.Experts, cfg.Experts)
	case h.TopK != cfg.TopK:
		return nil, fmt.Errorf("%s: top_k %d, but the model routes each token to %d experts", file, h.TopK, cfg.TopK)
	}
	t := &routeTrace{file: file, topK: h.TopK, maps: mapTraceLayers(len(cfg.MoELayers), cfg.Experts, h.Layers),
		moe: make([]int, cfg.Layers), experts: make([][]int32, h.Layers), scores: make([][]float32, h.Layers), token: -1}
	for i := range t.moe {
		t.moe[i] = -1
	}
	for m, i := range cfg.MoELayers {
		t.moe[i] = m
	}
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(row.Experts) != h.TopK {
			return nil, &trace.Error{File: file, Line: r.Line(), Msg: fmt.Sprintf("%d experts, the model routes each token to %d", len(row.Experts), h.TopK)}
		}
		l := row.Layer
		t.experts[l] = append(t.experts[l], row.Experts...)
		if row.Scores == nil {
			for range row.Experts {
				t.scores[l] = append(t.scores[l], 1/float32(h.TopK))
			}
		} else {
			t.scores[l] = append(t.scores[l], row.Scores...)
		}
	}
	for i, m := range t.maps {
		if len(t.experts[m.Layer]) == 0 {
			return nil, fmt.Errorf("%s: no rows at layer %d, where the model's MoE layer %d takes its routing", file, m.Layer, i)
		}
	}
	return t, nil
}

// Force is forceRoute for the CPU session.
func (t *routeTrace) Force(layer int, r cpu.Routing) { forceRoute(t, layer, r.Experts, r.Weights) }

// forceRoute overwrites experts and weights, decoder layer's top-k choice,
// with t's for the current token: the CPU session's ids are ints, the
// GPU's int32s. Every token passes the MoE layers in order, so the first
// one starts the next token.
func forceRoute[ID int | int32](t *routeTrace, layer int, experts []ID, weights []float32) {
	moe := t.moe[layer]
	if moe == 0 {
		t.token++
	}
	m := t.maps[moe]
	rows := len(t.experts[m.Layer]) / t.topK
	i := max(t.token, 0) % rows * t.topK
	for j := range t.topK {
		e := t.experts[m.Layer][i+j]
		if m.Perm != nil {
			e = m.Perm[e]
		}
		experts[j] = ID(e)
		weights[j] = t.scores[m.Layer][i+j]
	}
}
