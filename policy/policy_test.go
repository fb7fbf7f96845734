package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/moepolicy/moec/parser"
	"github.com/moepolicy/moec/policy"
	"github.com/moepolicy/moec/rt"
	"github.com/moepolicy/moec/sema"
)

// examples holds every policy of the example files written with the
// builder, by file (relative to the module root) and policy name.
var examples = map[string]map[string][]policy.Option{
	"examples/adapt_metrics.moe": {
		"qwen_watch": {
			policy.Cache(512, policy.Eviction(rt.LRU)),
			policy.Prefetch(rt.History, policy.Budget(8)),
			policy.Schedule(rt.GPUOnly),
			policy.Monitor(
				policy.Metrics(rt.HitRate, rt.MissRate, rt.EvictionRate, rt.PrefetchAccuracy, rt.TransferRate, rt.CPURate, rt.Latency, rt.Memory),
				policy.Window(960),
				policy.LogInterval(960),
			),
			policy.Adapt(
				policy.When(rt.MissRate, rt.GT, 0.5).For(200).Then(policy.SetEviction(rt.LFU)),
				policy.When(rt.PrefetchAccuracy, rt.LT, 0.2).For(500).Then(policy.SetStrategy(rt.Lookahead)),
				policy.When(rt.TransferRate, rt.GT, 0.4).For(200).Then(policy.SetMode(rt.CPUFallback)),
				policy.When(rt.CPURate, rt.GT, 0.4).For(500).Then(policy.SetCapacity(768)),
			),
		},
	},
	"examples/adapt_multi_action.moe": {
		"qwen_adaptive": {
			policy.Cache(512, policy.Eviction(rt.LRU)),
			policy.Prefetch(rt.History, policy.Budget(8)),
			policy.Adapt(
				policy.Cooldown(200),
				policy.When(rt.EvictionRate, rt.GT, 0.5).For(100).Then(policy.SetEviction(rt.LFU), policy.SetDecay(0.8)),
				policy.When(rt.HitRate, rt.LT, 0.3).For(400).Then(policy.SetStrategy(rt.Lookahead), policy.SetBudget(16), policy.SetMode(rt.Hybrid)),
				policy.When(rt.HitRate, rt.GT, 0.9).For(1000).Then(policy.SetBudget(4)),
			),
		},
	},
	"examples/affinity_policy.moe": {
		"affinity_hybrid": {
			policy.Cache(24, policy.Eviction(rt.Score), policy.Pin(0, 1)),
			policy.Prefetch(rt.Affinity, policy.Lookahead(2), policy.Budget(6)),
			policy.Schedule(rt.Hybrid, policy.OffloadThresholdMS(40), policy.PriorityRouting(true)),
		},
	},
	"examples/composed_policy.moe": {
		"composed_showcase": composedShowcase,
	},
	"examples/conditional_policy.moe": {
		"conditional_demo": {
			policy.Cache(16,
				policy.Eviction(rt.LRU), policy.When(rt.EvictionRate, rt.GT, 0.3).Eviction(rt.LFU),
				policy.Decay(0.95), policy.When(rt.EvictionRate, rt.GT, 0.6).Decay(0.8),
			),
			policy.Prefetch(rt.History,
				policy.When(rt.HitRate, rt.GT, 0.9).Strategy(rt.PrefetchNone),
				policy.Budget(4), policy.When(rt.HitRate, rt.GT, 0.8).Budget(2),
			),
		},
	},
	"examples/expertflow_predictive.moe": {
		"expertflow_predictive": {
			policy.Cache(16, policy.Eviction(rt.Score)),
			policy.Prefetch(rt.Lookahead, policy.Lookahead(2), policy.Budget(4)),
			policy.Schedule(rt.Hybrid, policy.OffloadThresholdMS(1.5)),
		},
	},
	"examples/fallback_policy.moe": {
		"layered_cache": {
			policy.Cache(24, policy.Tiers(rt.LFU, rt.LRU)),
			policy.Prefetch(rt.History, policy.Budget(4)),
		},
	},
	"examples/finemoe_score.moe": {
		"finemoe_score": {
			policy.Cache(12,
				policy.Eviction(rt.Score), policy.ScoreAlpha(0.2), policy.Pin(0, 1),
				policy.MemoryThreshold(0.85), policy.MemoryHeadroom(0.1), policy.MemoryBudgetGB(40),
			),
			policy.Prefetch(rt.Affinity, policy.AffinityThreshold(0.5), policy.Budget(3)),
			policy.Schedule(rt.Hybrid, policy.OffloadThresholdMS(2)),
		},
	},
	"examples/freq_threshold_policy.moe": {
		"freq_threshold_history": freqThreshold,
	},
	"examples/hybrid_cost_model.moe": {
		"qwen_pinned": {
			policy.Cache(512, policy.Eviction(rt.LFU), policy.ExpertSizeGB(0.0173)),
			policy.Schedule(rt.Hybrid, policy.PCIeGBps(53), policy.CPUExpertMS(2.1)),
		},
		"qwen_pageable": {
			policy.Cache(512, policy.Eviction(rt.LFU), policy.ExpertSizeGB(0.0173)),
			policy.Schedule(rt.Hybrid, policy.PCIeGBps(6), policy.CPUExpertMS(2.1), policy.OffloadThresholdMS(50)),
		},
	},
	"examples/lfu_policy.moe": {
		"lfu_with_prefetch": {
			policy.Cache(32, policy.Eviction(rt.LFU), policy.Decay(0.9)),
			policy.Prefetch(rt.History, policy.Budget(4), policy.HistoryWindow(100)),
			policy.Schedule(rt.CPUFallback),
		},
	},
	"examples/lru_policy.moe": {
		"lru_baseline": {
			policy.Cache(16, policy.Eviction(rt.LRU)),
			policy.Schedule(rt.GPUOnly),
			policy.Monitor(policy.Metrics(rt.HitRate, rt.Latency)),
		},
	},
	"examples/memory_pressure_trigger.moe": {
		"qwen_memory_cap": {
			policy.Cache(512, policy.Eviction(rt.LRU), policy.MemoryBudgetGB(8), policy.MemoryHeadroom(0.6)),
			policy.Adapt(policy.When(rt.HitRate, rt.GT, 0.9).For(2000).Then(policy.TriggerMemoryPressure())),
		},
	},
	"examples/moe_infinity_sparsity.moe": {
		"moe_infinity_sparsity": {
			policy.Cache(16, policy.Eviction(rt.LFU), policy.Decay(0.95)),
			policy.Prefetch(rt.History, policy.HistoryWindow(20)),
			policy.Schedule(rt.Hybrid, policy.OffloadThresholdMS(2)),
		},
	},
	"examples/per_layer_entropy.moe": {
		"deepseek_entropy": {
			policy.Cache(32, policy.Eviction(rt.LFU), policy.Decay(0.9)),
			policy.PerLayer(
				policy.Allocation(rt.Entropy), policy.TotalBudget(864),
				policy.MinCapacity(4), policy.MaxCapacity(48),
				policy.EntropyWindow(200), policy.RebalanceInterval(500),
			),
		},
	},
	"examples/per_layer_signals.moe": {
		"qwen_uniform":   perLayerSignal(rt.Uniform),
		"qwen_topk_mass": perLayerSignal(rt.TopKMass),
		"qwen_variance":  perLayerSignal(rt.Variance),
		"qwen_kl":        perLayerSignal(rt.KL),
		"qwen_gini":      perLayerSignal(rt.Gini),
	},
	"examples/rebalance_signal.moe": {
		"qwen_rebalance_on_demand": {
			policy.Cache(30, policy.Eviction(rt.LFU)),
			policy.PerLayer(policy.Allocation(rt.Uniform), policy.RebalanceInterval(0), policy.MinCapacity(8), policy.MaxCapacity(60)),
			policy.Adapt(
				policy.Cooldown(1000),
				policy.When(rt.HitRate, rt.LT, 0.5).For(500).Then(policy.Rebalance(rt.Entropy)),
			),
		},
	},
	"examples/score_policy.moe": {
		"score_hybrid": {
			policy.Cache(16, policy.Eviction(rt.Score), policy.Pin(0, 1)),
			policy.Prefetch(rt.Affinity, policy.Budget(4)),
			policy.Schedule(rt.Hybrid, policy.OffloadThresholdMS(40)),
		},
	},
	"examples/vllm_default.moe": {
		"vllm_default": {
			policy.Cache(8, policy.Eviction(rt.LRU)),
			policy.Prefetch(rt.PrefetchNone),
			policy.Schedule(rt.GPUOnly),
		},
	},
	"examples/gogenerate/policy.moe": {
		"lru_basic": {policy.Cache(16, policy.Eviction(rt.LRU))},
		"lfu_history": {
			policy.Cache(16, policy.Eviction(rt.LFU), policy.Decay(0.9)),
			policy.Prefetch(rt.History, policy.Budget(4), policy.HistoryWindow(60)),
			policy.Schedule(rt.CPUFallback),
		},
		"score_affinity": {
			policy.Cache(16, policy.Eviction(rt.Score), policy.ScoreAlpha(0.3), policy.Pin(0, 1)),
			policy.Prefetch(rt.Affinity, policy.AffinityThreshold(0.3), policy.Budget(4)),
			policy.Schedule(rt.Hybrid, policy.OffloadThresholdMS(40)),
		},
		"composed_showcase": composedShowcase,
		"freq_threshold":    freqThreshold,
		"layered": {
			policy.Cache(24, policy.Tiers(rt.LFU, rt.LRU)),
			policy.Prefetch(rt.History, policy.Budget(4)),
			policy.Adapt(policy.When(rt.HitRate, rt.LT, 0.2).For(200).Then(policy.SetEviction(rt.LRU))),
		},
		"per_layer_entropy": {
			policy.Cache(16, policy.Eviction(rt.LFU)),
			policy.PerLayer(
				policy.Allocation(rt.Entropy), policy.EntropyWindow(200),
				policy.MinCapacity(4), policy.MaxCapacity(48), policy.RebalanceInterval(500),
			),
		},
	},
}

var composedShowcase = []policy.Option{
	policy.Cache(24,
		policy.Eviction(rt.LFU), policy.Pin(0), policy.Decay(0.9),
		policy.MemoryThreshold(0.75), policy.MemoryHeadroom(0.4), policy.MemoryBudgetGB(16), policy.ExpertSizeGB(1.2),
		policy.TTL(200),
	),
	policy.Prefetch(rt.Lookahead, policy.Lookahead(2), policy.Budget(4), policy.HistoryWindow(40)),
	policy.Schedule(rt.Hybrid, policy.OffloadThresholdMS(40)),
}

var freqThreshold = []policy.Option{
	policy.Cache(16, policy.Eviction(rt.FrequencyThreshold), policy.FreqThreshold(0.05), policy.FreqWindow(100)),
	policy.Prefetch(rt.History, policy.Budget(4), policy.HistoryWindow(60)),
}

func perLayerSignal(a rt.Allocation) []policy.Option {
	return []policy.Option{
		policy.Cache(30, policy.Eviction(rt.LFU)),
		policy.PerLayer(policy.Allocation(a), policy.MinCapacity(8), policy.MaxCapacity(60)),
	}
}

// ignorePositions leaves out of a comparison what only a .moe file has.
var ignorePositions = cmp.Options{
	cmpopts.IgnoreFields(rt.Spec{}, "Pos", "KeyPos", "Source"),
	cmpopts.IgnoreFields(rt.Rule{}, "Pos"),
	cmpopts.IgnoreFields(rt.Action{}, "Pos"),
}

// exampleFiles returns the example .moe files.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../examples/*.moe")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../examples/gogenerate/policy.moe")
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	return files
}

// TestExamples builds every policy of every example file both ways, from
// the .moe text through the parser and sema and from Go through New, and
// compares the Specs.
func TestExamples(t *testing.T) {
	t.Parallel()
	files := exampleFiles(t)
	seen := map[string]bool{}
	for _, path := range files {
		name := strings.TrimPrefix(filepath.ToSlash(path), "../")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := parser.ParseFile(name, src)
		if err := diags.Err(); err != nil {
			t.Fatalf("parse: %v", err)
		}
		specs, diags := sema.Check(f)
		if err := diags.Err(); err != nil {
			t.Fatalf("check: %v", err)
		}
		if len(specs) == 0 {
			t.Errorf("%s: no policies", name)
		}
		for _, want := range specs {
			key := name + " " + want.Name
			seen[key] = true
			opts, ok := examples[name][want.Name]
			if !ok {
				t.Errorf("%s: policy %q is not written with the builder in this test", name, want.Name)
				continue
			}
			got, err := policy.New(want.Name, opts...)
			if err != nil {
				t.Errorf("%s: New: %v", key, err)
				continue
			}
			if diff := cmp.Diff(want, got, ignorePositions); diff != "" {
				t.Errorf("%s: Spec from Go differs from the .moe one (-moe +go):\n%s", key, diff)
			}
			if got.Pos.IsValid() || got.KeyPos != nil || got.Source != "" {
				t.Errorf("%s: a Spec built in Go has positions: %v %v %q", key, got.Pos, got.KeyPos, got.Source)
			}
			for _, r := range got.Adapt.Rules {
				if r.Pos.IsValid() || slices.ContainsFunc(r.Actions, func(a rt.Action) bool { return a.Pos.IsValid() }) {
					t.Errorf("%s: rule %v has a position", key, r.Cond)
				}
			}
		}
	}
	for file, pols := range examples {
		for name := range pols {
			if !seen[file+" "+name] {
				t.Errorf("%s: policy %q is not in the file", file, name)
			}
		}
	}
}

// TestImplicitRuleOrder checks that conditional values become implicit
// rules in the order of their options, before the explicit rules, whatever
// the order of the blocks, as sema orders them.
func TestImplicitRuleOrder(t *testing.T) {
	t.Parallel()
	src := `policy order {
    adapt {
        when miss_rate > 0.5 for 10 accesses { mode = cpu_fallback }
    }
    prefetch {
        budget = 4 : 2 when hit_rate > 0.8
        strategy = history : none when hit_rate > 0.9
    }
    cache {
        frequency_decay = 0.95 : 0.8 when eviction_rate > 0.6
        capacity = 8 : 16 when hit_rate < 0.5
    }
}
`
	f, diags := parser.ParseFile("order.moe", []byte(src))
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	specs, diags := sema.Check(f)
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	got, err := policy.New("order",
		policy.Adapt(policy.When(rt.MissRate, rt.GT, 0.5).For(10).Then(policy.SetMode(rt.CPUFallback))),
		policy.Prefetch(rt.History,
			policy.When(rt.HitRate, rt.GT, 0.8).Budget(2),
			policy.When(rt.HitRate, rt.GT, 0.9).Strategy(rt.PrefetchNone),
		),
		policy.Cache(8,
			policy.When(rt.EvictionRate, rt.GT, 0.6).Decay(0.8),
			policy.When(rt.HitRate, rt.LT, 0.5).Capacity(16),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(specs[0], got, ignorePositions); diff != "" {
		t.Errorf("Spec from Go differs from the .moe one (-moe +go):\n%s", diff)
	}
	var order []string
	for _, r := range got.Adapt.Rules {
		order = append(order, r.Actions[0].String())
	}
	want := []string{"budget = 2", "strategy = none", "frequency_decay = 0.8", "capacity = 16", "mode = cpu_fallback"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("rule order (-want +got):\n%s", diff)
	}
}

// TestDefaults checks that what no option sets is what rt gives.
func TestDefaults(t *testing.T) {
	t.Parallel()
	got, err := policy.New("p", policy.Cache(8), policy.Monitor(), policy.PerLayer(), policy.Adapt())
	if err != nil {
		t.Fatal(err)
	}
	want := rt.NewSpec("p", 8)
	want.Monitor = rt.DefaultMonitor()
	want.PerLayer = rt.DefaultPerLayer()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestErrors checks the structure errors and that the rules reported are
// rt.Spec.Check's, each with its code.
func TestErrors(t *testing.T) {
	t.Parallel()
	when := policy.When(rt.HitRate, rt.LT, 0.5)
	tests := []struct {
		name   string
		policy string // "p" when empty
		opts   []policy.Option
		want   []string // "CODE: message"
	}{
		{
			name: "no cache",
			opts: []policy.Option{policy.Prefetch(rt.History, policy.Budget(2))},
			want: []string{`structure: policy "p" has no cache block`},
		},
		{
			name: "duplicate block",
			opts: []policy.Option{policy.Cache(8), policy.Cache(16)},
			want: []string{`structure: duplicate "cache" block in policy "p"`},
		},
		{
			name: "duplicate key",
			opts: []policy.Option{policy.Cache(8, policy.Decay(0.9), policy.Decay(0.8))},
			want: []string{`structure: duplicate key "frequency_decay" in cache block`},
		},
		{
			name: "duplicate eviction",
			opts: []policy.Option{policy.Cache(8, policy.Eviction(rt.LFU), policy.Tiers(rt.LFU, rt.LRU))},
			want: []string{`structure: duplicate key "eviction" in cache block`},
		},
		{
			name: "duplicate conditional value",
			opts: []policy.Option{policy.Cache(8, when.Capacity(16), when.Capacity(32))},
			want: []string{`structure: duplicate conditional value of "capacity" in cache block`},
		},
		{
			name: "conditional tiers",
			opts: []policy.Option{policy.Cache(8, policy.Tiers(rt.LFU, rt.LRU), when.Eviction(rt.LRU))},
			want: []string{`structure: eviction A | B cannot take a conditional value`},
		},
		{
			name: "unknown eviction",
			opts: []policy.Option{policy.Cache(8, policy.Eviction(rt.Eviction(42)))},
			want: []string{`structure: unknown eviction 42`},
		},
		{
			name: "monitor metric in a condition",
			opts: []policy.Option{
				policy.Cache(8),
				policy.Adapt(policy.When(rt.Latency, rt.GT, 5).Then(policy.SetCapacity(16))),
			},
			want: []string{`structure: metric "latency" can only be monitored, not used in a condition (valid: hit_rate, eviction_rate, miss_rate, prefetch_accuracy, transfer_rate, cpu_rate)`},
		},
		{
			name: "duplicate action target",
			opts: []policy.Option{
				policy.Cache(8),
				policy.Adapt(when.Then(policy.SetCapacity(16), policy.SetCapacity(32))),
			},
			want: []string{`structure: duplicate action target "capacity" in adapt rule`},
		},
		{
			name: "rule without actions",
			opts: []policy.Option{policy.Cache(8), policy.Adapt(when.Then())},
			want: []string{`structure: adapt rule "when hit_rate < 0.5" has no actions`},
		},
		{
			name:   "bad name",
			policy: "2fast",
			opts:   []policy.Option{policy.Cache(8)},
			want:   []string{`structure: policy name "2fast" is not an identifier`},
		},
		{
			name: "rebalance without per_layer",
			opts: []policy.Option{policy.Cache(8), policy.Adapt(when.Then(policy.Rebalance(rt.Entropy)))},
			want: []string{`M5: rebalance needs a per_layer block`},
		},
		{
			name: "cpu_expert_ms written as 0",
			opts: []policy.Option{policy.Cache(8), policy.Schedule(rt.Hybrid, policy.CPUExpertMS(0))},
			want: []string{`M11: schedule cpu_expert_ms 0 must be above 0 when written (rule M11)`},
		},
		{
			name: "default budget above capacity",
			opts: []policy.Option{policy.Cache(2)},
			want: []string{`R10: prefetch budget 4 exceeds cache capacity 2 (rule 10)`},
		},
		{
			name: "every rule broken is reported, once per value",
			opts: []policy.Option{
				policy.Cache(0, policy.Decay(1.5), policy.Eviction(rt.Score)),
				policy.Schedule(rt.Hybrid, policy.Overlap(false)),
				policy.PerLayer(policy.MinCapacity(8), policy.MaxCapacity(4)),
				policy.Adapt(when.For(0).Then(policy.SetMode(rt.GPUOnly))),
			},
			want: []string{
				`R1: cache capacity 0 is out of range [1, 65536] (rule 1)`,
				`R4: cache frequency_decay 1.5 is out of range (0, 1) (rule 4)`,
				`R14: schedule mode hybrid requires overlap = true (rule 14)`,
				`R15: cache eviction score requires a prefetch strategy other than none (rule 15)`,
				`M6: adapt rule window 0 must be at least 1 (rule M6)`,
				`M10: per_layer min_capacity 8 exceeds max_capacity 4 (rule M10)`,
			},
		},
		{
			name: "fallback as a tier",
			opts: []policy.Option{policy.Cache(8, policy.Tiers(rt.Fallback, rt.LRU))},
			want: []string{`M1: cache eviction fallback | lru uses fallback as a tier (rule M1)`},
		},
		{
			name: "adapt action breaks a rule",
			opts: []policy.Option{
				policy.Cache(8),
				policy.Adapt(when.For(10).Then(policy.SetEviction(rt.Score), policy.SetCapacity(2))),
			},
			want: []string{
				`R10: adapt action "capacity = 2" would make an invalid policy: prefetch budget 4 exceeds cache capacity 2 (rule 10)`,
				`R15: adapt action "eviction = score" would make an invalid policy: cache eviction score requires a prefetch strategy other than none (rule 15)`,
			},
		},
		{
			name: "conditional value breaks a rule",
			opts: []policy.Option{policy.Cache(8, when.Decay(0))},
			want: []string{`R4: conditional value "frequency_decay = 0" would make an invalid policy: cache frequency_decay 0 is out of range (0, 1) (rule 4)`},
		},
		{
			name: "a rule the policy breaks is not blamed on an action",
			opts: []policy.Option{
				policy.Cache(2),
				policy.Adapt(when.Then(policy.SetCapacity(3))),
			},
			want: []string{`R10: prefetch budget 4 exceeds cache capacity 2 (rule 10)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name, want := tt.policy, tt.want
			if name == "" {
				name = "p"
			}
			spec, err := policy.New(name, tt.opts...)
			if spec != nil {
				t.Errorf("New returned a Spec with an error")
			}
			var perr *policy.Error
			if !errors.As(err, &perr) {
				t.Fatalf("New: error %v is not a *policy.Error", err)
			}
			var got []string
			for _, v := range perr.Violations {
				got = append(got, v.Rule+": "+v.Msg)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if perr.Policy != name {
				t.Errorf("Error.Policy = %q, want %q", perr.Policy, name)
			}
			var v rt.Violation
			if !errors.As(err, &v) || v.Msg != perr.Violations[0].Msg {
				t.Errorf("errors.As(err, &rt.Violation) = %v", v)
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want) || !strings.HasPrefix(lines[0], `policy "`+name+`": `) {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

// TestConditionalDefault checks that a conditional value without a plain
// one starts from the default, as writing the default would.
func TestConditionalDefault(t *testing.T) {
	t.Parallel()
	got, err := policy.New("p", policy.Cache(16, policy.When(rt.HitRate, rt.LT, 0.5).Eviction(rt.Fallback)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Cache.Eviction != rt.LRU {
		t.Errorf("eviction = %v, want lru", got.Cache.Eviction)
	}
	want := []rt.Rule{{
		Cond:     rt.Cond{Metric: rt.HitRate, Op: rt.LT, Threshold: 0.5},
		Window:   1,
		Actions:  []rt.Action{{Target: rt.SetEviction, Eviction: rt.Fallback, Primary: rt.LFU, Second: rt.LRU}},
		Implicit: true,
	}}
	if diff := cmp.Diff(want, got.Adapt.Rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

// TestOptionsReusable checks that options hold no state: the same options
// build equal, independent Specs twice.
func TestOptionsReusable(t *testing.T) {
	t.Parallel()
	pins := []int{0, 1}
	opts := []policy.Option{
		policy.Cache(8, policy.Pin(pins...)),
		policy.Adapt(policy.When(rt.HitRate, rt.LT, 0.5).Then(policy.SetCapacity(16))),
	}
	a, err := policy.New("p", opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := policy.New("p", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("(-first +second):\n%s", diff)
	}
	pins[0] = 7
	a.Cache.Pin[1] = 9
	a.Adapt.Rules[0].Actions[0].Int = 99
	if b.Cache.Pin[0] != 0 || b.Cache.Pin[1] != 1 || b.Adapt.Rules[0].Actions[0].Int != 16 {
		t.Errorf("Specs share memory: %v %v", b.Cache.Pin, b.Adapt.Rules[0].Actions)
	}
}

// TestEveryKey sets every key of rt's key table with Key, in the block
// that takes it, and checks that New builds what sema resolves from the
// same key written in .moe: a key added to the table needs no option of
// its own to be built in Go.
func TestEveryKey(t *testing.T) {
	t.Parallel()
	blocks := map[string]func(...policy.KeyOption) policy.Option{
		"cache": func(o ...policy.KeyOption) policy.Option {
			return policy.Cache(8, convert[policy.CacheOption](o)...)
		},
		"prefetch": func(o ...policy.KeyOption) policy.Option {
			return policy.Prefetch(rt.History, convert[policy.PrefetchOption](o)...)
		},
		"schedule": func(o ...policy.KeyOption) policy.Option {
			return policy.Schedule(rt.GPUOnly, convert[policy.ScheduleOption](o)...)
		},
		"monitor": func(o ...policy.KeyOption) policy.Option { return policy.Monitor(convert[policy.MonitorOption](o)...) },
		"per_layer": func(o ...policy.KeyOption) policy.Option {
			return policy.PerLayer(convert[policy.PerLayerOption](o)...)
		},
		"adapt": func(o ...policy.KeyOption) policy.Option { return policy.Adapt(convert[policy.AdaptOption](o)...) },
	}
	base := map[string]string{"cache": "capacity = 8", "prefetch": "strategy = history", "schedule": "mode = gpu_only"}
	for _, k := range allKeys() {
		if strings.HasPrefix(base[k.Block], k.Name+" = ") {
			continue // the blocks' arguments
		}
		v := otherValue(k)
		src := "policy p {"
		var opts []policy.Option
		for _, b := range rt.Blocks() {
			items, keys := base[b], []policy.KeyOption(nil)
			if b == k.Block {
				items += " " + k.Name + " = " + v.String()
				keys = append(keys, policy.Key(k.Name, v))
			}
			if items != "" {
				src += " " + b + " { " + items + " }"
				opts = append(opts, blocks[b](keys...))
			}
		}
		src += " }"
		f, diags := parser.ParseFile("key.moe", []byte(src))
		if err := diags.Err(); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		specs, diags := sema.Check(f)
		if err := diags.Err(); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := policy.New("p", opts...)
		if err != nil {
			t.Errorf("%s = %v: %v", k.Path(), v, err)
			continue
		}
		if diff := cmp.Diff(specs[0], got, ignorePositions); diff != "" {
			t.Errorf("%s: (-moe +go):\n%s", src, diff)
		}
	}
}

// allKeys returns every key of the table.
func allKeys() []rt.KeyDef {
	var keys []rt.KeyDef
	for _, b := range rt.Blocks() {
		keys = append(keys, rt.Keys(b)...)
	}
	return keys
}

// otherValue returns a valid value for k that is not its default.
func otherValue(k rt.KeyDef) rt.Value {
	def := rt.NewSpec("p", 8)
	rt.OpenBlock(def, k.Block)
	d, set := k.Get(def)
	switch k.Kind {
	case rt.IntKind:
		return rt.IntValue(d.Int + 1)
	case rt.NumberKind:
		if set && d.Num != 0 {
			return rt.NumberValue(d.Num / 2)
		}
		return rt.NumberValue(0.9)
	case rt.BoolKind:
		return rt.BoolValue(!d.Bool)
	case rt.WordKind:
		words := k.Words()
		return rt.WordValue(words[len(words)-1])
	case rt.IntListKind:
		return rt.IntListValue(0)
	}
	words := k.Words()
	return rt.WordListValue(words[len(words)-1])
}

func convert[O any](opts []policy.KeyOption) []O {
	out := make([]O, len(opts))
	for i, o := range opts {
		out[i] = any(o).(O)
	}
	return out
}

// TestKeyErrors checks what Key reports: a key the block does not have, a
// value of another kind, a word out of the key's enumeration.
func TestKeyErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opt  policy.CacheOption
		want string
	}{
		{policy.Key("budget", rt.IntValue(2)), `structure: unknown cache key "budget"`},
		{policy.Key("ttl", rt.NumberValue(1.5)), `structure: cache ttl: want an integer, have a number`},
		{policy.Key("eviction", rt.WordValue("mru")), `structure: unknown eviction "mru"`},
		{policy.Key("capacity", rt.IntValue(16)), `structure: duplicate key "capacity" in cache block`},
	} {
		_, err := policy.New("p", policy.Cache(8, tc.opt))
		var perr *policy.Error
		if !errors.As(err, &perr) || len(perr.Violations) != 1 || perr.Violations[0].Rule+": "+perr.Violations[0].Msg != tc.want {
			t.Errorf("New: %v, want %s", err, tc.want)
		}
	}
}
