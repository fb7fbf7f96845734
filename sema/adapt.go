package sema

import (
	"fmt"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/rt"
)

var ops = map[lexer.Token]rt.Op{lexer.LT: rt.LT, lexer.GT: rt.GT, lexer.LE: rt.LE, lexer.GE: rt.GE, lexer.NE: rt.NE}

// ruleMetricWords are the metrics a condition may watch.
var ruleMetricWords = func() []string {
	var words []string
	for _, w := range rt.MetricWords() {
		if m, _ := rt.ParseMetric(w); m.RuleMetric() {
			words = append(words, w)
		}
	}
	return words
}()

// rules resolves the rules of an adapt block into the policy (when live)
// after its implicit rules.
func (c *checker) rules(b *ast.Block, live bool) {
	for _, it := range b.Items {
		if r, ok := it.(*ast.Rule); ok {
			c.rule(r, live)
		}
	}
}

// rule resolves one adapt rule. The rule goes into the policy even when a
// part of it is wrong (the policy is not returned then), so that its
// window is still checked.
func (c *checker) rule(r *ast.Rule, live bool) {
	cond, _ := c.cond(r.Cond)
	window, okW := 1, true
	if r.Window != nil {
		window, okW = c.intValue(r.Window, "window")
	}
	var (
		actions []rt.Action
		sites   []actionSite
		first   = map[rt.Target]ast.Action{}
		okA     = len(r.Actions) > 0
	)
	if len(r.Actions) == 0 || !r.Rbrace.IsValid() {
		c.incomplete = true
	}
	for _, x := range r.Actions {
		a, site, ok := c.action(x)
		if !ok {
			okA = false
			continue
		}
		if prev, dup := first[a.Target]; dup {
			d := c.errorf(spanOf(x), diag.RuleStructure, "duplicate action target %q in adapt rule", actionName(x))
			c.related(d, prev.Pos(), "first %q here", actionText(prev))
			okA = false
			continue
		}
		first[a.Target] = x
		actions, sites = append(actions, a), append(sites, site)
	}
	if !live {
		return
	}
	i := len(c.spec.Adapt.Rules)
	if r.Window != nil {
		key := fmt.Sprintf("adapt.rules[%d].window", i)
		c.written(key, spanOf(r.Window))
		if !okW {
			c.bad[key] = true
		}
	}
	rule := rt.Rule{Cond: cond, Window: window, Actions: actions}
	if r.Cond != nil {
		rule.Pos = c.rtPos(r.Pos())
	}
	c.spec.Adapt.Rules = append(c.spec.Adapt.Rules, rule)
	if okA {
		c.pendings = append(c.pendings, pending{actions: actions, sites: sites})
	}
}

// actionText quotes an action the way it is written, spaces normalised.
func actionText(x ast.Action) string {
	switch x := x.(type) {
	case *ast.Field:
		if lit, ok := x.Value.(*ast.BasicLit); ok {
			return x.Key.Name + " = " + lit.Value
		}
		return x.Key.Name
	case *ast.Command:
		return x.Name.Name + " " + x.Arg.Name
	}
	return "action"
}

// actionName is the target or command an action names.
func actionName(x ast.Action) string {
	switch x := x.(type) {
	case *ast.Field:
		return x.Key.Name
	case *ast.Command:
		return x.Name.Name
	}
	return "action"
}

// action resolves one adapt action: its target (M2), its value's type
// (M3) and word, a trigger (M4), a rebalance (M5).
func (c *checker) action(x ast.Action) (rt.Action, actionSite, bool) {
	switch x := x.(type) {
	case *ast.Field:
		if x.Key == nil || x.Value == nil {
			break
		}
		name := x.Key.Name
		t, known := rt.ParseTarget(name)
		lit, isLit := x.Value.(*ast.BasicLit)
		switch {
		case !known && (name == "trigger" || name == "rebalance"):
			arg := "WORD"
			if isLit {
				arg = lit.Value
			}
			c.errorf(spanOf(x), "M3", "%s is a command, not a target: write %q", name, name+" "+arg)
			return rt.Action{}, actionSite{}, false
		case !known:
			c.errorf(spanOf(x.Key), "M2", "%s", unknown("adapt action target", name, rt.TargetNames()))
			return rt.Action{}, actionSite{}, false
		case !isLit:
			if _, bad := x.Value.(*ast.BadExpr); !bad {
				c.errorf(spanOf(x.Value), "M3", "%s must be a single value", name)
				return rt.Action{}, actionSite{}, false
			}
			c.incomplete = true
			return rt.Action{}, actionSite{}, false
		}
		k, _ := rt.LookupPath(t.Key())
		a, ok := c.targetValue(k, name, lit)
		a.Pos = c.rtPos(x.Pos())
		return a, actionSite{at: spanOf(lit), text: actionText(x)}, ok
	case *ast.Command:
		if x.Name == nil || x.Arg == nil || x.Arg.Name == "" {
			break
		}
		a := rt.Action{Pos: c.rtPos(x.Pos())}
		site := actionSite{at: spanOf(x.Arg), text: actionText(x)}
		switch x.Name.Name {
		case "trigger":
			if x.Arg.Name != "memory_pressure" {
				c.errorf(spanOf(x.Arg), "M4", "%s", unknown("trigger", x.Arg.Name, []string{"memory_pressure"}))
				return a, site, false
			}
			a.Target = rt.TriggerMemoryPressure
			return a, site, true
		case "rebalance":
			ok := true
			// The per_layer block may be the one the parser dropped.
			if c.spec.PerLayer == nil && !c.pol.Incomplete {
				c.errorf(spanOf(x.Name), "M5", "%s", rt.ReasonNoPerLayer)
				ok = false
			}
			sig, known := rt.ParseAllocation(x.Arg.Name)
			if !known {
				c.errorf(spanOf(x.Arg), diag.RuleStructure, "%s", unknown("allocation signal", x.Arg.Name, rt.AllocationWords()))
				ok = false
			}
			a.Target, a.Signal = rt.Rebalance, sig
			return a, site, ok
		}
		c.errorf(spanOf(x.Name), "M2", "unknown adapt command %q (valid: trigger, rebalance)", x.Name.Name)
		return a, site, false
	}
	c.incomplete = true
	return rt.Action{}, actionSite{}, false
}

// targetValue resolves the action that sets key k to the value x, as an
// action, a conditional value or a plain key writes it; name is the name
// it is written with.
func (c *checker) targetValue(k rt.KeyDef, name string, x *ast.BasicLit) (rt.Action, bool) {
	v, ok := c.value(k, name, x)
	if !ok {
		return rt.Action{}, false
	}
	a, err := k.Action(v)
	if err != nil {
		c.errorf(spanOf(x), diag.RuleStructure, "%v", err)
		return rt.Action{}, false
	}
	return a, true
}

// cond resolves "when METRIC OP THRESHOLD".
func (c *checker) cond(x *ast.Cond) (rt.Cond, bool) {
	if x == nil || x.Metric == nil || x.Threshold == nil {
		c.incomplete = true
		return rt.Cond{}, false
	}
	ok := true
	m, known := rt.ParseMetric(x.Metric.Name)
	switch {
	case !known:
		c.errorf(spanOf(x.Metric), diag.RuleStructure, "%s", unknown("metric", x.Metric.Name, ruleMetricWords))
		ok = false
	case !m.RuleMetric():
		c.errorf(spanOf(x.Metric), diag.RuleStructure, "metric %q can only be monitored, not used in a condition (valid: %s)",
			x.Metric.Name, joinWords(ruleMetricWords))
		ok = false
	}
	op, known := ops[x.Op]
	if !known {
		c.incomplete = true
		ok = false
	}
	th, okT := c.numValue(x.Threshold, "threshold")
	return rt.Cond{Metric: m, Op: op, Threshold: th}, ok && okT
}
