package rt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A Violation is one rule a Spec breaks.
type Violation struct {
	// Rule is the rule's code: "R1".."R20" for the reference's validator
	// rules, "M1", "M6".."M12" for moec's rules that a Spec alone can
	// break.
	Rule string

	// Fields are the values involved, as KeyPos keys ("cache.capacity",
	// "prefetch.budget"), the one to blame first. A rule window is
	// "adapt.rules[i].window", i indexing Adapt.Rules.
	Fields []string

	// Msg says what is wrong, with the offending values, and names the
	// rule: "prefetch budget 6 exceeds cache capacity 4 (rule 10)".
	Msg string
}

// Error returns the message.
func (v Violation) Error() string { return v.Msg }

// Check returns every rule s breaks, in rule order: the reference's 20
// validator rules (with rule 1's bound raised to MaxCapacity), then moec's
// rules on fallback tiers (M1), rule windows (M6), the monitor (M7, M8),
// per-layer budgets (M9, M10), the schedule's cost model (M11) and the
// windows' upper bound (M12). Every rule is evaluated; a nil result means
// s is valid.
//
// Check sees values, not how they were written, so it cannot tell an
// unset cpu_expert_ms from one written as 0; the front end reports that.
func (s *Spec) Check() []Violation {
	var c checker
	cs, ps, ss := &s.Cache, &s.Prefetch, &s.Schedule

	if cs.Capacity < 1 || cs.Capacity > MaxCapacity {
		c.add("R1", "cache capacity %d is out of range [1, %d]", cs.Capacity, MaxCapacity)(capacityKey)
	}
	for _, id := range cs.Pin {
		if id < 0 || id > MaxExpertID {
			c.add("R2", "pinned expert %d is out of range [0, %d]", id, MaxExpertID)(pinKey)
			break
		}
	}
	if len(cs.Pin) > cs.Capacity {
		c.add("R3", "%d pinned experts exceed cache capacity %d", len(cs.Pin), cs.Capacity)(pinKey, capacityKey)
	}
	if !(cs.Decay > 0 && cs.Decay < 1) {
		c.add("R4", "cache frequency_decay %s is out of range (0, 1)", num(cs.Decay))("cache.frequency_decay")
	}
	if !(cs.FreqThreshold >= 0 && cs.FreqThreshold <= 1) {
		c.add("R5", "cache freq_threshold %s is out of range [0, 1]", num(cs.FreqThreshold))("cache.freq_threshold")
	}
	if cs.FreqWindow < 1 {
		c.add("R6", "cache freq_window %d must be at least 1", cs.FreqWindow)("cache.freq_window")
	}
	if !(cs.ScoreAlpha > 0 && cs.ScoreAlpha <= 1) {
		c.add("R7", "cache score_ema_alpha %s is out of range (0, 1]", num(cs.ScoreAlpha))("cache.score_ema_alpha")
	}
	if ps.Lookahead < 1 {
		c.add("R8", "prefetch lookahead %d must be at least 1", ps.Lookahead)("prefetch.lookahead")
	}
	if ps.Budget < 1 {
		c.add("R9", "prefetch budget %d must be at least 1", ps.Budget)(budgetKey)
	}
	if ps.Budget > cs.Capacity {
		c.add("R10", "prefetch budget %d exceeds cache capacity %d", ps.Budget, cs.Capacity)(budgetKey, capacityKey)
	}
	if !(ps.AffinityThreshold >= 0 && ps.AffinityThreshold <= 1) {
		c.add("R11", "prefetch affinity_threshold %s is out of range [0, 1]", num(ps.AffinityThreshold))("prefetch.affinity_threshold")
	}
	if ps.HistoryWindow < 1 {
		c.add("R12", "prefetch history_window %d must be at least 1", ps.HistoryWindow)("prefetch.history_window")
	}
	if !(ss.OffloadThresholdMS > 0) {
		c.add("R13", "schedule offload_threshold_ms %s must be above 0", num(ss.OffloadThresholdMS))("schedule.offload_threshold_ms")
	}
	if ss.Mode == Hybrid && !ss.Overlap {
		c.add("R14", "schedule mode hybrid requires overlap = true")("schedule.overlap", "schedule.mode")
	}
	// Only a plain score cache needs the router's scores from a prefetch
	// strategy; the reference does not look inside a fallback, nor do we.
	if cs.Eviction == Score && ps.Strategy == PrefetchNone {
		c.add("R15", "cache eviction score requires a prefetch strategy other than none")(evictionKey, "prefetch.strategy")
	}
	if cs.MemoryPressure {
		if !(cs.MemoryThreshold > 0 && cs.MemoryThreshold <= 1) {
			c.add("R16", "cache memory_threshold %s is out of range (0, 1]", num(cs.MemoryThreshold))("cache.memory_threshold")
		}
		if !(cs.MemoryHeadroom > 0 && cs.MemoryHeadroom <= cs.MemoryThreshold) {
			c.add("R17", "cache memory_headroom %s is out of range (0, memory_threshold %s]",
				num(cs.MemoryHeadroom), num(cs.MemoryThreshold))("cache.memory_headroom", "cache.memory_threshold")
		}
		if !(cs.MemoryBudgetGB > 0) {
			c.add("R18", "cache memory_budget_gb %s must be above 0 when memory pressure is on", num(cs.MemoryBudgetGB))("cache.memory_budget_gb")
		}
	}
	if !(cs.ExpertSizeGB > 0) {
		c.add("R19", "cache expert_size_gb %s must be above 0", num(cs.ExpertSizeGB))("cache.expert_size_gb")
	}
	if cs.TTLSet && cs.TTL < 1 {
		c.add("R20", "cache ttl %d must be at least 1", cs.TTL)("cache.ttl")
	}

	if cs.Eviction == Fallback && (cs.Primary == Fallback || cs.Secondary == Fallback) {
		c.add("M1", "cache eviction %s | %s uses fallback as a tier", cs.Primary, cs.Secondary)(evictionKey)
	}
	for i, r := range s.Adapt.Rules {
		if r.Window < 1 {
			c.add("M6", "adapt rule window %d must be at least 1", r.Window)(fmt.Sprintf("adapt.rules[%d].window", i))
		}
	}
	if m := s.Monitor; m != nil {
		if m.Window < 1 {
			c.add("M7", "monitor window %d must be at least 1", m.Window)("monitor.window")
		}
		if m.LogInterval < 1 {
			c.add("M8", "monitor log_interval %d must be at least 1", m.LogInterval)("monitor.log_interval")
		}
	}
	if pl := s.PerLayer; pl != nil {
		for _, v := range []struct {
			key string
			n   int
		}{
			{"entropy_window", pl.EntropyWindow},
			{"min_capacity", pl.MinCapacity},
			{"max_capacity", pl.MaxCapacity},
		} {
			if v.n < 1 {
				c.add("M9", "per_layer %s %d must be at least 1", v.key, v.n)("per_layer." + v.key)
			}
		}
		// 0 means "static" and "layers x capacity" here.
		if pl.RebalanceInterval < 0 {
			c.add("M9", "per_layer rebalance_interval %d must not be negative", pl.RebalanceInterval)("per_layer.rebalance_interval")
		}
		if pl.TotalBudget < 0 {
			c.add("M9", "per_layer total_budget %d must not be negative", pl.TotalBudget)("per_layer.total_budget")
		}
		// A bound below 1 is already M9; comparing it would blame the same
		// value twice.
		if pl.MinCapacity >= 1 && pl.MaxCapacity >= 1 && pl.MinCapacity > pl.MaxCapacity {
			c.add("M10", "per_layer min_capacity %d exceeds max_capacity %d", pl.MinCapacity, pl.MaxCapacity)(
				"per_layer.min_capacity", "per_layer.max_capacity")
		}
	}
	if !(ss.PCIeGBps > 0) {
		c.add("M11", "schedule pcie_gbps %s must be above 0", num(ss.PCIeGBps))("schedule.pcie_gbps")
	}
	if ss.CPUExpertMS < 0 {
		c.add("M11", "schedule cpu_expert_ms %s must not be negative", num(ss.CPUExpertMS))("schedule.cpu_expert_ms")
	}
	// Each window is memory the runtime allocates; below 1 is the rules
	// above.
	for _, w := range s.windows() {
		if w.n > MaxWindow {
			c.add("M12", "%s %d is out of range [1, %d]", strings.Replace(w.key, ".", " ", 1), w.n, MaxWindow)(w.key)
		}
	}
	return c.list
}

// sized is a key whose value the runtime sizes memory by.
type sized struct {
	key string // as KeyPos names it
	n   int
}

// windows returns the policy's windows: the numbers of past accesses or
// selections the runtime keeps, each in memory it allocates.
func (s *Spec) windows() []sized {
	ws := []sized{{"cache.freq_window", s.Cache.FreqWindow}, {"prefetch.history_window", s.Prefetch.HistoryWindow}}
	if s.Monitor != nil {
		ws = append(ws, sized{"monitor.window", s.Monitor.Window})
	}
	if s.PerLayer != nil {
		ws = append(ws, sized{"per_layer.entropy_window", s.PerLayer.EntropyWindow})
	}
	return ws
}

// ReasonNoPerLayer is the message of rule M5, a rebalance in a policy
// without per-layer budgets, and so the reason the adapt engine logs,
// interpreted or generated alike, when it skips a rule for it.
const ReasonNoPerLayer = "rebalance needs a per_layer block"

// An ActionViolation is a rule broken by the policy that an adapt rule's
// actions make, and the action to blame.
type ActionViolation struct {
	Violation

	// Action indexes the actions: the one that set the first value that
	// Fields names, else the first action.
	Action int
}

// ApplyActions applies actions to s together, in order, and checks the
// policy they make, as the adapt engine does when a rule fires; the front
// ends call it to validate a rule, or a conditional value, before it can
// run. It returns that policy (s itself when every action is a rebalance,
// which acts on the running budgets, not on the policy) and the rules it
// breaks, in Check's order, then M5 (ReasonNoPerLayer) for a rebalance in
// a policy without a per_layer block, each with the action to blame.
//
// A violation of the same rule on the same values as one in known is left
// out: a front end passes the rules s itself breaks, so that an action is
// blamed only for what it breaks; the adapt engine, whose policy is valid,
// passes nil.
func ApplyActions(s *Spec, actions []Action, known []Violation) (*Spec, []ActionViolation) {
	next := s
	for _, a := range actions {
		if a.Target != Rebalance {
			next = a.Apply(next)
		}
	}
	vs := next.Check()
	if s.PerLayer == nil && slices.ContainsFunc(actions, func(a Action) bool { return a.Target == Rebalance }) {
		vs = append(vs, Violation{Rule: "M5", Msg: ReasonNoPerLayer})
	}
	var out []ActionViolation
	for _, v := range vs {
		if !slices.ContainsFunc(known, v.same) {
			out = append(out, ActionViolation{Violation: v, Action: culprit(v, actions)})
		}
	}
	return next, out
}

// same reports whether v and w are the same rule broken on the same values.
func (v Violation) same(w Violation) bool {
	return v.Rule == w.Rule && slices.Equal(v.Fields, w.Fields)
}

// culprit returns the index of the action that set the first value v
// names: a rebalance for M5, else 0.
func culprit(v Violation, actions []Action) int {
	if v.Rule == "M5" {
		return max(0, slices.IndexFunc(actions, func(a Action) bool { return a.Target == Rebalance }))
	}
	for _, k := range v.Fields {
		for i, a := range actions {
			if a.Target.Key() == k {
				return i
			}
		}
	}
	return 0
}

const (
	capacityKey = "cache.capacity"
	evictionKey = "cache.eviction"
	pinKey      = "cache.pin"
	budgetKey   = "prefetch.budget"
)

type checker struct{ list []Violation }

// add formats the message of a violation of rule and returns a function
// that records it with the fields involved.
func (c *checker) add(rule, format string, args ...any) func(fields ...string) {
	msg := fmt.Sprintf(format, args...) + " (rule " + ruleNumber(rule) + ")"
	return func(fields ...string) {
		c.list = append(c.list, Violation{Rule: rule, Fields: fields, Msg: msg})
	}
}

// ruleNumber is how a message names a rule: the reference's rules by their
// number, as its documentation does, moec's by their code.
func ruleNumber(rule string) string {
	if len(rule) > 1 && rule[0] == 'R' {
		return rule[1:]
	}
	return rule
}

// num formats a number the way it would be written in .moe.
func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
