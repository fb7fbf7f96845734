package replay

import (
	"fmt"
	"io"
	"slices"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/trace"
)

// A Source yields routing decisions, one per MoE layer per token, in the
// order they are replayed. Next returns io.EOF after the last one. The
// slices it returns are valid until the next call, and nobody may keep
// them: readers reuse their buffers.
type Source interface {
	Next() (layer int, experts []int32, scores []float32, err error)
}

// A Row is one routing decision: the layer, the selected experts in top-k
// order, and their router weights (nil when unknown).
type Row struct {
	Layer   int
	Experts []int32
	Scores  []float32
}

// SliceSource is a Source over rows held in memory.
type SliceSource struct {
	Rows []Row
	next int
}

// NewSliceSource returns a Source that yields rows in order.
func NewSliceSource(rows []Row) *SliceSource { return &SliceSource{Rows: rows} }

// Next returns the next row, or io.EOF after the last.
func (s *SliceSource) Next() (int, []int32, []float32, error) {
	if s.next >= len(s.Rows) {
		return 0, nil, nil, io.EOF
	}
	r := &s.Rows[s.next]
	s.next++
	return r.Layer, r.Experts, r.Scores, nil
}

// Rewind makes the source start again from its first row.
func (s *SliceSource) Rewind() { s.next = 0 }

// maxRowHint bounds the rows ReadRows allocates up front from a header's
// num_entries, which a hostile file can set to 2^63-1: more rows than
// this are appended as they are read.
const maxRowHint = 1 << 16

// ReadRows reads the rest of r into memory and returns its rows in order,
// each with its own copy of the experts and scores (a Reader reuses its
// buffers). A replay of many policies over one trace reads it once.
func ReadRows(r *trace.Reader) ([]Row, error) {
	rows := make([]Row, 0, min(r.Header().Entries, maxRowHint))
	for row, err := range r.All() {
		if err != nil {
			return nil, err
		}
		rows = append(rows, rowOf(row))
	}
	return rows, nil
}

// rowOf returns r as a Row that owns its slices.
func rowOf(r trace.Row) Row {
	return Row{Layer: r.Layer, Experts: slices.Clone(r.Experts), Scores: slices.Clone(r.Scores)}
}

// Accesses reads src to its end and returns every selected expert in
// order, for Belady.
func Accesses(src Source) ([]rt.Key, error) {
	var keys []rt.Key
	for step := int64(0); ; step++ {
		layer, experts, _, err := src.Next()
		if err == io.EOF {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		if layer < 0 || int(int32(layer)) != layer {
			return nil, fmt.Errorf("step %d: layer %d out of range", step, layer)
		}
		for _, e := range experts {
			keys = append(keys, rt.Key{Layer: int32(layer), Expert: e})
		}
	}
}

// PinnedKeys returns the keys of experts pinned in every one of layers
// layers, as `pin = [...]` pins them: layer by layer, in the order given.
func PinnedKeys(layers int, experts []int) []rt.Key {
	keys := make([]rt.Key, 0, layers*len(experts))
	for l := range layers {
		for _, e := range experts {
			keys = append(keys, rt.Key{Layer: int32(l), Expert: int32(e)})
		}
	}
	return keys
}

// TraceSource replays a trace file as it is read: the rows of r, in
// order.
type TraceSource struct{ R *trace.Reader }

// Next returns the next row of the trace.
func (s TraceSource) Next() (int, []int32, []float32, error) {
	row, err := s.R.Next()
	return row.Layer, row.Experts, row.Scores, err
}

// GenSource replays a synthetic trace as it is generated: the rows of G,
// in order, none of them kept.
type GenSource struct{ G *trace.Generator }

// Next returns the next row of the trace.
func (s GenSource) Next() (int, []int32, []float32, error) {
	row, err := s.G.Next()
	return row.Layer, row.Experts, row.Scores, err
}
