package codegen_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/moepolicy/moec/codegen"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
	"github.com/moepolicy/moec/sema"
)

// The differential test: for every example policy and for random valid
// policies, the generated code and the interpreter rt.New make the same
// Plan on every dispatch and end with the same Stats, on synthetic routing
// of several shapes and on the shared real trace. The generated code is
// built and run in a temporary module by "go test", so a codegen bug that
// produces Go that does not compile fails this test too.

// repoRoot is the module's root, for the temporary module's replace.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// examples returns the specs of every example policy.
func examples(t *testing.T) []*rt.Spec {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "examples", "*.moe"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	var specs []*rt.Spec
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := parser.ParseFile(filepath.Base(name), src)
		ss, more := sema.Check(f)
		if len(diags)+len(more) > 0 {
			t.Fatalf("%s: %v %v", name, diags, more)
		}
		specs = append(specs, ss...)
	}
	return specs
}

// corners are policies written for paths of the generated code that
// random policies reach too rarely.
const corners = `version 1.0

# Prefetching switched off and on by adapt rules: the plain-LRU states
# take rt.Ledger.DemandLRU, and must still count the hits on experts the
# lookahead states warmed.
policy prefetch_toggle {
    cache {
        capacity = 24
        eviction = lru
    }
    prefetch {
        strategy = lookahead
        budget = 4
    }
    adapt {
        cooldown = 0
        when hit_rate > 0.3 for 4 accesses { strategy = none }
        when hit_rate < 0.3 for 4 accesses { strategy = lookahead }
    }
}

# One LRU cache per layer, resized by the entropy of each layer's
# routing: DemandLRU on the layer's own cache, whose keys are a run of the
# ledger's.
policy per_layer_lru {
    cache {
        capacity = 4
        eviction = lru
    }
    per_layer {
        allocation = entropy
        min_capacity = 1
        max_capacity = 8
        entropy_window = 20
        rebalance_interval = 7
    }
}
`

// cornerSpecs returns the policies of corners.
func cornerSpecs(t *testing.T) []*rt.Spec {
	f, diags := parser.ParseFile("corners.moe", []byte(corners))
	specs, more := sema.Check(f)
	if len(diags)+len(more) > 0 {
		t.Fatalf("corners: %v %v", diags, more)
	}
	return specs
}

// randomSpecs returns n random valid policies with distinct names.
func randomSpecs(seed uint64, n int) []*rt.Spec {
	shapes := []rt.Shape{{Layers: 1, Experts: 8, TopK: 2}, {Layers: 4, Experts: 16, TopK: 4}, {Layers: 3, Experts: 64, TopK: 6}}
	var specs []*rt.Spec
	for i := range n {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		s := rttest.RandomSpec(r, shapes[i%len(shapes)])
		s.Name = fmt.Sprintf("random_%d", i)
		specs = append(specs, s)
	}
	return specs
}

const harness = `package gen

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/rt/rttest"
)

type policyCase struct {
	name string
	spec *rt.Spec
	gen  func(rt.Shape) (rt.Policy, error)
}

// realTrace reads the shared trace named by $MOEC_TRACE.
func realTrace(t *testing.T) (rt.Shape, []rttest.Call) {
	f, err := os.Open(os.Getenv("MOEC_TRACE"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	sc.Scan()
	var h struct {
		Layers  int ` + "`json:\"num_layers\"`" + `
		Experts int ` + "`json:\"num_experts\"`" + `
		TopK    int ` + "`json:\"top_k\"`" + `
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	var calls []rttest.Call
	for sc.Scan() {
		var row struct {
			L int
			E []int32
			S []float32
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		calls = append(calls, rttest.Call{Layer: row.L, Experts: row.E, Scores: row.S})
	}
	return rt.Shape{Layers: h.Layers, Experts: h.Experts, TopK: h.TopK, ExpertBytes: 17301504}, calls
}

func samePlans(a, b *rt.Plan) bool {
	eq := func(x, y []rt.Key) bool { return len(x) == len(y) && (len(x) == 0 || reflect.DeepEqual(x, y)) }
	return a.Layer == b.Layer && reflect.DeepEqual(a.Hit, b.Hit) && reflect.DeepEqual(a.Device, b.Device) &&
		eq(a.Load, b.Load) && eq(a.Prefetch, b.Prefetch) && eq(a.Evict, b.Evict)
}

// compare runs calls through rt.New's policy and the generated one, both
// calibrated with hw when it is not zero (generated code without
// Calibrate runs no hybrid schedule, which hw could not change).
func compare(t *testing.T, c policyCase, shape rt.Shape, calls []rttest.Call, hw rt.Hardware) {
	want, errWant := rt.New(c.spec, shape)
	got, errGot := c.gen(shape)
	if (errWant == nil) != (errGot == nil) || errWant != nil && errWant.Error() != errGot.Error() {
		t.Fatalf("%s on %+v: rt.New says %v, generated code says %v", c.name, shape, errWant, errGot)
	}
	if errWant != nil {
		return
	}
	if hw != (rt.Hardware{}) {
		want.(rt.Calibrated).Calibrate(hw)
		if g, ok := got.(rt.Calibrated); ok {
			g.Calibrate(hw)
		}
	}
	var pw, pg rt.Plan
	for i, d := range calls {
		scores := d.Scores
		if i%5 == 0 {
			scores = nil // routers without weights, too
		}
		want.Dispatch(d.Layer, d.Experts, scores, &pw)
		got.Dispatch(d.Layer, d.Experts, scores, &pg)
		if !samePlans(&pw, &pg) {
			t.Fatalf("%s on %+v, dispatch %d (layer %d, %v):\nrt.New:    %+v\ngenerated: %+v", c.name, shape, i, d.Layer, d.Experts, pw, pg)
		}
	}
	if sw, sg := want.Stats(), got.Stats(); !reflect.DeepEqual(sw, sg) {
		a, _ := json.Marshal(sw)
		b, _ := json.Marshal(sg)
		t.Fatalf("%s on %+v: stats differ\nrt.New:    %s\ngenerated: %s", c.name, shape, a, b)
	}
	if got.Name() != want.Name() {
		t.Fatalf("names differ: %q, %q", got.Name(), want.Name())
	}
	// Calls that break the contract of rt.Policy panic alike.
	for _, m := range []struct {
		layer   int
		experts []int32
		scores  []float32
	}{
		{0, []int32{int32(shape.Experts)}, nil},
		{shape.Layers, []int32{0}, nil},
		{0, make([]int32, shape.TopK+1), nil},
		{0, []int32{0}, []float32{}},
	} {
		if pw, pg := dispatchPanic(want, m.layer, m.experts, m.scores), dispatchPanic(got, m.layer, m.experts, m.scores); pw == nil || pw != pg {
			t.Fatalf("%s on %+v: Dispatch(%d, %v, %v) panics with %v in rt.New, %v in generated code", c.name, shape, m.layer, m.experts, m.scores, pw, pg)
		}
	}
}

func dispatchPanic(p rt.Policy, layer int, experts []int32, scores []float32) (v any) {
	defer func() { v = recover() }()
	var plan rt.Plan
	p.Dispatch(layer, experts, scores, &plan)
	return nil
}

// TestStatesAsWritten checks that the generated state 0 of every policy
// is the Spec it was generated from (the front end's, less its source text
// and key positions, with positions naming the file as the header does),
// as JSON: the state literals spell only what differs from rt.NewSpec.
func TestStatesAsWritten(t *testing.T) {
	var want map[string]any
	if err := json.Unmarshal([]byte(specsJSON), &want); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		b, err := json.Marshal(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		var got any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if !sameJSON(got, want[c.name]) {
			t.Errorf("%s: state 0 is\n%s\nwant the Spec it was generated from", c.name, b)
		}
	}
}

// sameJSON compares decoded JSON, an empty list equal to null.
func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !sameJSON(v, b[k]) {
				return false
			}
		}
		return true
	case []any:
		b, _ := b.([]any)
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case nil:
		l, ok := b.([]any)
		return b == nil || ok && len(l) == 0
	}
	return reflect.DeepEqual(a, b)
}

func TestDifferential(t *testing.T) {
	shapes := []rt.Shape{{Layers: 1, Experts: 8, TopK: 2}, {Layers: 4, Experts: 16, TopK: 4, ExpertBytes: 12 << 20}, {Layers: 3, Experts: 64, TopK: 6}, {Layers: 26, Experts: 64, TopK: 6}}
	tshape, tcalls := realTrace(t)
	// Calibrated with a link and a CPU about as fast for 12 MiB experts
	// (6.3 ms a copy, 4 ms on the CPU), hybrid shares a layer's misses.
	hw := rt.Hardware{PCIeGBps: 2, CPUExpertMS: 4}
	for _, c := range cases {
		for i, shape := range shapes {
			compare(t, c, shape, rttest.Routing(uint64(i), 1500, shape), rt.Hardware{})
			compare(t, c, shape, rttest.Routing(uint64(i), 1500, shape), hw)
		}
		compare(t, c, tshape, tcalls, rt.Hardware{})
		compare(t, c, tshape, tcalls, hw)
	}
}
`

func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("builds generated code in a temporary module")
	}
	specs := append(examples(t), cornerSpecs(t)...)
	specs = append(specs, randomSpecs(1, 60)...)
	runDifferential(t, specs)
}

// runDifferential generates the code of specs, writes the harness beside it
// in a temporary module and runs it with go test.
func runDifferential(t *testing.T, specs []*rt.Spec) {
	t.Helper()
	dir := t.TempDir()
	root := repoRoot(t)
	src, err := codegen.Generate(specs, codegen.Options{Package: "gen", Source: "policies.moe"})
	if err != nil {
		t.Fatal(err)
	}
	var cases strings.Builder
	cases.WriteString("package gen\n\nimport \"github.com/moepolicy/moec/rt\"\n\nvar cases = []policyCase{\n")
	for _, s := range specs {
		n := codegen.TypeName(s.Name)
		low := strings.ToLower(n[:1]) + n[1:]
		fmt.Fprintf(&cases, "\t{%q, %sStates[0], func(s rt.Shape) (rt.Policy, error) { return New%s(s) }},\n", s.Name, low, n)
	}
	cases.WriteString("}\n")
	want := map[string]*rt.Spec{}
	for _, s := range specs {
		w := s.Clone()
		w.Source, w.KeyPos = "", nil
		w.Pos.File = "policies.moe"
		for i := range w.Adapt.Rules {
			w.Adapt.Rules[i].Pos.File = "policies.moe"
			for j := range w.Adapt.Rules[i].Actions {
				w.Adapt.Rules[i].Actions[j].Pos.File = "policies.moe"
			}
		}
		want[s.Name] = w
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&cases, "\nconst specsJSON = %q\n", wantJSON)
	goSum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":              "module difftest\n\ngo 1.26\n\nrequire github.com/moepolicy/moec v0.0.0\n\nreplace github.com/moepolicy/moec => " + root + "\n",
		"go.sum":              string(goSum),
		"gen/policies_gen.go": string(src),
		"gen/cases_test.go":   cases.String(),
		"gen/diff_test.go":    harness,
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-count=1", "./gen")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "MOEC_TRACE="+filepath.Join(root, "testdata", "traces", "qwen15moe-gsm8k-5layer.jsonl"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("generated code differs from the interpreter, or does not build:\n%s", out.String())
	}
}
