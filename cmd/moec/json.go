package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/replay"
	"github.com/moepolicy/moec/rt/trace"
	"github.com/moepolicy/moec/rt/tune"
)

// The -json forms of the commands' reports. Every command that prints a
// report takes -json and prints it as one indented JSON value with
// printJSON; the parts that several reports share (a model's shape, the
// cost model) have one form here. Keys are lower case with underscores,
// times in milliseconds with "_ms" in their name, sizes in bytes.

// shapeJSON is a model's shape.
type shapeJSON struct {
	Layers      int   `json:"layers"`
	Experts     int   `json:"experts"`
	TopK        int   `json:"top_k"`
	ExpertBytes int64 `json:"expert_bytes"`
}

func newShapeJSON(s rt.Shape) shapeJSON {
	return shapeJSON{Layers: s.Layers, Experts: s.Experts, TopK: s.TopK, ExpertBytes: s.ExpertBytes}
}

// costModelJSON is the hardware figures a modeled time per token was
// computed with.
type costModelJSON struct {
	PCIeGBps      float64 `json:"pcie_gbps"`
	CopyLatencyMs float64 `json:"copy_latency_ms"`
	CPUGBps       float64 `json:"cpu_gbps,omitempty"` // what scales an expert's CPU time when no fixed time is given
	CPUExpertMs   float64 `json:"cpu_expert_ms"`      // the CPU time of one expert of the shape, as priced
	GPUExpertMs   float64 `json:"gpu_expert_ms"`
}

// newCostModelJSON gives the figures m prices an expert of expertBytes
// with: its CPU time is m's fixed time, or its bytes over m's CPU rate.
func newCostModelJSON(m replay.CostModel, expertBytes int64) costModelJSON {
	j := costModelJSON{PCIeGBps: m.PCIeGBps, CopyLatencyMs: ms(m.CopyLatency), CPUExpertMs: ms(m.CPU(expertBytes)), GPUExpertMs: ms(m.GPUExpert)}
	if m.CPUExpert == 0 {
		j.CPUGBps = m.CPUGBps
	}
	return j
}

// A jsonObject is a JSON object whose keys keep their order, for reports
// that follow a table's order (show's blocks follow rt's key table).
type jsonObject []jsonField

type jsonField struct {
	key   string
	value any
}

// MarshalJSON writes the fields in order; printJSON indents the result.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(f.key); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := enc.Encode(f.value); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// specJSON is one policy of "moec show -json": its name and place, then
// every block by rt's key table (null for a block the policy lacks, null
// for a key that holds no value), adapt's with its rules.
func specJSON(s *rt.Spec) jsonObject {
	o := jsonObject{{"name", s.Name}, {"file", s.Pos.File}, {"line", s.Pos.Line}, {"column", s.Pos.Col}}
	for _, block := range rt.Blocks() {
		if !rt.HasBlock(s, block) {
			o = append(o, jsonField{block, nil})
			continue
		}
		var keys jsonObject
		for _, k := range rt.Keys(block) {
			var value any
			if v, ok := k.Get(s); ok {
				value = valueJSON(v)
			}
			keys = append(keys, jsonField{k.Name, value})
		}
		if block == "adapt" {
			keys = append(keys, jsonField{"rules", rulesJSON(s.Adapt.Rules)})
		}
		o = append(o, jsonField{block, keys})
	}
	return o
}

// rulesJSON returns adapt rules as show -json prints them.
func rulesJSON(rs []rt.Rule) []any {
	rules := []any{}
	for _, r := range rs {
		actions := []any{}
		for _, a := range r.Actions {
			act := jsonObject{{"action", actionText(a)}}
			v, ok := a.Value()
			if k, known := rt.LookupPath(a.Target.Key()); ok && known {
				act = append(act, jsonField{"key", k.Name}, jsonField{"value", valueJSON(v)})
			}
			actions = append(actions, act)
		}
		rules = append(rules, jsonObject{
			{"metric", r.Cond.Metric.String()}, {"op", r.Cond.Op.String()}, {"threshold", r.Cond.Threshold},
			{"accesses", r.Window}, {"actions", actions}, {"implicit", r.Implicit},
			{"file", r.Pos.File}, {"line", r.Pos.Line}, {"column", r.Pos.Col},
		})
	}
	return rules
}

// valueJSON returns a key's value as JSON has it: a number, a boolean, a
// word ("lfu|lru" for two tiers, as show writes it) or a list.
func valueJSON(v rt.Value) any {
	switch v.Kind {
	case rt.IntKind:
		return v.Int
	case rt.NumberKind:
		return v.Num
	case rt.BoolKind:
		return v.Bool
	case rt.IntListKind:
		return append([]int{}, v.Ints...)
	case rt.WordListKind:
		return append([]string{}, v.Words...)
	}
	return strings.ReplaceAll(v.String(), " ", "") // as show writes it
}

// sweepJSON is "moec sweep -json": the capacities, Belady's optimum at
// each, and each policy's hit rate and modeled time per token at each, or
// why it was skipped there.
type sweepJSON struct {
	Trace      string            `json:"trace"`
	Shape      shapeJSON         `json:"shape"`
	CostModel  costModelJSON     `json:"cost_model"`
	Capacities []int             `json:"capacities"`
	Belady     []float64         `json:"belady_hit_rate"`
	Policies   []sweepPolicyJSON `json:"policies"`
	Notes      []string          `json:"notes"`
}

type sweepPolicyJSON struct {
	Name  string          `json:"name"`
	File  string          `json:"file"`
	Cells []sweepCellJSON `json:"cells"` // one per capacity
}

type sweepCellJSON struct {
	Capacity   int      `json:"capacity"`
	HitRate    *float64 `json:"hit_rate"`             // null when skipped
	MsPerToken *float64 `json:"modeled_ms_per_token"` // null when skipped
	Skipped    string   `json:"skipped,omitempty"`    // why the policy cannot have the capacity
}

func newSweepJSON(r *tune.Replayer, res *tune.SweepResult) sweepJSON {
	j := sweepJSON{
		Trace:      r.Trace,
		Shape:      newShapeJSON(r.Shape),
		CostModel:  newCostModelJSON(r.Model, r.Shape.ExpertBytes),
		Capacities: res.Caps,
		Belady:     res.Belady,
		Policies:   []sweepPolicyJSON{},
		Notes:      append([]string{}, res.Notes...),
	}
	for pi, p := range res.Policies {
		pj := sweepPolicyJSON{Name: p.Name, File: p.Spec.Pos.File}
		for ci, c := range res.Caps {
			cell := res.Cells[pi][ci]
			cj := sweepCellJSON{Capacity: c, Skipped: cell.Skip}
			if cell.Skip == "" {
				cj.HitRate, cj.MsPerToken = &cell.HitRate, &cell.MsPerToken
			}
			pj.Cells = append(pj.Cells, cj)
		}
		j.Policies = append(j.Policies, pj)
	}
	return j
}

// statsJSON is "moec trace stats -json": what its tables show.
type statsJSON struct {
	Trace    string `json:"trace"`
	Model    string `json:"model"`
	Layers   int    `json:"layers"`
	Experts  int    `json:"experts"`
	TopK     int    `json:"top_k"`
	Rows     int64  `json:"rows"`
	Accesses int64  `json:"accesses"`
	// LRUCapacities are the cache sizes of every lru_hit_rate list.
	LRUCapacities []int            `json:"lru_capacities"`
	PerLayer      []layerStatsJSON `json:"per_layer"`
	Overall       overallJSON      `json:"overall"`
	// Affinity has one entry per pair of consecutive layers; it is empty
	// for traces of too many experts to count transitions.
	Affinity []affinityJSON `json:"affinity"`
	// Scores are the mean router weights, by rank, of the rows that
	// have them; null without such rows.
	Scores *scoresJSON `json:"scores"`
}

type quantilesJSON struct {
	N   int64 `json:"n"`
	P50 int64 `json:"p50"`
	P90 int64 `json:"p90"`
	P99 int64 `json:"p99"`
}

func newQuantilesJSON(q trace.Quantiles) quantilesJSON {
	return quantilesJSON{N: q.N, P50: q.P50, P90: q.P90, P99: q.P99}
}

// layerStatsJSON is one layer; its figures are null when it has no
// accesses.
type layerStatsJSON struct {
	Layer       int            `json:"layer"`
	Rows        int64          `json:"rows"`
	Accesses    int64          `json:"accesses"`
	EntropyBits *float64       `json:"entropy_bits"`
	MaxEntropy  *float64       `json:"max_entropy_bits"`
	Top10Share  *float64       `json:"top10_share"`
	Gini        *float64       `json:"gini"`
	Reuse       *quantilesJSON `json:"reuse_distance"`
	Stack       *quantilesJSON `json:"stack_distance"`
	Cold        int64          `json:"cold"`
	LRUHitRate  []float64      `json:"lru_hit_rate"`
}

type overallJSON struct {
	EntropyBits float64       `json:"entropy_bits"`
	MaxEntropy  float64       `json:"max_entropy_bits"`
	Top10Share  float64       `json:"top10_share"`
	Gini        float64       `json:"gini"`
	Reuse       quantilesJSON `json:"reuse_distance"`
	Stack       quantilesJSON `json:"stack_distance"`
	LRUHitRate  []float64     `json:"lru_hit_rate"`
	Affinity    float64       `json:"affinity"`
	AffinityTop float64       `json:"affinity_top"`
	Independent float64       `json:"independent"`
}

// affinityJSON is one pair of layers; its figures are null without
// pairs, and top_from and top_to without an expert seen often enough.
type affinityJSON struct {
	From        int      `json:"from"`
	To          int      `json:"to"`
	Pairs       int64    `json:"pairs"`
	Mean        *float64 `json:"mean"`
	Top         *float64 `json:"top"`
	TopFrom     *int32   `json:"top_from"`
	TopTo       *int32   `json:"top_to"`
	Independent *float64 `json:"independent"`
}

type scoresJSON struct {
	Rows    int64     `json:"rows"`
	MeanBy  []float64 `json:"mean_by_rank"`
	MeanSum float64   `json:"mean_sum"`
}

func newStatsJSON(name string, s *trace.Stats) statsJSON {
	h := s.Header
	caps := s.LRUCapacities()
	rates := func(rate func(int) float64) []float64 {
		r := make([]float64, len(caps))
		for i, c := range caps {
			r[i] = rate(c)
		}
		return r
	}
	o := &s.Overall
	j := statsJSON{
		Trace: name, Model: h.Model, Layers: h.Layers, Experts: h.Experts, TopK: h.TopK,
		Rows: s.Rows, Accesses: s.Accesses, LRUCapacities: caps,
		PerLayer: []layerStatsJSON{},
		Overall: overallJSON{
			EntropyBits: o.Entropy, MaxEntropy: o.MaxEntropy, Top10Share: o.Top10, Gini: o.Gini,
			Reuse: newQuantilesJSON(o.Reuse), Stack: newQuantilesJSON(o.Stack), LRUHitRate: rates(s.LRUHitRate),
			Affinity: o.Affinity, AffinityTop: o.AffinityTop, Independent: o.Independent,
		},
		Affinity: []affinityJSON{},
	}
	for i := range s.Layers {
		l := &s.Layers[i]
		lj := layerStatsJSON{Layer: l.Layer, Rows: l.Rows, Accesses: l.Accesses, Cold: l.Cold}
		if l.Accesses > 0 {
			reuse, stack := newQuantilesJSON(l.Reuse), newQuantilesJSON(l.Stack)
			lj.EntropyBits, lj.MaxEntropy, lj.Top10Share, lj.Gini = finite(l.Entropy), finite(l.MaxEntropy), finite(l.Top10), finite(l.Gini)
			lj.Reuse, lj.Stack, lj.LRUHitRate = &reuse, &stack, rates(l.LRUHitRate)
		}
		j.PerLayer = append(j.PerLayer, lj)
	}
	for _, a := range s.Affinity {
		aj := affinityJSON{From: a.From, To: a.To, Pairs: a.Pairs}
		if a.Pairs > 0 {
			aj.Mean, aj.Independent = finite(a.Mean), finite(a.Independent)
			if a.TopFrom >= 0 {
				from, to := a.TopFrom, a.TopTo
				aj.Top, aj.TopFrom, aj.TopTo = finite(a.Top), &from, &to
			}
		}
		j.Affinity = append(j.Affinity, aj)
	}
	if s.ScoreRows > 0 {
		j.Scores = &scoresJSON{Rows: s.ScoreRows, MeanBy: s.MeanScore, MeanSum: s.MeanScoreSum}
	}
	return j
}

// finite returns a pointer to f, or nil when f is not a number JSON can
// hold.
func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
