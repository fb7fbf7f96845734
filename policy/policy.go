package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/rt"
)

// New builds the policy called name from the blocks opts and checks it. It
// returns the resolved Spec, every value that no option sets at its default,
// or, when the policy is invalid, a nil Spec and an *Error listing every
// problem: first what only a front end can see (structure errors such as a
// missing cache block, a duplicate block or key, a value outside its
// enumeration; a rebalance without a per_layer block, M5; cpu_expert_ms
// set to 0, M11), then the rules rt.Spec.Check reports, then the rules an
// adapt action or a conditional value would break.
func New(name string, opts ...Option) (*rt.Spec, error) {
	b := &builder{
		spec:   rt.NewSpec(name, 0),
		blocks: map[string]bool{},
		keys:   map[string]bool{},
	}
	if !isIdent(name) {
		b.structure(nil, "policy name %q is not an identifier", name)
	}
	for _, o := range opts {
		if o == nil {
			b.structure(nil, "nil option in policy %q", name)
			continue
		}
		o.apply(b)
	}
	if !b.blocks["cache"] {
		b.structure([]string{"cache.capacity"}, "policy %q has no cache block", name)
	}
	// Explicit rules come after the implicit ones, whatever the order of
	// the blocks, as in .moe.
	for _, r := range b.rules {
		b.rule(r)
	}
	b.check()
	if len(b.errs) > 0 {
		return nil, &Error{Policy: name, Violations: b.errs}
	}
	return b.spec, nil
}

// Error is the error New returns for an invalid policy. Each violation
// keeps its rule's code: "structure" for the structure errors of sema
// (diag.RuleStructure), the rt.Spec.Check codes ("R10", "M9") for the
// rules, M5 for a rebalance without a per_layer block and M11 for a
// cpu_expert_ms of 0.
type Error struct {
	Policy     string
	Violations []rt.Violation
}

// Error returns the messages, one a line, each naming the policy.
func (e *Error) Error() string {
	var sb strings.Builder
	for i, v := range e.Violations {
		if i > 0 {
			sb.WriteByte('\n')
		}
		fmt.Fprintf(&sb, "policy %q: %s", e.Policy, v.Msg)
	}
	return sb.String()
}

// Unwrap returns the violations, so that errors.As finds an rt.Violation.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Violations))
	for i, v := range e.Violations {
		errs[i] = v
	}
	return errs
}

// ----------------------------------------------------------------------------
// Blocks

// An Option is one block of a policy: Cache, Prefetch, Schedule, Monitor,
// PerLayer or Adapt. Each block may be given once.
type Option interface{ apply(*builder) }

type optionFunc func(*builder)

func (f optionFunc) apply(b *builder) { f(b) }

// Cache is the cache block, which every policy needs: capacity expert
// slots, counted as (layer, expert) pairs, and the options that set its
// other keys. It is "cache { capacity = N ... }".
func Cache(capacity int, opts ...CacheOption) Option {
	return block("cache", Key("capacity", rt.IntValue(capacity)), opts, CacheOption.applyCache)
}

// Prefetch is the prefetch block with the given strategy ("strategy =
// S"); rt.PrefetchNone is the default.
func Prefetch(strategy rt.PrefetchStrategy, opts ...PrefetchOption) Option {
	return block("prefetch", word("strategy", strategy), opts, PrefetchOption.applyPrefetch)
}

// Schedule is the schedule block with the given mode ("mode = M");
// rt.GPUOnly is the default.
func Schedule(mode rt.ScheduleMode, opts ...ScheduleOption) Option {
	return block("schedule", word("mode", mode), opts, ScheduleOption.applySchedule)
}

// Monitor is the monitor block; without options it watches the hit rate
// over windows of 100 accesses (rt.DefaultMonitor).
func Monitor(opts ...MonitorOption) Option {
	return block("monitor", KeyOption{}, opts, MonitorOption.applyMonitor)
}

// PerLayer is the per_layer block: one cache per layer sharing a budget
// of slots. Without options it splits layers x capacity slots uniformly
// (rt.DefaultPerLayer).
func PerLayer(opts ...PerLayerOption) Option {
	return block("per_layer", KeyOption{}, opts, PerLayerOption.applyPerLayer)
}

// Adapt is the adapt block: rules made with When, and Cooldown. The rules
// come after the implicit rules of conditional values in the Spec, in the
// order given.
func Adapt(items ...AdaptOption) Option {
	return block("adapt", KeyOption{}, items, AdaptOption.applyAdapt)
}

// block returns the block called name: opened as rt.OpenBlock opens it,
// its first key set when first names one (capacity, strategy, mode), then
// its options applied in order.
func block[O any](name string, first KeyOption, opts []O, apply func(O, *blockBuilder)) Option {
	return optionFunc(func(b *builder) {
		if !b.block(name) {
			return
		}
		rt.OpenBlock(b.spec, name)
		bk := &blockBuilder{builder: b, name: name}
		if first.name != "" {
			bk.assign(first)
		}
		for _, o := range opts {
			if any(o) == nil {
				b.structure(nil, "nil option in %s block", name)
				continue
			}
			apply(o, bk)
		}
	})
}

// ----------------------------------------------------------------------------
// Keys

// A CacheOption sets one key of the cache block.
type CacheOption interface{ applyCache(*blockBuilder) }

// A PrefetchOption sets one key of the prefetch block.
type PrefetchOption interface{ applyPrefetch(*blockBuilder) }

// A ScheduleOption sets one key of the schedule block.
type ScheduleOption interface{ applySchedule(*blockBuilder) }

// A MonitorOption sets one key of the monitor block.
type MonitorOption interface{ applyMonitor(*blockBuilder) }

// A PerLayerOption sets one key of the per_layer block.
type PerLayerOption interface{ applyPerLayer(*blockBuilder) }

// An AdaptOption is a rule or the cooldown of the adapt block.
type AdaptOption interface{ applyAdapt(*blockBuilder) }

type cacheFunc func(*blockBuilder)

func (f cacheFunc) applyCache(b *blockBuilder) { f(b) }

type prefetchFunc func(*blockBuilder)

func (f prefetchFunc) applyPrefetch(b *blockBuilder) { f(b) }

// A KeyOption sets one key of the block it is given to, as writing "key =
// value" there does. Key makes one for any key of rt's key table (rt.Keys);
// the options named after keys below are shorthands with Go types. A key
// that the block does not have, or a value it cannot take, is an error
// of New.
type KeyOption struct {
	name  string
	value rt.Value
	enums []fmt.Stringer // the enumeration values value's words spell, to report one out of range
}

// Key sets the key called name of the block it is given to: Key("ttl",
// rt.IntValue(200)) in Cache is "ttl = 200". Every key of the language
// has it, including those without a shorthand.
func Key(name string, v rt.Value) KeyOption { return KeyOption{name: name, value: v} }

// word returns the option that sets the key called name to the word of an
// enumeration value.
func word(name string, v fmt.Stringer) KeyOption {
	return KeyOption{name: name, value: rt.WordValue(v.String()), enums: []fmt.Stringer{v}}
}

func (o KeyOption) applyCache(b *blockBuilder)    { b.assign(o) }
func (o KeyOption) applyPrefetch(b *blockBuilder) { b.assign(o) }
func (o KeyOption) applySchedule(b *blockBuilder) { b.assign(o) }
func (o KeyOption) applyMonitor(b *blockBuilder)  { b.assign(o) }
func (o KeyOption) applyPerLayer(b *blockBuilder) { b.assign(o) }
func (o KeyOption) applyAdapt(b *blockBuilder)    { b.assign(o) }

// Eviction sets the eviction order ("eviction = E"). rt.Fallback alone is
// lfu | lru; Tiers chooses the tiers.
func Eviction(e rt.Eviction) CacheOption { return word("eviction", e) }

// Tiers sets a two-tier eviction order ("eviction = P | S"): the primary
// tier holds 2/3 of the capacity, the secondary the rest.
func Tiers(primary, secondary rt.Eviction) CacheOption {
	return KeyOption{name: "eviction", value: rt.PipeValue(primary.String(), secondary.String()),
		enums: []fmt.Stringer{primary, secondary}}
}

// Pin pins experts, by id, in every layer ("pin = [...]").
func Pin(ids ...int) CacheOption { return Key("pin", rt.IntListValue(ids...)) }

// Decay sets the LFU decay applied every 100 accesses ("frequency_decay").
func Decay(d float64) CacheOption { return Key("frequency_decay", rt.NumberValue(d)) }

// FreqThreshold sets the share of the window an expert needs to stay
// ("freq_threshold").
func FreqThreshold(f float64) CacheOption { return Key("freq_threshold", rt.NumberValue(f)) }

// FreqWindow sets the accesses the frequency threshold counts over
// ("freq_window").
func FreqWindow(n int) CacheOption { return Key("freq_window", rt.IntValue(n)) }

// ScoreAlpha sets the weight of a new router gate in the score EMA
// ("score_ema_alpha").
func ScoreAlpha(a float64) CacheOption { return Key("score_ema_alpha", rt.NumberValue(a)) }

// MemoryThreshold turns the memory-pressure trigger on, firing at the
// given usage share ("memory_threshold").
func MemoryThreshold(t float64) CacheOption { return Key("memory_threshold", rt.NumberValue(t)) }

// MemoryHeadroom sets the usage share the memory-pressure trigger evicts
// down to ("memory_headroom").
func MemoryHeadroom(h float64) CacheOption { return Key("memory_headroom", rt.NumberValue(h)) }

// MemoryBudgetGB sets the GPU memory for experts, in GB
// ("memory_budget_gb").
func MemoryBudgetGB(gb float64) CacheOption { return Key("memory_budget_gb", rt.NumberValue(gb)) }

// ExpertSizeGB sets the size of one expert, in GB, used where the model's
// shape does not give it ("expert_size_gb").
func ExpertSizeGB(gb float64) CacheOption { return Key("expert_size_gb", rt.NumberValue(gb)) }

// TTL turns the TTL trigger on: an expert not accessed for n accesses is
// evicted ("ttl").
func TTL(n int) CacheOption { return Key("ttl", rt.IntValue(n)) }

// Lookahead sets how many layers ahead the lookahead strategy predicts
// ("lookahead").
func Lookahead(n int) PrefetchOption { return Key("lookahead", rt.IntValue(n)) }

// Budget sets the most experts prefetched per dispatch ("budget").
func Budget(n int) PrefetchOption { return Key("budget", rt.IntValue(n)) }

// AffinityThreshold sets the probability P(f | e) needed to predict f
// ("affinity_threshold").
func AffinityThreshold(p float64) PrefetchOption {
	return Key("affinity_threshold", rt.NumberValue(p))
}

// HistoryWindow sets how many selections the history strategies remember
// ("history_window").
func HistoryWindow(n int) PrefetchOption { return Key("history_window", rt.IntValue(n)) }

// OffloadThresholdMS sets the transfer time above which hybrid mode runs a
// miss on the CPU ("offload_threshold_ms").
func OffloadThresholdMS(ms float64) ScheduleOption {
	return Key("offload_threshold_ms", rt.NumberValue(ms))
}

// Overlap sets whether transfers overlap compute ("overlap"); hybrid mode
// needs it.
func Overlap(on bool) ScheduleOption { return Key("overlap", rt.BoolValue(on)) }

// PriorityRouting sets "priority_routing", kept for compatibility with the
// reference; it has no effect.
func PriorityRouting(on bool) ScheduleOption { return Key("priority_routing", rt.BoolValue(on)) }

// PCIeGBps sets the host-to-GPU bandwidth of the hybrid estimate, in GB/s
// ("pcie_gbps").
func PCIeGBps(gbps float64) ScheduleOption { return Key("pcie_gbps", rt.NumberValue(gbps)) }

// CPUExpertMS sets the time one expert takes on the CPU, which then
// replaces the offload threshold in the hybrid rule ("cpu_expert_ms"). It
// must be above 0.
func CPUExpertMS(ms float64) ScheduleOption { return Key("cpu_expert_ms", rt.NumberValue(ms)) }

// Metrics sets the metrics the monitor watches ("metrics = [...]").
func Metrics(ms ...rt.Metric) MonitorOption {
	o := KeyOption{name: "metrics", value: rt.WordListValue()}
	for _, m := range ms {
		o.value.Words = append(o.value.Words, m.String())
		o.enums = append(o.enums, m)
	}
	return o
}

// Window sets the accesses in each rolling window of the monitor
// ("window").
func Window(n int) MonitorOption { return Key("window", rt.IntValue(n)) }

// LogInterval sets the accesses between monitor snapshots
// ("log_interval").
func LogInterval(n int) MonitorOption { return Key("log_interval", rt.IntValue(n)) }

// Allocation sets the signal that splits the per-layer budget
// ("allocation").
func Allocation(a rt.Allocation) PerLayerOption { return word("allocation", a) }

// EntropyWindow sets the selections per layer the allocation signal is
// computed over ("entropy_window").
func EntropyWindow(n int) PerLayerOption { return Key("entropy_window", rt.IntValue(n)) }

// MinCapacity sets the fewest slots a layer gets ("min_capacity").
func MinCapacity(n int) PerLayerOption { return Key("min_capacity", rt.IntValue(n)) }

// MaxCapacity sets the most slots a layer gets ("max_capacity").
func MaxCapacity(n int) PerLayerOption { return Key("max_capacity", rt.IntValue(n)) }

// RebalanceInterval sets the dispatches between rebalances; 0 makes the
// split static ("rebalance_interval").
func RebalanceInterval(n int) PerLayerOption { return Key("rebalance_interval", rt.IntValue(n)) }

// TotalBudget sets the slots of all layers together; 0 means layers x
// cache capacity ("total_budget").
func TotalBudget(n int) PerLayerOption { return Key("total_budget", rt.IntValue(n)) }

// Cooldown sets the dispatches after a rule fires before it is checked
// again ("cooldown").
func Cooldown(n int) AdaptOption { return Key("cooldown", rt.IntValue(n)) }

// ----------------------------------------------------------------------------
// Rules, actions and conditional values

// A Condition is "METRIC OP THRESHOLD", made by When. It becomes an adapt
// rule with Then (or For and Then), or a conditional value with one of
// its key methods.
type Condition struct{ cond rt.Cond }

// When returns the condition "m op threshold"; m must be one of the
// metrics a rule may watch (rt.Metric.RuleMetric).
func When(m rt.Metric, op rt.Op, threshold float64) Condition {
	return Condition{rt.Cond{Metric: m, Op: op, Threshold: threshold}}
}

// For returns the condition held for n consecutive dispatches ("for N
// accesses").
func (c Condition) For(n int) Sustained { return Sustained{c.cond, n} }

// Then returns the adapt rule that applies actions, together, when c holds.
func (c Condition) Then(actions ...rt.Action) Rule { return c.For(1).Then(actions...) }

// A Sustained is a condition that must hold for a window of dispatches.
type Sustained struct {
	cond   rt.Cond
	window int
}

// Then returns the adapt rule that applies actions, together, when the
// condition has held for its window.
func (s Sustained) Then(actions ...rt.Action) Rule {
	return Rule{rt.Rule{Cond: s.cond, Window: s.window, Actions: slices.Clone(actions)}}
}

// A Rule is an adapt rule, for Adapt.
type Rule struct{ r rt.Rule }

func (r Rule) applyAdapt(b *blockBuilder) { b.rules = append(b.rules, r.r) }

// Capacity is the conditional value "capacity = D : n when c": D is
// Cache's capacity, n the capacity the policy switches to when c holds.
func (c Condition) Capacity(n int) CacheOption {
	return cacheFunc(func(b *blockBuilder) { b.conditional(c, SetCapacity(n)) })
}

// Eviction is the conditional value "eviction = D : e when c"; D is what
// the Eviction option sets, else the default.
func (c Condition) Eviction(e rt.Eviction) CacheOption {
	return cacheFunc(func(b *blockBuilder) { b.conditional(c, SetEviction(e)) })
}

// Decay is the conditional value "frequency_decay = D : d when c"; D is
// what the Decay option sets, else the default.
func (c Condition) Decay(d float64) CacheOption {
	return cacheFunc(func(b *blockBuilder) { b.conditional(c, SetDecay(d)) })
}

// Strategy is the conditional value "strategy = D : s when c"; D is
// Prefetch's strategy.
func (c Condition) Strategy(s rt.PrefetchStrategy) PrefetchOption {
	return prefetchFunc(func(b *blockBuilder) { b.conditional(c, SetStrategy(s)) })
}

// Budget is the conditional value "budget = D : n when c"; D is what the
// Budget option sets, else the default.
func (c Condition) Budget(n int) PrefetchOption {
	return prefetchFunc(func(b *blockBuilder) { b.conditional(c, SetBudget(n)) })
}

// SetEviction is the action "eviction = E"; rt.Fallback is lfu | lru.
func SetEviction(e rt.Eviction) rt.Action {
	a := rt.Action{Target: rt.SetEviction, Eviction: e}
	if e == rt.Fallback {
		a.Primary, a.Second = rt.LFU, rt.LRU
	}
	return a
}

// SetCapacity is the action "capacity = N".
func SetCapacity(n int) rt.Action { return rt.Action{Target: rt.SetCapacity, Int: n} }

// SetDecay is the action "frequency_decay = D".
func SetDecay(d float64) rt.Action { return rt.Action{Target: rt.SetDecay, Float: d} }

// SetStrategy is the action "strategy = S".
func SetStrategy(s rt.PrefetchStrategy) rt.Action {
	return rt.Action{Target: rt.SetStrategy, Strategy: s}
}

// SetBudget is the action "budget = N".
func SetBudget(n int) rt.Action { return rt.Action{Target: rt.SetBudget, Int: n} }

// SetMode is the action "mode = M".
func SetMode(m rt.ScheduleMode) rt.Action { return rt.Action{Target: rt.SetMode, Mode: m} }

// TriggerMemoryPressure is the action "trigger memory_pressure".
func TriggerMemoryPressure() rt.Action { return rt.Action{Target: rt.TriggerMemoryPressure} }

// Rebalance is the action "rebalance SIGNAL"; the policy needs a per_layer
// block.
func Rebalance(signal rt.Allocation) rt.Action {
	return rt.Action{Target: rt.Rebalance, Signal: signal}
}

// ----------------------------------------------------------------------------
// The builder

// builder holds one policy being built; New makes one per call.
type builder struct {
	spec   *rt.Spec
	blocks map[string]bool
	keys   map[string]bool // "cache.capacity"; "cache.capacity : when" for a conditional value
	rules  []rt.Rule       // explicit rules, resolved after the blocks
	errs   []rt.Violation  // structure errors and M11, then the rules

	// pendings are the actions to check on the resolved policy: each
	// explicit rule's together, each conditional value's on its own.
	pendings []pending
}

type pending struct {
	actions []rt.Action
	cond    bool // a conditional value
}

// blockBuilder is the builder seen from one block.
type blockBuilder struct {
	*builder
	name string
}

func (b *builder) violation(rule string, fields []string, format string, args ...any) {
	b.errs = append(b.errs, rt.Violation{Rule: rule, Fields: fields, Msg: fmt.Sprintf(format, args...)})
}

func (b *builder) structure(fields []string, format string, args ...any) {
	b.violation(diag.RuleStructure, fields, format, args...)
}

// block reports whether the block name is new, and an error when not.
func (b *builder) block(name string) bool {
	if b.blocks[name] {
		b.structure(nil, "duplicate %q block in policy %q", name, b.spec.Name)
		return false
	}
	b.blocks[name] = true
	return true
}

// key reports whether name is new in its block, and an error when not.
func (b *blockBuilder) key(name string) bool {
	k := b.name + "." + name
	if b.keys[k] {
		b.structure([]string{k}, "duplicate key %q in %s block", name, b.name)
		return false
	}
	b.keys[k] = true
	return true
}

// assign sets a key of the block as writing "key = value" there does:
// once per block, a composition "A | B" never with a conditional value,
// and each word from the key's enumeration (one out of it is reported; a
// list keeps the others, any other value is not set). What rt.KeyDef.Set
// rejects is reported with its rule.
func (b *blockBuilder) assign(o KeyOption) {
	k, known := rt.LookupKey(b.name, o.name)
	if !known {
		b.structure(nil, "unknown %s key %q", b.name, o.name)
		return
	}
	if !b.key(o.name) {
		return
	}
	v := o.value
	if v.Kind == rt.WordKind && len(v.Words) == 2 {
		if b.keys[k.Path()+" : when"] {
			b.structure([]string{k.Path()}, "%s A | B cannot take a conditional value", k.Name)
			return
		}
		b.keys[k.Path()+" |"] = true
	}
	if len(o.enums) > 0 {
		var words []string
		for i, e := range o.enums {
			if b.enum(k.What, e) && i < len(v.Words) {
				words = append(words, v.Words[i])
			}
		}
		if len(words) < len(v.Words) && v.Kind != rt.WordListKind {
			return
		}
		v.Words = words
	}
	var broken rt.Violation
	switch err := k.Set(b.spec, v); {
	case errors.As(err, &broken):
		b.errs = append(b.errs, broken)
	case err != nil:
		b.structure([]string{k.Path()}, "%v", err)
	}
}

// enum reports whether v is one of its enumeration's values, and an error
// when not.
func (b *builder) enum(what string, v fmt.Stringer) bool {
	if v.String() == "?" {
		b.structure(nil, "unknown %s %d", what, v)
		return false
	}
	return true
}

// conditional adds the implicit rule of a conditional value that a sets.
func (b *blockBuilder) conditional(c Condition, a rt.Action) {
	path := a.Target.Key()
	_, key, _ := strings.Cut(path, ".")
	// The plain value and the conditional one are one key in .moe, so
	// only a second conditional value is a duplicate.
	if b.keys[path+" : when"] {
		b.structure([]string{path}, "duplicate conditional value of %q in %s block", key, b.name)
		return
	}
	if b.keys[path+" |"] {
		b.structure([]string{path}, "%s A | B cannot take a conditional value", key)
		return
	}
	b.keys[path+" : when"] = true
	if !b.cond(c.cond) || !b.action(a) {
		return
	}
	b.spec.Adapt.Rules = append(b.spec.Adapt.Rules, rt.Rule{Cond: c.cond, Window: 1, Actions: []rt.Action{a}, Implicit: true})
	b.pendings = append(b.pendings, pending{actions: []rt.Action{a}, cond: true})
}

// rule adds an explicit adapt rule.
func (b *builder) rule(r rt.Rule) {
	ok := b.cond(r.Cond)
	if len(r.Actions) == 0 {
		b.structure(nil, "adapt rule \"when %s\" has no actions", r.Cond)
		ok = false
	}
	seen := map[rt.Target]bool{}
	for _, a := range r.Actions {
		if !b.action(a) {
			ok = false
			continue
		}
		if seen[a.Target] {
			b.structure(nil, "duplicate action target %q in adapt rule", targetName(a.Target))
			ok = false
			continue
		}
		seen[a.Target] = true
	}
	r.Actions = slices.Clone(r.Actions)
	b.spec.Adapt.Rules = append(b.spec.Adapt.Rules, r)
	if ok {
		b.pendings = append(b.pendings, pending{actions: r.Actions})
	}
}

// cond checks a condition's metric and operator.
func (b *builder) cond(c rt.Cond) bool {
	switch {
	case c.Metric.String() == "?":
		b.structure(nil, "unknown metric %d", c.Metric)
		return false
	case !c.Metric.RuleMetric():
		var words []string
		for _, w := range rt.MetricWords() {
			if m, _ := rt.ParseMetric(w); m.RuleMetric() {
				words = append(words, w)
			}
		}
		b.structure(nil, "metric %q can only be monitored, not used in a condition (valid: %s)", c.Metric, strings.Join(words, ", "))
		return false
	case c.Op.String() == "?":
		b.structure(nil, "unknown comparison operator %d", c.Op)
		return false
	}
	return true
}

// action checks the words of an action.
func (b *builder) action(a rt.Action) bool {
	switch a.Target {
	case rt.SetEviction:
		return b.enum("eviction", a.Eviction) && b.enum("eviction", a.Primary) && b.enum("eviction", a.Second)
	case rt.SetStrategy:
		return b.enum("prefetch strategy", a.Strategy)
	case rt.SetMode:
		return b.enum("schedule mode", a.Mode)
	case rt.Rebalance:
		if !b.enum("allocation signal", a.Signal) {
			return false
		}
		if b.spec.PerLayer == nil {
			b.violation("M5", nil, "%s", rt.ReasonNoPerLayer)
			return false
		}
		return true
	case rt.SetCapacity, rt.SetDecay, rt.SetBudget, rt.TriggerMemoryPressure:
		return true
	}
	b.structure(nil, "unknown adapt action target %d", a.Target)
	return false
}

func targetName(t rt.Target) string {
	name, _, _ := strings.Cut(rt.Action{Target: t}.String(), " ")
	return name
}

// check runs rt.Spec.Check on the policy, then on what each pending
// action would make of it (rt.ApplyActions), as sema does: an action is
// blamed only for the rules the policy did not already break.
func (b *builder) check() {
	noCache := !b.blocks["cache"]
	involvesCapacity := func(v rt.Violation) bool {
		// A missing cache block is reported already.
		return noCache && slices.Contains(v.Fields, "cache.capacity")
	}
	var known []rt.Violation
	blamed := rt.Blamed{} // one mistake, one violation, as sema reports
	for _, v := range b.spec.Check() {
		if involvesCapacity(v) {
			continue
		}
		known = append(known, v) // an action is not blamed for it, reported or not
		if blamed.Repeats(v) {
			continue
		}
		blamed.Blame(v, "")
		b.errs = append(b.errs, v)
	}
	for _, p := range b.pendings {
		what := "adapt action"
		if p.cond {
			what = "conditional value"
		}
		_, vs := rt.ApplyActions(b.spec, p.actions, known)
		blamed := rt.Blamed{}
		for _, v := range vs {
			if involvesCapacity(v.Violation) || blamed.Repeats(v.Violation) {
				continue
			}
			a := p.actions[v.Action]
			blamed.Blame(v.Violation, a.Target.Key())
			v.Msg = fmt.Sprintf("%s %q would make an invalid policy: %s", what, a.String(), v.Msg)
			b.errs = append(b.errs, v.Violation)
		}
	}
}

// isIdent reports whether s is a .moe identifier: a letter or underscore,
// then letters, digits and underscores.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
