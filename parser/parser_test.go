package parser_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/parser"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"minimal", `policy tiny { cache { capacity = 4 } }`,
			`(File (Policy tiny (Block cache (Field capacity (Int 4)))))`},
		{"keywords as names", `policy cache { cache { capacity = 4 } }`,
			`(File (Policy cache (Block cache (Field capacity (Int 4)))))`},
		{"version and two policies", "version 0.7\npolicy a { cache { capacity = 8; eviction = lru; } }\npolicy b { cache { capacity = 8 eviction = lfu frequency_decay = 0.9 } prefetch { strategy = history budget = 4 } }",
			`(File (Version 0.7) (Policy a (Block cache (Field capacity (Int 8)) (Field eviction (Word lru)))) ` +
				`(Policy b (Block cache (Field capacity (Int 8)) (Field eviction (Word lfu)) (Field frequency_decay (Number 0.9))) ` +
				`(Block prefetch (Field strategy (Word history)) (Field budget (Int 4)))))`},
		{"number forms", `policy p { cache { capacity = 007 frequency_decay = .5 freq_threshold = 5e-1 memory_budget_gb = 1.5E2 expert_size_gb = 1 score_ema_alpha = 1. } }`,
			`(File (Policy p (Block cache (Field capacity (Int 007)) (Field frequency_decay (Number .5)) (Field freq_threshold (Number 5e-1)) ` +
				`(Field memory_budget_gb (Number 1.5E2)) (Field expert_size_gb (Int 1)) (Field score_ema_alpha (Number 1.)))))`},
		{"fallback composition", `policy p { cache { capacity = 24 eviction = lfu | lru } }`,
			`(File (Policy p (Block cache (Field capacity (Int 24)) (Field eviction (Pipe (Word lfu) (Word lru))))))`},
		{"conditional values", `policy p { cache { capacity = 8 : 16 when hit_rate < 0.5 eviction = lru : lfu when eviction_rate >= 0.2 } prefetch { strategy = none : history when hit_rate <= 1 budget = 2 : 4 when hit_rate != 0 } }`,
			`(File (Policy p (Block cache (Field capacity (CondExpr (Int 8) (Int 16) (When hit_rate < 0.5))) ` +
				`(Field eviction (CondExpr (Word lru) (Word lfu) (When eviction_rate >= 0.2)))) ` +
				`(Block prefetch (Field strategy (CondExpr (Word none) (Word history) (When hit_rate <= 1))) ` +
				`(Field budget (CondExpr (Int 2) (Int 4) (When hit_rate != 0))))))`},
		{"lists", `policy p { cache { capacity = 4 pin = [] } monitor { metrics = [hit_rate, latency] window = 10 log_interval = 5 } }`,
			`(File (Policy p (Block cache (Field capacity (Int 4)) (Field pin (List))) ` +
				`(Block monitor (Field metrics (List (Word hit_rate) (Word latency))) (Field window (Int 10)) (Field log_interval (Int 5)))))`},
		{"schedule", `policy p { cache { capacity = 4 } schedule { mode = hybrid offload_threshold_ms = 40 overlap = true priority_routing = false pcie_gbps = 52.5 cpu_expert_ms = 2.1 } }`,
			`(File (Policy p (Block cache (Field capacity (Int 4))) (Block schedule (Field mode (Word hybrid)) (Field offload_threshold_ms (Int 40)) ` +
				`(Field overlap (Word true)) (Field priority_routing (Word false)) (Field pcie_gbps (Number 52.5)) (Field cpu_expert_ms (Number 2.1)))))`},
		{"per_layer", `policy p { cache { capacity = 16 } per_layer { allocation = entropy entropy_window = 200 min_capacity = 4 max_capacity = 48 rebalance_interval = 500 total_budget = 432 } }`,
			`(File (Policy p (Block cache (Field capacity (Int 16))) (Block per_layer (Field allocation (Word entropy)) (Field entropy_window (Int 200)) ` +
				`(Field min_capacity (Int 4)) (Field max_capacity (Int 48)) (Field rebalance_interval (Int 500)) (Field total_budget (Int 432)))))`},
		{"adapt", `policy p { cache { capacity = 16 } adapt {
			cooldown = 20
			when hit_rate < 0.4 for 100 accesses { eviction = lru }
			when eviction_rate > 0.5 { eviction = lfu capacity = 32 frequency_decay = 0.5 }
			when hit_rate < 0.2 { trigger memory_pressure }
			when hit_rate < 0.1 { rebalance entropy }
			when hit_rate < 0.1 { trigger = x }
		} }`,
			`(File (Policy p (Block cache (Field capacity (Int 16))) (Block adapt (Field cooldown (Int 20)) ` +
				`(Rule (When hit_rate < 0.4) (For 100) (Field eviction (Word lru))) ` +
				`(Rule (When eviction_rate > 0.5) (Field eviction (Word lfu)) (Field capacity (Int 32)) (Field frequency_decay (Number 0.5))) ` +
				`(Rule (When hit_rate < 0.2) (Command trigger memory_pressure)) ` +
				`(Rule (When hit_rate < 0.1) (Command rebalance entropy)) ` +
				`(Rule (When hit_rate < 0.1) (Field trigger (Word x))))))`},
		{"unknown words are the checker's business", `policy p { cache { capacity = 4 eviction = mru } adapt { when colour > 1 { colour = red } } }`,
			`(File (Policy p (Block cache (Field capacity (Int 4)) (Field eviction (Word mru))) (Block adapt (Rule (When colour > 1) (Field colour (Word red))))))`},
		{"duplicates are the checker's business", `policy p { cache { capacity = 4 capacity = 8 } cache { capacity = 1 } }`,
			`(File (Policy p (Block cache (Field capacity (Int 4)) (Field capacity (Int 8))) (Block cache (Field capacity (Int 1)))))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, diags := parser.ParseFile("p.moe", []byte(tt.src))
			if len(diags) > 0 {
				t.Fatalf("unexpected errors:\n%v", diags)
			}
			if diff := cmp.Diff(tt.want, ast.Dump(f)); diff != "" {
				t.Errorf("dump (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // "line:col: message"
		dump      string   // the tree after recovery, if checked
	}{
		{"empty file", ``, []string{`1:1: expected a policy, found end of file`}, ""},
		{"only comments", "# nothing\n", []string{`2:1: expected a policy, found end of file`}, ""},
		{"float capacity", `policy p { cache { capacity = 16.0 } }`, []string{`1:31: capacity must be an integer, found "16.0"`},
			`(File (Policy p (Block cache (Field capacity (BadExpr)))))`},
		{"exponent capacity", `policy p { cache { capacity = 1e3 } }`, []string{`1:31: capacity must be an integer, found "1e3"`}, ""},
		{"upper-case word", `policy p { cache { capacity = 4 eviction = LRU } }`,
			[]string{`1:44: "LRU" is not a word of the language: words are lower case (did you mean "lru"?)`}, ""},
		{"word with digit", `policy p { cache { capacity = 4 eviction = lfu2 } }`,
			[]string{`1:44: "lfu2" is not a word of the language: words are lower-case letters and "_"`}, ""},
		{"unknown key", `policy p { cache { capcity = 4 } }`, []string{`1:20: unknown cache key "capcity" (did you mean "capacity"?)`},
			`(File (Policy p (Block cache (BadItem))))`},
		{"key of another block", `policy p { cache { capacity = 4 budget = 2 } }`, []string{`1:33: "budget" is a prefetch key, not a cache key`},
			`(File (Policy p (Block cache (Field capacity (Int 4)) (BadItem))))`},
		{"unknown block", `policy p { cahce { capacity = 4 } }`, []string{`1:12: unknown block "cahce" (did you mean "cache"?)`},
			`(File (Policy p))`},
		{"key outside a block", `policy p { capacity = 4 }`, []string{`1:12: "capacity" must be written inside a cache block`}, ""},
		{"double equals", `policy p { cache { capacity = 4 } adapt { when hit_rate == 0.5 { eviction = lru } } }`,
			[]string{`1:57: unexpected "==" (the comparisons are <, >, <=, >= and !=)`},
			`(File (Policy p (Block cache (Field capacity (Int 4))) (Block adapt (BadItem))))`},
		{"steps", `policy p { cache { capacity = 4 } adapt { when hit_rate < 0.5 for 10 steps { eviction = lru } } }`,
			[]string{`1:70: expected "accesses", found "steps"`}, ""},
		{"empty block", `policy p { cache { } }`, []string{`1:20: empty cache block`}, ""},
		{"empty policy", `policy p { }`, []string{`1:12: policy "p" has no blocks`}, ""},
		{"empty rule", `policy p { cache { capacity = 4 } adapt { when hit_rate < 1 { } } }`, []string{`1:63: adapt rule has no actions`}, ""},
		{"negative", `policy p { cache { capacity = -1 } }`, []string{`1:31: unexpected "-" (numbers are written without a sign)`}, ""},
		{"string", `policy p { cache { capacity = 4 } monitor { metrics = ["hit_rate"] } }`,
			[]string{`1:56: unexpected "\"" (there are no strings: write the word without quotes)`}, ""},
		{"trailing comma", `policy p { cache { capacity = 4 pin = [1, 2,] } }`, []string{`1:45: unexpected "]" after "," (no trailing comma in lists)`}, ""},
		{"missing value", "policy p { cache { capacity = 4\n  eviction =\n  ttl = 5 } }", []string{`2:13: missing value for "eviction"`},
			`(File (Policy p (Block cache (Field capacity (Int 4)) (Field eviction (BadExpr)) (Field ttl (Int 5)))))`},
		{"missing policy brace", "policy p cache { capacity = 4 } }\npolicy q { cache { capacity = 4 } }",
			[]string{`1:10: expected "{" after policy name, found "cache"`}, `(File (Policy q (Block cache (Field capacity (Int 4)))))`},
		{"unclosed policy", `policy p { cache { capacity = 4 }`, []string{`1:34: expected "}" to close policy "p", found end of file`}, ""},
		{"unclosed block", "policy p { cache { capacity = 4\n prefetch { budget = 1 } }",
			[]string{`2:2: expected "}" to close cache block, found "prefetch"`},
			`(File (Policy p (Block cache (Field capacity (Int 4))) (Block prefetch (Field budget (Int 1)))))`},
		{"late version", `policy p { cache { capacity = 4 } } version 1.0`, []string{`1:37: version must come before the first policy`}, ""},
		{"misspelt policy", "polcy p { cache { capacity = 4 } }\npolicy q { cache { capacity = 4 } }",
			[]string{`1:1: expected "policy", found "polcy"`}, `(File (Policy q (Block cache (Field capacity (Int 4)))))`},
		{"bad bool", `policy p { cache { capacity = 4 } schedule { overlap = yes mode = hybrid } }`,
			[]string{`1:56: overlap must be true or false, found "yes"`}, ""},
		{"conditional on a plain key", `policy p { cache { capacity = 4 } prefetch { lookahead = 2 : 3 when hit_rate < 1 } }`,
			[]string{`1:60: "lookahead" cannot take a conditional value; capacity, eviction, frequency_decay, strategy and budget can`}, ""},
		{"pipe on a plain key", `policy p { cache { capacity = 4 } prefetch { strategy = history | none } }`,
			[]string{`1:65: "strategy" cannot be composed with "|"; only eviction can`}, ""},
		{"conditional without when", `policy p { cache { capacity = 4 : 8 } }`, []string{`1:37: expected "when" after conditional value, found "}"`}, ""},
		{"bad action word", `policy p { cache { capacity = 4 } adapt { when hit_rate < 1 { eviction = LRU capacity = 3 } } }`,
			[]string{`1:74: "LRU" is not a word of the language: words are lower case (did you mean "lru"?)`}, ""},
		{"illegal character", `policy p { cache { capacity = 4 é } }`, []string{`1:33: unexpected character U+00E9 'é'`}, ""},
		{"one error per line, all lines", "policy p {\n cache { capacity = 4.5 eviction = LRU }\n prefetch { budget = x }\n}",
			[]string{`2:21: capacity must be an integer, found "4.5"`, `3:22: budget must be an integer, found "x"`}, ""},
		{"missing value before a key on the same line", `policy p { cache { capacity = 4 eviction = frequency_decay = 0.9 } }`,
			[]string{`1:44: missing value for "eviction"`}, `(File (Policy p (Block cache (Field capacity (Int 4)) (Field eviction (BadExpr)) (BadItem))))`},
		{"malformed exponent", `policy p { cache { capacity = 4 freq_threshold = 5e- } }`,
			[]string{`1:50: malformed number "5e-": the exponent has no digits`}, ""},
		{"one brace too many", "policy p { cache { capacity = 4 } }\n prefetch { budget = 1 } }\npolicy q { cache { capacity = 4 } }",
			[]string{`2:2: prefetch block outside a policy (one "}" too many before it?)`},
			`(File (Policy p (Block cache (Field capacity (Int 4)))) (Policy q (Block cache (Field capacity (Int 4)))))`},
		{"errors in several policies", "policy a { cache { capacity = } }\npolicy b { cache { capacity = 1 ttl = 2.5 } }",
			[]string{`1:31: capacity must be an integer, found "}"`, `2:39: ttl must be an integer, found "2.5"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, diags := parser.ParseFile("p.moe", []byte(tt.src))
			var got []string
			for _, d := range diags {
				got = append(got, strings.TrimPrefix(d.Error(), "p.moe:"))
				if d.Rule != "syntax" {
					t.Errorf("rule = %q, want syntax", d.Rule)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if tt.dump != "" {
				if diff := cmp.Diff(tt.dump, ast.Dump(f)); diff != "" {
					t.Errorf("dump (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestIncomplete(t *testing.T) {
	f, _ := parser.ParseFile("p.moe", []byte(`policy p { cahce { capacity = 4 } } policy q { cache { capacity = 4 } }`))
	if len(f.Policies) != 2 || !f.Policies[0].Incomplete || f.Policies[1].Incomplete {
		t.Errorf("Incomplete flags wrong: %s", ast.Dump(f))
	}
}

func TestComments(t *testing.T) {
	src := `# file doc
version 1.0 # v

# policy doc
policy p { # after brace
    # cache doc
    cache {
        capacity = 16 # cap
        # eviction doc
        eviction = lru
        # cache footer
    } # cache end
    adapt {
        when hit_rate < 0.5 { eviction = lfu } # rule end
        when hit_rate < 0.2 {
            # action doc
            capacity = 4 # action line
            # rule footer
        }
    }
    # policy footer
} # policy end
# trailing
`
	f, diags := parser.ParseFile("p.moe", []byte(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	text := func(g *ast.CommentGroup) string {
		if g == nil {
			return ""
		}
		var s []string
		for _, c := range g.List {
			s = append(s, c.Text)
		}
		return strings.Join(s, "|")
	}
	pol := f.Policies[0]
	cache := pol.Blocks[0]
	rules := pol.Blocks[1].Items
	rule2 := rules[1].(*ast.Rule)
	got := map[string]string{
		"version doc":     text(f.Version.Doc),
		"version line":    text(f.Version.Comment),
		"policy doc":      text(pol.Doc),
		"cache doc":       text(cache.Doc),
		"capacity line":   text(cache.Items[0].(*ast.Field).Comment),
		"eviction doc":    text(cache.Items[1].(*ast.Field).Doc),
		"cache footer":    text(cache.Footer),
		"cache end":       text(cache.Comment),
		"rule 1 end":      text(rules[0].(*ast.Rule).Comment),
		"action doc":      text(rule2.Actions[0].(*ast.Field).Doc),
		"action line":     text(rule2.Actions[0].(*ast.Field).Comment),
		"rule footer":     text(rule2.Footer),
		"policy footer":   text(pol.Footer),
		"policy end":      text(pol.Comment),
		"file trailing":   text(f.Trailing),
		"adapt block doc": text(pol.Blocks[1].Doc),
	}
	want := map[string]string{
		"version doc":     "# file doc",
		"version line":    "# v",
		"policy doc":      "# policy doc",
		"cache doc":       "# after brace|# cache doc",
		"capacity line":   "# cap",
		"eviction doc":    "# eviction doc",
		"cache footer":    "# cache footer",
		"cache end":       "# cache end",
		"rule 1 end":      "# rule end",
		"action doc":      "# action doc",
		"action line":     "# action line",
		"rule footer":     "# rule footer",
		"policy footer":   "# policy footer",
		"policy end":      "# policy end",
		"file trailing":   "# trailing",
		"adapt block doc": "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("comment attachment (-want +got):\n%s", diff)
	}
	if n := countComments(f); n != strings.Count(src, "#") {
		t.Errorf("%d comments attached, want %d", n, strings.Count(src, "#"))
	}
}
