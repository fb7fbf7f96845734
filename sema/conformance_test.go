package sema

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/rt"
)

// codes returns the rule codes of diags, in order.
func codes(diags diag.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		out = append(out, d.Rule)
	}
	return out
}

// The conformance rows of reference §7.3, with the outcome DESIGN.md
// implies: C rows accepted, R rows rejected (the syntax ones by the
// parser), V rows rejected with exactly the reference's rule set less the
// rules that only repeat an earlier one about the same value (V01's rule
// 10: one mistake, one diagnostic), Q01-Q05 rejected by moec's rules, Q06
// accepted.
func TestConformance(t *testing.T) {
	tests := []struct {
		id    string
		src   string
		codes []string // the diagnostics' rule codes, in position order
		specs int      // policies resolved
	}{
		{"C01", `policy tiny { cache { capacity = 4 } }`, nil, 1},
		{"C02", `version 0.7
# two policies
policy a { cache { capacity = 8; eviction = lru; } }   # trailing comment
policy b {
    cache { capacity = 16 eviction = lfu frequency_decay = 0.9 }
    prefetch { strategy = history budget = 4 }
}`, nil, 2},
		{"C03", `policy full {
    cache {
        capacity = 32 eviction = lfu pin = [0, 1] frequency_decay = 0.9
        freq_threshold = 0.05 freq_window = 100 score_ema_alpha = 0.3
        memory_threshold = 0.9 memory_headroom = 0.7 memory_budget_gb = 16
        expert_size_gb = 1.2 ttl = 200
    }
    prefetch { strategy = lookahead lookahead = 2 budget = 4 affinity_threshold = 0.3 history_window = 50 }
    schedule { mode = hybrid offload_threshold_ms = 50 overlap = true priority_routing = false }
    monitor { metrics = [hit_rate, latency] window = 100 log_interval = 50 }
    adapt {
        when hit_rate < 0.4 for 100 accesses { eviction = lru }
        when eviction_rate > 0.5 { capacity = 64 }
    }
}`, nil, 1},
		{"C04", `policy s { cache { capacity = 16 eviction = score score_ema_alpha = 0.3 } prefetch { strategy = affinity budget = 4 } }`, nil, 1},
		{"C05", `policy f { cache { capacity = 24 eviction = lfu | lru frequency_decay = 0.9 } }`, nil, 1},

		{"R01", ``, []string{diag.RuleSyntax}, 0},
		{"R03", `policy p { schedule { mode = gpu_only } }`, []string{diag.RuleStructure}, 0},
		{"R04", `policy p { cache { eviction = lru } }`, []string{diag.RuleStructure}, 0},
		{"R06", `policy p { cache { capacity = 4 capacity = 8 } }`, []string{diag.RuleStructure}, 0},
		{"R07", `policy p { cache { capacity = 4 } cache { capacity = 8 } }`, []string{diag.RuleStructure}, 0},
		{"R08", `policy p { cache { capacity = 8 eviction = mru } }`, []string{diag.RuleStructure}, 0},
		{"R13", `policy p { cache { capacity = 8 } adapt { when hit_rate == 0.5 { eviction = lfu } } }`, []string{diag.RuleSyntax}, 0},
		{"R16", `policy p { cache { capacity = 16.0 } }`, []string{diag.RuleSyntax}, 0},
		{"R18", `policy p { cache { capacity = 16 eviction = LRU } }`, []string{diag.RuleSyntax}, 0},

		{"V01", `policy p { cache { capacity = 0 } }`, []string{"R1"}, 0},
		{"V03", `policy p { cache { capacity = 2 } }`, []string{"R10"}, 0},
		{"V05", `policy p { cache { capacity = 4 pin = [1,1,1,1,1] } }`, []string{"R3"}, 0},
		{"V09", `policy p { cache { capacity = 8 eviction = score } }`, []string{"R15"}, 0},
		{"V15", `policy p { cache { capacity = 8 } schedule { mode = hybrid overlap = false } }`, []string{"R14"}, 0},
		{"V21", `policy p {
    cache { capacity = 0 eviction = score }
    prefetch { budget = 0 lookahead = 0 }
    schedule { mode = hybrid overlap = false offload_threshold_ms = 0 }
}`, []string{"R1", "R15", "R9", "R8", "R14", "R13"}, 0},

		{"Q01", `policy p {
    cache { capacity = 8 }
    per_layer { min_capacity = 50 max_capacity = 2 total_budget = 0 rebalance_interval = 0 entropy_window = 0 }
}`, []string{"M10", "M9"}, 0},
		{"Q02", `policy p {
    cache { capacity = 8 }
    adapt {
        when hit_rate < 0.5 for 0 accesses { frequency_decay = 0.5 }
        when hit_rate < 0.5 { trigger ttl }
    }
}`, []string{"M6", "M4"}, 0},
		{"Q03", `policy p {
    cache { capacity = 8 : 0 when hit_rate < 0.5 eviction = lru : bogus when hit_rate < 0.5 }
}`, []string{"R1", diag.RuleStructure}, 0},
		{"Q04", `policy p {
    cache { capacity = 8 memory_headroom = 5 }
    monitor { metrics = [whatever] window = 0 log_interval = 0 }
}`, []string{diag.RuleStructure, "M7", "M8"}, 0},
		{"Q05", `policy p { cache { capacity = 8 eviction = lfu | fallback } }`, []string{"M1"}, 0},
		{"Q06", `policy p { cache { capacity = 8 eviction = lfu | lru ttl = 5 } }`, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			specs, diags := checkSource(tt.id+".moe", []byte(tt.src))
			if diff := cmp.Diff(tt.codes, codes(diags)); diff != "" {
				t.Errorf("rule codes (-want +got):\n%s\n%s", diff, diags.Error())
			}
			if len(specs) != tt.specs {
				t.Errorf("got %d specs, want %d", len(specs), tt.specs)
			}
			for _, s := range specs {
				if v := s.Check(); v != nil {
					t.Errorf("accepted policy %q breaks %v", s.Name, v)
				}
			}
		})
	}
}

// C01 and C05 resolve to the reference's defaults and composition.
func TestConformanceValues(t *testing.T) {
	specs, diags := checkSource("c.moe", []byte(`policy tiny { cache { capacity = 4 } }
policy f { cache { capacity = 24 eviction = lfu | lru frequency_decay = 0.9 } }
policy alone { cache { capacity = 24 eviction = fallback } }`))
	if len(diags) != 0 || len(specs) != 3 {
		t.Fatalf("got %d specs, diagnostics:\n%v", len(specs), diags.Error())
	}
	tiny := specs[0]
	if tiny.Cache.Eviction != rt.LRU || tiny.Prefetch.Strategy != rt.PrefetchNone || tiny.Schedule.Mode != rt.GPUOnly {
		t.Errorf("tiny: eviction %v, strategy %v, mode %v; want lru, none, gpu_only",
			tiny.Cache.Eviction, tiny.Prefetch.Strategy, tiny.Schedule.Mode)
	}
	for _, s := range specs[1:] {
		c := s.Cache
		if c.Eviction != rt.Fallback || c.Primary != rt.LFU || c.Secondary != rt.LRU {
			t.Errorf("%s: eviction %v (%v | %v), want fallback (lfu | lru)", s.Name, c.Eviction, c.Primary, c.Secondary)
		}
	}
}
