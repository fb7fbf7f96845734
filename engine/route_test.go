package engine

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/model"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/trace"
)

// TestMapTraceLayers checks the mapping docs/ENGINE.md states: the shared
// trace's 5 layers spread over Qwen1.5-MoE's 24 by depth, a permutation
// of the expert ids per model layer, fixed from run to run and distinct
// between the layers that share a traced layer; and the identity when the
// model has the trace's layers.
func TestMapTraceLayers(t *testing.T) {
	ms := mapTraceLayers(24, 60, 5)
	var layers []int
	for _, m := range ms {
		layers = append(layers, m.Layer)
	}
	want := []int{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4}
	if !slices.Equal(layers, want) {
		t.Errorf("24 layers onto 5: %v, want %v", layers, want)
	}
	for i, m := range ms {
		sorted := slices.Sorted(slices.Values(m.Perm))
		for e, id := range sorted {
			if int(id) != e {
				t.Fatalf("layer %d: %v is not a permutation of [0, 60)", i, m.Perm)
			}
		}
		for j := range i {
			if ms[j].Layer == m.Layer && slices.Equal(ms[j].Perm, m.Perm) {
				t.Errorf("layers %d and %d route alike", j, i)
			}
		}
	}
	if !reflect.DeepEqual(ms, mapTraceLayers(24, 60, 5)) {
		t.Error("the mapping differs between two calls")
	}
	if got := mapTraceLayers(2, 12, 5); got[0].Layer != 1 || got[1].Layer != 3 {
		t.Errorf("2 layers onto 5: %d and %d, want 1 and 3", got[0].Layer, got[1].Layer)
	}
	for i, m := range mapTraceLayers(5, 60, 5) {
		if m.Layer != i || m.Perm != nil {
			t.Errorf("5 layers onto 5: layer %d maps to %d through %v, want itself unchanged", i, m.Layer, m.Perm)
		}
	}
}

// tinyConfig returns the folder of the tiny checkpoint name, its config
// and its experts' shape.
func tinyConfig(t *testing.T, name string) (string, *model.Config, rt.Shape) {
	t.Helper()
	dir := filepath.Join("..", "testdata", "models", name)
	cfg, err := model.ReadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	shape, err := ExpertShape(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, cfg, shape
}

// writeRouteTrace writes rows random rows per traced layer for a model
// of cfg's experts and top-k, and returns its path and the rows.
func writeRouteTrace(t *testing.T, cfg *model.Config, layers, rows int) (string, []trace.Row) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(layers), uint64(rows)))
	path := filepath.Join(t.TempDir(), "route.jsonl")
	var sb strings.Builder
	w, err := trace.NewWriter(&sb, trace.Header{Model: "random", Layers: layers, Experts: cfg.Experts, TopK: cfg.TopK, Entries: int64(layers * rows)})
	if err != nil {
		t.Fatal(err)
	}
	var all []trace.Row
	for tok := range rows {
		for l := range layers {
			r := trace.Row{Token: tok, Layer: l}
			for _, e := range rng.Perm(cfg.Experts)[:cfg.TopK] {
				r.Experts = append(r.Experts, int32(e))
				r.Scores = append(r.Scores, trace.RoundScore(rng.Float32()))
			}
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
			all = append(all, r)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o666); err != nil {
		t.Fatal(err)
	}
	return path, all
}

// TestRouteTrace checks, on every tiny checkpoint, that Options.RouteTrace
// gives a policy each MoE layer's routing from the trace, through
// mapTraceLayers, starting over when the rows run out; for a trace of as
// many layers as the model and for one of a single layer. The tokens are
// those of the same forced routing without a policy.
func TestRouteTrace(t *testing.T) {
	prompt := []int{1, 17, 42}
	const n, rows = 6, 5 // 8 tokens run, so the rows start over
	for _, name := range tinyModels {
		dir, cfg, shape := tinyConfig(t, name)
		moe := len(cfg.MoELayers)
		for _, layers := range []int{moe, 1} {
			path, in := writeRouteTrace(t, cfg, layers, rows)
			maps := mapTraceLayers(moe, cfg.Experts, layers)
			spec := exampleSpec(t, "lru_policy")
			shrink(t, spec, shape)
			p, err := rt.New(spec, shape)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Open(dir, Options{MaxContext: 64, Policy: p, Store: cudart.OptionsFor(spec, shape), RecordRouting: true, RouteTrace: path})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			defer m.Close()
			r, err := m.Generate(prompt, n, Sampling{})
			if err != nil {
				t.Fatal(err)
			}
			got := m.pl.rows
			if len(got) != (len(prompt)+n-1)*moe {
				t.Fatalf("%s, %d traced layers: %d dispatches recorded", name, layers, len(got))
			}
			for i, g := range got {
				tok, l := i/moe, i%moe
				want := in[tok%rows*layers+maps[l].Layer]
				experts := slices.Clone(want.Experts)
				if p := maps[l].Perm; p != nil {
					for j, e := range experts {
						experts[j] = p[e]
					}
				}
				if g.Layer != l || !slices.Equal(g.Experts, experts) || !slices.Equal(g.Scores, want.Scores) {
					t.Fatalf("%s, %d traced layers: token %d layer %d routed %v %v, want %v %v", name, layers, tok, l, g.Experts, g.Scores, experts, want.Scores)
				}
			}
			plain, err := Open(dir, Options{MaxContext: 64, RouteTrace: path})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			pr, err := plain.Generate(prompt, n, Sampling{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Generated, pr.Generated) {
				t.Errorf("%s, %d traced layers: %v under the policy, %v without", name, layers, r.Generated, pr.Generated)
			}
		}
	}
}
