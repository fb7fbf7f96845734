package policy_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/policy"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/sema"
)

// resolve parses and checks src, which must hold one valid policy, and
// checks that it is formatted as moec fmt formats it.
func resolve(t *testing.T, name string, src []byte) *rt.Spec {
	t.Helper()
	f, diags := parser.ParseFile(name, src)
	if err := diags.Err(); err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	if got := ast.Format(f); string(got) != string(src) {
		t.Fatalf("not formatted:\n%s\nmoec fmt:\n%s", src, got)
	}
	specs, diags := sema.Check(f)
	if err := diags.Err(); err != nil {
		t.Fatalf("check: %v\n%s", err, src)
	}
	if len(specs) != 1 {
		t.Fatalf("%d policies in\n%s", len(specs), src)
	}
	return specs[0]
}

// roundTrip formats s and checks that the text resolves to s.
func roundTrip(t *testing.T, what string, s *rt.Spec, o *policy.FormatOptions) {
	t.Helper()
	src, err := policy.Format(s, o)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got := resolve(t, "format.moe", src)
	if diff := cmp.Diff(s, got, ignorePositions, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("%s: the text resolves to another policy (-want +got):\n%s\n%s", what, diff, src)
	}
}

// allPaths returns every key of the table, as KeyPos keys.
func allPaths() []string {
	var paths []string
	for _, k := range allKeys() {
		paths = append(paths, k.Path())
	}
	return paths
}

// TestFormatExamples formats every policy of every example, with only
// the keys that differ from their defaults and with every key, and
// checks that the text resolves to the same policy.
func TestFormatExamples(t *testing.T) {
	t.Parallel()
	n := 0
	for _, path := range exampleFiles(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := parser.ParseFile(path, src)
		specs, more := sema.Check(f)
		if err := append(diags, more...).Err(); err != nil {
			t.Fatal(err)
		}
		for _, s := range specs {
			roundTrip(t, path+" "+s.Name, s, nil)
			roundTrip(t, path+" "+s.Name+" (every key)", s, &policy.FormatOptions{Keep: allPaths()})
			n++
		}
	}
	if n < 20 {
		t.Errorf("only %d example policies", n)
	}
}

// TestFormatRandom formats random valid policies, with random keys kept,
// and checks that each text resolves to its policy.
func TestFormatRandom(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	paths := allPaths()
	rules := 0
	for i := range 2000 {
		s := randomSpec(r)
		rules += len(s.Adapt.Rules)
		var keep []string
		for _, p := range paths {
			if r.IntN(4) == 0 {
				keep = append(keep, p)
			}
		}
		roundTrip(t, fmt.Sprintf("random policy %d", i), s, &policy.FormatOptions{Keep: keep})
	}
	if rules < 2000 {
		t.Errorf("only %d rules in 2000 policies", rules)
	}
}

// randomSpec returns a random valid policy: random values for random keys,
// kept when the policy stays valid, then conditional values and adapt
// rules whose actions keep it valid.
func randomSpec(r *rand.Rand) *rt.Spec {
	s := rt.NewSpec("random", rt.DefaultBudget+r.IntN(60))
	for _, b := range []string{"monitor", "per_layer"} {
		if r.IntN(2) == 0 {
			rt.OpenBlock(s, b)
		}
	}
	for _, k := range allKeys() {
		if r.IntN(3) > 0 || !rt.HasBlock(s, k.Block) {
			continue
		}
		t := s.Clone()
		if k.Set(t, randomValue(r, k, true)) == nil && len(t.Check()) == 0 {
			s = t
		}
	}
	var rules []rt.Rule
	for _, k := range allKeys() {
		if !k.Cond || r.IntN(3) > 0 {
			continue
		}
		if v, _ := k.Get(s); len(v.Words) == 2 && v.String() != "lfu | lru" {
			continue // "fallback : W" stands only for lfu | lru (see TestFormatErrors)
		}
		a, err := k.Action(randomValue(r, k, false))
		if err != nil {
			continue
		}
		rules = addRule(s, rules, rt.Rule{Cond: randomCond(r), Window: 1, Actions: []rt.Action{a}, Implicit: true})
	}
	for range r.IntN(4) {
		rule := rt.Rule{Cond: randomCond(r), Window: []int{1, 2, 100}[r.IntN(3)]}
		for _, name := range rt.TargetNames() {
			target, _ := rt.ParseTarget(name)
			k, _ := rt.LookupPath(target.Key())
			if r.IntN(4) > 0 || k.Name != name {
				continue
			}
			if a, err := k.Action(randomValue(r, k, false)); err == nil {
				rule.Actions = append(rule.Actions, a)
			}
		}
		switch r.IntN(4) {
		case 0:
			rule.Actions = append(rule.Actions, rt.Action{Target: rt.TriggerMemoryPressure})
		case 1:
			rule.Actions = append(rule.Actions, rt.Action{Target: rt.Rebalance, Signal: rt.Allocation(r.IntN(6))})
		}
		if len(rule.Actions) > 0 {
			rules = addRule(s, rules, rule)
		}
	}
	s.Adapt.Rules = rules
	return s
}

// addRule appends rule to rules when its actions keep s valid.
func addRule(s *rt.Spec, rules []rt.Rule, rule rt.Rule) []rt.Rule {
	if _, vs := rt.ApplyActions(s, rule.Actions, nil); len(vs) > 0 {
		return rules
	}
	return append(rules, rule)
}

var numbers = []float64{0, 1e-5, 0.05, 0.25, 0.5, 0.7, 0.9, 1, 2.5, 40, 1e6}

// randomValue returns a random value of k's kind, a composition "A | B"
// only where pipe allows it: an action's value, as a conditional value's,
// is one word in .moe.
func randomValue(r *rand.Rand, k rt.KeyDef, pipe bool) rt.Value {
	words := k.Words()
	switch k.Kind {
	case rt.IntKind:
		return rt.IntValue([]int{0, 1, 2, 3, 4, 8, 16, 100}[r.IntN(8)])
	case rt.NumberKind:
		return rt.NumberValue(numbers[r.IntN(len(numbers))])
	case rt.BoolKind:
		return rt.BoolValue(r.IntN(2) == 0)
	case rt.WordKind:
		if pipe && k.Pipe && r.IntN(3) == 0 {
			return rt.PipeValue(words[r.IntN(len(words))], words[r.IntN(len(words))])
		}
		return rt.WordValue(words[r.IntN(len(words))])
	case rt.IntListKind:
		var ns []int
		for range r.IntN(4) {
			ns = append(ns, r.IntN(20))
		}
		return rt.IntListValue(ns...)
	}
	var ws []string
	for range r.IntN(4) {
		ws = append(ws, words[r.IntN(len(words))])
	}
	return rt.WordListValue(ws...)
}

func randomCond(r *rand.Rand) rt.Cond {
	return rt.Cond{Metric: rt.Metric(r.IntN(int(rt.CPURate) + 1)), Op: rt.Op(r.IntN(5)), Threshold: numbers[r.IntN(len(numbers))]}
}

// TestFormat checks the text Format writes, with a header, kept keys and
// comments: the layout of moec fmt, keys in table order, blocks that hold
// only defaults left out but for a monitor or per_layer block, which keeps
// its first key.
func TestFormat(t *testing.T) {
	t.Parallel()
	s, err := policy.New("tuned",
		policy.Cache(16, policy.Tiers(rt.LFU, rt.LRU), policy.Decay(0.9), policy.When(rt.HitRate, rt.LT, 0.2).Capacity(24)),
		policy.Schedule(rt.GPUOnly),
		policy.Monitor(),
		policy.Adapt(
			policy.When(rt.HitRate, rt.LT, 0.5).For(100).Then(policy.SetEviction(rt.Fallback), policy.SetCapacity(32)),
			policy.When(rt.MissRate, rt.GT, 0.9).Then(policy.TriggerMemoryPressure()),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	got, err := policy.Format(s, &policy.FormatOptions{
		Header:   []string{"Found by a test.", "", "  Indented."},
		Keep:     []string{"schedule.mode", "cache.ttl"},
		Comments: map[string][]string{"cache.frequency_decay": {"Fast decay."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `# Found by a test.
#
#   Indented.
version 1.0

policy tuned {
    cache {
        capacity = 16 : 24 when hit_rate < 0.2
        eviction = lfu | lru
        # Fast decay.
        frequency_decay = 0.9
    }
    schedule {
        mode = gpu_only
    }
    monitor {
        metrics = [hit_rate]
    }
    adapt {
        when hit_rate < 0.5 for 100 accesses {
            eviction = fallback
            capacity = 32
        }
        when miss_rate > 0.9 { trigger memory_pressure }
    }
}
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	roundTrip(t, "TestFormat", s, nil)
}

// TestFormatErrors checks the Specs Format refuses: those without a .moe
// text that resolves to them.
func TestFormatErrors(t *testing.T) {
	t.Parallel()
	valid := func(edit func(s *rt.Spec)) *rt.Spec {
		s := rt.NewSpec("p", 8)
		edit(s)
		return s
	}
	implicit := func(actions ...rt.Action) rt.Rule {
		return rt.Rule{Cond: rt.Cond{Metric: rt.HitRate, Op: rt.LT, Threshold: 0.5}, Window: 1, Actions: actions, Implicit: true}
	}
	explicit := implicit(rt.Action{Target: rt.SetBudget, Int: 2})
	explicit.Implicit = false
	capacity := rt.Action{Target: rt.SetCapacity, Int: 16}
	for _, tc := range []struct {
		name string
		spec *rt.Spec
		opts *policy.FormatOptions
		want string
	}{
		{"name", rt.NewSpec("2fast", 8), nil, "its name is not an identifier"},
		{"invalid", rt.NewSpec("p", 2), nil, "prefetch budget 4 exceeds cache capacity 2 (rule 10)"},
		{"invalid per_layer", valid(func(s *rt.Spec) { s.PerLayer = rt.DefaultPerLayer(); s.PerLayer.RebalanceInterval = -1 }), nil,
			"per_layer rebalance_interval -1 must not be negative (rule M9)"},
		{"negative threshold", valid(func(s *rt.Spec) {
			r := explicit
			r.Cond.Threshold = -1
			s.Adapt.Rules = []rt.Rule{r}
		}), nil, "-1 cannot be written: .moe numbers are finite and not negative"},
		{"unknown keep", rt.NewSpec("p", 8), &policy.FormatOptions{Keep: []string{"cache.colour"}}, `unknown key "cache.colour" to keep`},
		{"comment on a key not written", rt.NewSpec("p", 8), &policy.FormatOptions{Comments: map[string][]string{"cache.ttl": {"x"}}},
			`a comment on "cache.ttl", which is not written`},
		{"implicit after explicit", valid(func(s *rt.Spec) { s.Adapt.Rules = []rt.Rule{explicit, implicit(capacity)} }), nil,
			"rule 2 is implicit but comes after an explicit rule"},
		{"implicit out of order", valid(func(s *rt.Spec) {
			s.Adapt.Rules = []rt.Rule{implicit(rt.Action{Target: rt.SetBudget, Int: 2}), implicit(capacity)}
		}), nil, "rule 2 is implicit on cache.capacity, out of the order of the keys or a second one on it"},
		{"implicit mode", valid(func(s *rt.Spec) { s.Adapt.Rules = []rt.Rule{implicit(rt.Action{Target: rt.SetMode, Mode: rt.Hybrid})} }), nil,
			"rule 1 is implicit but schedule.mode cannot take a conditional value"},
		{"implicit with two actions", valid(func(s *rt.Spec) { s.Adapt.Rules = []rt.Rule{implicit(capacity, capacity)} }), nil,
			"rule 1 is implicit but has 2 actions and window 1"},
		{"tiers as one word", valid(func(s *rt.Spec) {
			s.Adapt.Rules = []rt.Rule{implicit(rt.Action{Target: rt.SetEviction, Eviction: rt.Fallback, Primary: rt.LRU, Second: rt.LFU})}
		}), nil, "cache eviction lru | lfu has no single word"},
		{"monitor metric in a condition", valid(func(s *rt.Spec) {
			r := implicit(capacity)
			r.Cond.Metric = rt.Latency
			s.Adapt.Rules = []rt.Rule{r}
		}), nil, "condition latency < 0.5 cannot be written"},
		{"infinite threshold", valid(func(s *rt.Spec) {
			r := explicit
			r.Cond.Threshold = math.Inf(1)
			s.Adapt.Rules = []rt.Rule{r}
		}), nil, "+Inf cannot be written"},
		{"no actions", valid(func(s *rt.Spec) { s.Adapt.Rules = []rt.Rule{{Cond: explicit.Cond, Window: 1}} }), nil,
			`rule "when hit_rate < 0.5" has no actions`},
		{"two actions on one key", valid(func(s *rt.Spec) {
			s.Adapt.Rules = []rt.Rule{{Cond: explicit.Cond, Window: 1, Actions: []rt.Action{capacity, capacity}}}
		}), nil, "has two actions on cache.capacity"},
		{"unknown eviction", valid(func(s *rt.Spec) { s.Cache.Eviction = 42 }), nil, `unknown eviction "?"`},
	} {
		_, err := policy.Format(tc.spec, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Format: %v, want %q", tc.name, err, tc.want)
		}
	}
}
