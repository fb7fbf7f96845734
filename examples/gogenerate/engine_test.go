package gogenerate

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/moepolicy/moec/cudart"
	"github.com/moepolicy/moec/engine"
	"github.com/moepolicy/moec/rt"
)

// TestGeneratedPolicyRunsModel drives a real (tiny) model with each
// generated policy, its experts placed on the host store: the tokens are
// those of the run without a policy, and the policy's statistics those of
// the interpreter driving the same model.
func TestGeneratedPolicyRunsModel(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "models", "qwen2_moe_bf16")
	shape, err := engine.ExpertShape(dir)
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{1, 17, 42, 99, 7}
	generate := func(o engine.Options) *engine.Result {
		t.Helper()
		m, err := engine.Open(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		r, err := m.Generate(prompt, 10, engine.Sampling{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	want := generate(engine.Options{})
	for _, p := range policies {
		gen, err := p.gen(shape)
		if err != nil {
			t.Fatal(err)
		}
		in, err := rt.New(p.spec, shape)
		if err != nil {
			t.Fatal(err)
		}
		store := cudart.OptionsFor(p.spec, shape)
		g := generate(engine.Options{Policy: gen, Store: store})
		i := generate(engine.Options{Policy: in, Store: store})
		if !slices.Equal(g.Generated, want.Generated) {
			t.Errorf("%s: generated %v, without a policy %v", p.name, g.Generated, want.Generated)
		}
		if !reflect.DeepEqual(g.Policy.Stats, i.Policy.Stats) || g.Policy.Store.Demand != i.Policy.Store.Demand {
			t.Errorf("%s: generated code's run\n%+v\nthe interpreter's\n%+v", p.name, g.Policy, i.Policy)
		}
	}
}
