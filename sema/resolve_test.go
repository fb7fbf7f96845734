package sema

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/rt"
)

// posIn returns the position of the n-th (from 1) occurrence of needle on
// line (from 1) of src.
func posIn(t *testing.T, file, src string, line int, needle string, n int) rt.Pos {
	t.Helper()
	text := strings.Split(src, "\n")[line-1]
	col := -1
	for range n {
		i := strings.Index(text[col+1:], needle)
		if i < 0 {
			t.Fatalf("%q #%d not on line %d: %q", needle, n, line, text)
		}
		col += 1 + i
	}
	return rt.Pos{File: file, Line: line, Col: col + 1}
}

const fullPolicy = `policy full {
    adapt {
        cooldown = 20
        when hit_rate < 0.4 for 100 accesses { eviction = lru  capacity = 32 }
        when eviction_rate > 0.2 { rebalance entropy }
        when miss_rate >= 0.5 { trigger memory_pressure }
    }
    prefetch { strategy = history : lookahead when miss_rate > 0.5  budget = 2 : 8 when hit_rate <= 0.3 }
    cache {
        capacity = 16 : 64 when hit_rate < 0.5
        eviction = lfu | lru
        frequency_decay = 0.9
        pin = [3, 7]
    }
    schedule { mode = hybrid cpu_expert_ms = 2.5 }
    monitor { metrics = [hit_rate, latency] }
    per_layer { allocation = kl total_budget = 256 }
}`

// A whole policy resolves to the Spec written out here: defaults filled,
// implicit rules first (the prefetch block's, then the cache block's, in
// source order, although the adapt block comes first), every position.
func TestResolveFull(t *testing.T) {
	const file = "dir/full.moe"
	src := "# leading comment\n\n" + fullPolicy + "   # trailing comment\n"
	specs, diags := checkSource(file, []byte(src))
	if len(diags) != 0 || len(specs) != 1 {
		t.Fatalf("got %d specs, diagnostics:\n%s", len(specs), diags.Error())
	}
	at := func(line int, needle string, n int) rt.Pos { return posIn(t, file, src, line+2, needle, n) }

	want := rt.NewSpec("full", 16)
	want.Pos = at(1, "policy", 1)
	want.Source = fullPolicy
	want.Cache.Eviction, want.Cache.Primary, want.Cache.Secondary = rt.Fallback, rt.LFU, rt.LRU
	want.Cache.Decay = 0.9
	want.Cache.Pin = []int{3, 7}
	want.Prefetch.Strategy = rt.History
	want.Prefetch.Budget = 2
	want.Schedule.Mode = rt.Hybrid
	want.Schedule.CPUExpertMS = 2.5
	want.Monitor = &rt.MonitorSpec{Metrics: []rt.Metric{rt.HitRate, rt.Latency}, Window: 100, LogInterval: 50}
	want.PerLayer = &rt.PerLayerSpec{Allocation: rt.KL, EntropyWindow: 200, MinCapacity: 2, MaxCapacity: 64, RebalanceInterval: 500, TotalBudget: 256}
	want.Adapt.Cooldown = 20
	want.Adapt.Rules = []rt.Rule{
		{
			Cond:     rt.Cond{Metric: rt.MissRate, Op: rt.GT, Threshold: 0.5},
			Window:   1,
			Actions:  []rt.Action{{Target: rt.SetStrategy, Strategy: rt.Lookahead, Pos: at(8, "lookahead", 1)}},
			Implicit: true,
			Pos:      at(8, "history", 1),
		},
		{
			Cond:     rt.Cond{Metric: rt.HitRate, Op: rt.LE, Threshold: 0.3},
			Window:   1,
			Actions:  []rt.Action{{Target: rt.SetBudget, Int: 8, Pos: at(8, "8", 1)}},
			Implicit: true,
			Pos:      at(8, "2 :", 1),
		},
		{
			Cond:     rt.Cond{Metric: rt.HitRate, Op: rt.LT, Threshold: 0.5},
			Window:   1,
			Actions:  []rt.Action{{Target: rt.SetCapacity, Int: 64, Pos: at(10, "64", 1)}},
			Implicit: true,
			Pos:      at(10, "16", 1),
		},
		{
			Cond:   rt.Cond{Metric: rt.HitRate, Op: rt.LT, Threshold: 0.4},
			Window: 100,
			Actions: []rt.Action{
				{Target: rt.SetEviction, Eviction: rt.LRU, Pos: at(4, "eviction", 1)},
				{Target: rt.SetCapacity, Int: 32, Pos: at(4, "capacity", 1)},
			},
			Pos: at(4, "when", 1),
		},
		{
			Cond:    rt.Cond{Metric: rt.EvictionRate, Op: rt.GT, Threshold: 0.2},
			Window:  1,
			Actions: []rt.Action{{Target: rt.Rebalance, Signal: rt.Entropy, Pos: at(5, "rebalance", 1)}},
			Pos:     at(5, "when", 1),
		},
		{
			Cond:    rt.Cond{Metric: rt.MissRate, Op: rt.GE, Threshold: 0.5},
			Window:  1,
			Actions: []rt.Action{{Target: rt.TriggerMemoryPressure, Pos: at(6, "trigger", 1)}},
			Pos:     at(6, "when", 1),
		},
	}
	want.KeyPos = map[string]rt.Pos{
		"adapt.cooldown":         at(3, "20", 1),
		"prefetch.strategy":      at(8, "history", 1),
		"prefetch.budget":        at(8, "2 :", 1),
		"cache.capacity":         at(10, "16", 1),
		"cache.eviction":         at(11, "lfu", 1),
		"cache.frequency_decay":  at(12, "0.9", 1),
		"cache.pin":              at(13, "[", 1),
		"schedule.mode":          at(15, "hybrid", 1),
		"schedule.cpu_expert_ms": at(15, "2.5", 1),
		"monitor.metrics":        at(16, "[", 1),
		"per_layer.allocation":   at(17, "kl", 1),
		"per_layer.total_budget": at(17, "256", 1),
	}
	if diff := cmp.Diff(want, specs[0]); diff != "" {
		t.Errorf("resolved Spec (-want +got):\n%s", diff)
	}
}

// Several policies come back in file order; a policy with a diagnostic of
// its own (a second policy of a name among them), or one the parser could
// not read completely, does not.
func TestResolveWhichSpecs(t *testing.T) {
	src := `policy a { cache { capacity = 4 } }
policy b { cache { capacity = 0 } }
policy c { cache { capacity = 16.0 } }
policy d { cache { capacity = 8 } }
policy a { cache { capacity = 8 } }
`
	specs, diags := checkSource("w.moe", []byte(src))
	var names []string
	var caps []int
	for _, s := range specs {
		names = append(names, s.Name)
		caps = append(caps, s.Cache.Capacity)
	}
	if diff := cmp.Diff([]string{"a", "d"}, names); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{4, 8}, caps); diff != "" {
		t.Errorf("capacities (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"R1", diag.RuleSyntax, diag.RuleStructure}, codes(diags)); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
}

// Duplicates point back at the first occurrence.
func TestRelated(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // the diagnostic's Error()
	}{
		{"key", "policy p {\n  cache { capacity = 4\n    capacity = 8 }\n}",
			"r.moe:3:5: duplicate key \"capacity\" in cache block\n\tr.moe:2:11: first \"capacity\" here"},
		{"block", "policy p {\n  cache { capacity = 4 }\n  cache { capacity = 8 }\n}",
			"r.moe:3:3: duplicate \"cache\" block in policy \"p\"\n\tr.moe:2:3: first \"cache\" block here"},
		{"action", "policy p {\n  cache { capacity = 8 }\n  adapt { when hit_rate < 0.5 { mode = hybrid\n    schedule_mode = cpu_fallback } }\n}",
			"r.moe:4:5: duplicate action target \"schedule_mode\" in adapt rule\n\tr.moe:3:33: first \"mode = hybrid\" here"},
		{"policy", "policy p { cache { capacity = 4 } }\npolicy q { cache { capacity = 4 } }\n  policy p { cache { capacity = 8 } }",
			"r.moe:3:10: duplicate policy name \"p\"\n\tr.moe:1:8: first policy \"p\" here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := checkSource("r.moe", []byte(tt.src))
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1:\n%s", len(diags), diags.Error())
			}
			if got := diags[0].Error(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// One mistake gives one diagnostic, whatever rules read the value.
func TestNoCascades(t *testing.T) {
	for _, src := range []string{
		`policy p { cache { capacity = 16.0 } }`,
		`policy p { cache { } }`,
		`policy p { }`,
		`policy p { cache { capacity = 8 } monitor { } }`,
		`policy p { cache { capacity = 8 } adapt { when hit_rate < 0.5 { } } }`,
		`policy { cache { capacity = 8 } }`,
		`policy p { cache { capacity = 8 } prefetch { budget = 8`,
		`version policy p { cache { capacity = 8 } }`,
		// A default the syntax error may have hidden is not held against
		// the policy: the misspelt key, or the dropped block, may have set
		// it.
		`policy p { cache { capacity = 8 eviction = score } prefetch { stratgy = affinity } }`,
		`policy p { cache { capacity = 8 eviction = score } prefetc { strategy = affinity } }`,
		`policy p { cache { capacity = 2 } prefetch { budgte = 1 } }`,
		`policy p { cache { capacity = 8 } per_layr { allocation = entropy } adapt { when hit_rate < 0.5 { rebalance entropy } } }`,
		`policy p { cache { capacity = } }`,
		`policy p { cache { capacity = 2 eviction = LRU } prefetch { budget = 1 } }`,
		`policy p { cache { capacity = 8 eviction = scor } }`,
		`policy p { cache { capacity = 8 eviction = score } prefetch { strategy = noen } }`,
		`policy p { cache { capacity = 8 } schedule { mode = hybird overlap = false } }`,
		`policy p { cache { eviction = lru pin = [1, 2, 3] } prefetch { budget = 8 } }`,
		`policy p { prefetch { budget = 8 } per_layer { min_capacity = 2 } }`,
		`policy p { cache { capacity = 99999999999999999999 } }`,
		`policy p { cache { capacity = 8 pin = [99999999999999999999] } }`,
		`policy p { cache { capacity = 8 memory_threshold = 1e400 memory_headroom = 0.5 } }`,
		`policy p { cache { capacity = 16 } adapt { when hit_rate < 0.5 { capacity = 2 prefetch_budgte = 1 } } }`,
		`policy p { cache { capacity = 16 } adapt { when hit_rate < 0.5 { capacity = 1.5 } } }`,
		`policy p { cache { capacity = 16 } adapt { when hit_rate < 0.5 for 99999999999999999999 accesses { capacity = 8 } } }`,
		`policy p { cache { capacity = 16 } adapt { when hit_rat < 0.5 { capacity = 8 } } }`,
		`policy p { cache { capacity = 8 : 16 when hit_rate < } }`,
		`policy p { cache { capacity = 8 } per_layer { max_capacity = 0 } }`,
		`policy p { cache { capacity = 8 } cache { capacity = 0 } }`,
		`policy p { cache { capacity = 8 capacity = 0 } }`,
		`policy p { cache { capacity = 8 } adapt { when hit_rate < 0.5 { rebalance entropy } } }`,
		`policy p { cache { capacity = 8 } bogus { x = 1 } }`,
		`policy p { cache { capacity = 8 } adapt { when hit_rate < 0.5 { budget = 4 } } adapt { when hit_rate < 0.5 { budget = 40 } } }`,
	} {
		_, diags := checkSource("n.moe", []byte(src))
		if len(diags) != 1 {
			t.Errorf("%s\ngot %d diagnostics, want 1:\n%s", src, len(diags), diags.Error())
		}
	}
}

// Check reads the tree and nothing else.
func TestCheckDoesNotMutate(t *testing.T) {
	f, _ := parser.ParseFile("m.moe", []byte(fullPolicy+"\npolicy b { cache { capacity = 0 eviction = lru : bogus when foo < 1 } }"))
	before := ast.Dump(f)
	pos := f.Policies[0].Blocks[0].Items[0].Pos()
	Check(f)
	Check(f)
	if after := ast.Dump(f); after != before {
		t.Errorf("Check changed the tree:\nbefore %s\nafter  %s", before, after)
	}
	if got := f.Policies[0].Blocks[0].Items[0].Pos(); got != pos {
		t.Errorf("Check moved a node from %d to %d", pos, got)
	}
}

// Trees that the parser does not build still get diagnostics, not panics
// or silently accepted values.
func TestHandBuiltTrees(t *testing.T) {
	src := []byte("policy p { cache x y z w v u t s r q o n m l k j i h g f e d c b a }")
	file := lexer.NewFile("h.moe", src)
	p := lexer.PosOf
	lit := func(off int, kind lexer.Token, v string) *ast.BasicLit {
		return &ast.BasicLit{ValuePos: p(off), Kind: kind, Value: v}
	}
	field := func(off int, key string, v ast.Expr) *ast.Field {
		return &ast.Field{Key: &ast.Ident{NamePos: p(off), Name: key}, Value: v}
	}
	f := &ast.File{Source: file, Policies: []*ast.Policy{{
		Keyword: p(0), Name: &ast.Ident{NamePos: p(7), Name: "p"}, Rbrace: p(len(src) - 1),
		Blocks: []*ast.Block{
			{Name: &ast.Ident{NamePos: p(11), Name: "cache"}, Rbrace: p(60), Items: []ast.Item{
				field(17, "capacity", &ast.ListLit{Lbrack: p(17), Rbrack: p(18)}),
				field(19, "pin", lit(19, lexer.INT, "3")),
				field(21, "colour", lit(21, lexer.INT, "3")),
				field(23, "eviction", &ast.CondExpr{X: lit(23, lexer.IDENT, "lru"), Y: lit(25, lexer.IDENT, "lfu"),
					Cond: &ast.Cond{Metric: &ast.Ident{NamePos: p(27), Name: "hit_rate"}, Op: lexer.LT, Threshold: lit(29, lexer.NUMBER, "0.5")}}),
			}},
			{Name: &ast.Ident{NamePos: p(31), Name: "prefetch"}, Rbrace: p(60), Items: []ast.Item{
				field(33, "strategy", &ast.PipeExpr{X: lit(33, lexer.IDENT, "none"), Y: lit(35, lexer.IDENT, "history")}),
				field(37, "budget", lit(37, lexer.IDENT, "four")),
			}},
			{Name: &ast.Ident{NamePos: p(39), Name: "schedule"}, Rbrace: p(60), Items: []ast.Item{
				field(41, "overlap", lit(41, lexer.INT, "1")),
				field(43, "mode", &ast.CondExpr{X: lit(43, lexer.IDENT, "hybrid"), Y: lit(45, lexer.IDENT, "gpu_only"),
					Cond: &ast.Cond{Metric: &ast.Ident{NamePos: p(47), Name: "hit_rate"}, Op: lexer.LT, Threshold: lit(49, lexer.INT, "1")}}),
			}},
			{Name: &ast.Ident{NamePos: p(51), Name: "bogus"}, Rbrace: p(60)},
		},
	}}}
	specs, diags := Check(f)
	want := []string{
		"h.moe:1:18: capacity must be a single value, found a list",
		"h.moe:1:20: pin must be a list, found \"3\"",
		"h.moe:1:22: unknown cache key \"colour\"",
		"h.moe:1:34: strategy cannot be a composition A | B; only eviction can",
		"h.moe:1:38: budget must be an integer, found \"four\"",
		"h.moe:1:42: overlap must be true or false, found \"1\"",
		"h.moe:1:44: mode cannot take a conditional value; capacity, eviction, frequency_decay, strategy and budget can",
		"h.moe:1:52: unknown block \"bogus\" (valid: cache, prefetch, schedule, monitor, per_layer, adapt)",
	}
	var got []string
	for _, d := range diags {
		got = append(got, d.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s", diff)
	}
	if len(specs) != 0 {
		t.Errorf("got %d specs, want 0", len(specs))
	}
}
