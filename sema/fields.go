package sema

import (
	"strconv"
	"strings"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/rt"
)

// block resolves the keys of b into s. live is false for a duplicate
// block: its values are checked, so that their own mistakes are reported,
// but they go into a scratch copy and nothing else is recorded.
func (c *checker) block(s *rt.Spec, b *ast.Block, live bool) {
	name := b.Name.Name
	if live && (!b.Rbrace.IsValid() || len(b.Items) == 0 || hasBad(b)) {
		c.lossy[name] = true
	}
	switch name {
	case "cache":
		if live {
			c.cache = b
		}
	case "monitor":
		s.Monitor = rt.DefaultMonitor()
	case "per_layer":
		s.PerLayer = rt.DefaultPerLayer()
	case "adapt":
		c.adapts = append(c.adapts, adaptBlock{b, live})
	case "prefetch", "schedule":
	default:
		// The parser drops unknown blocks; a tree built another way may
		// still hold one.
		c.errorf(spanOf(b.Name), diag.RuleStructure, "%s", unknown("block", name, blockNames))
		return
	}
	seen := map[string]*ast.Field{}
	for _, it := range b.Items {
		switch it := it.(type) {
		case *ast.Field:
			if it.Key == nil || it.Value == nil {
				c.incomplete = true
				if live {
					c.lossy[name] = true
				}
				continue
			}
			key := it.Key.Name
			if prev, dup := seen[key]; dup {
				d := c.errorf(spanOf(it.Key), diag.RuleStructure, "duplicate key %q in %s block", key, name)
				c.related(d, prev.Key.Pos(), "first %q here", key)
				c.field(s.Clone(), name, it, false)
				continue
			}
			seen[key] = it
			c.field(s, name, it, live)
		case *ast.Rule:
			if name != "adapt" {
				c.errorf(spanOf(it), diag.RuleStructure, "adapt rule in a %s block", name)
			}
			// Read in pass 2.
		default:
			c.incomplete = true
		}
	}
}

var blockNames = []string{"cache", "prefetch", "schedule", "monitor", "adapt", "per_layer"}

// fieldTargets are the keys an adapt action can also set, and so the keys
// that take a conditional value (all but mode).
var fieldTargets = map[string]rt.Target{
	"cache.capacity":        rt.SetCapacity,
	"cache.eviction":        rt.SetEviction,
	"cache.frequency_decay": rt.SetDecay,
	"prefetch.strategy":     rt.SetStrategy,
	"prefetch.budget":       rt.SetBudget,
	"schedule.mode":         rt.SetMode,
}

// field resolves one "key = value" of block into s.
func (c *checker) field(s *rt.Spec, block string, f *ast.Field, live bool) {
	name := f.Key.Name
	key := block + "." + name
	at := spanOf(f.Value)
	var ok bool
	switch x := f.Value.(type) {
	case *ast.BadExpr:
		c.incomplete = true
	case *ast.BasicLit:
		ok = c.scalar(s, key, name, x)
	case *ast.PipeExpr:
		ok = c.pipeValue(s, key, name, x)
		if live && ok {
			c.pipe = x
		}
	case *ast.CondExpr:
		at = spanOf(x.X)
		ok = c.condValue(s, key, name, x, live)
	case *ast.ListLit:
		ok = c.list(s, key, name, x, live)
	default:
		c.incomplete = true
	}
	if !live {
		return
	}
	c.written(key, at)
	if !ok {
		c.bad[key] = true
	}
	if x, isLit := f.Value.(*ast.BasicLit); ok && isLit && key == "schedule.cpu_expert_ms" && s.Schedule.CPUExpertMS == 0 {
		c.cpuZero = x
	}
}

// scalar resolves a key written with a single literal.
func (c *checker) scalar(s *rt.Spec, key, name string, x *ast.BasicLit) bool {
	if t, ok := fieldTargets[key]; ok {
		a, ok := c.targetValue(t, name, x)
		if ok {
			*s = *a.Apply(s)
		}
		return ok
	}
	cs, ps, ss := &s.Cache, &s.Prefetch, &s.Schedule
	switch key {
	case "cache.freq_threshold":
		return c.setNum(&cs.FreqThreshold, name, x)
	case "cache.freq_window":
		return c.setInt(&cs.FreqWindow, name, x)
	case "cache.score_ema_alpha":
		return c.setNum(&cs.ScoreAlpha, name, x)
	case "cache.memory_threshold":
		ok := c.setNum(&cs.MemoryThreshold, name, x)
		cs.MemoryPressure = ok
		return ok
	case "cache.memory_headroom":
		return c.setNum(&cs.MemoryHeadroom, name, x)
	case "cache.memory_budget_gb":
		return c.setNum(&cs.MemoryBudgetGB, name, x)
	case "cache.expert_size_gb":
		return c.setNum(&cs.ExpertSizeGB, name, x)
	case "cache.ttl":
		ok := c.setInt(&cs.TTL, name, x)
		cs.TTLSet = ok
		return ok
	case "prefetch.lookahead":
		return c.setInt(&ps.Lookahead, name, x)
	case "prefetch.affinity_threshold":
		return c.setNum(&ps.AffinityThreshold, name, x)
	case "prefetch.history_window":
		return c.setInt(&ps.HistoryWindow, name, x)
	case "schedule.offload_threshold_ms":
		return c.setNum(&ss.OffloadThresholdMS, name, x)
	case "schedule.overlap":
		return c.setBool(&ss.Overlap, name, x)
	case "schedule.priority_routing":
		return c.setBool(&ss.PriorityRouting, name, x)
	case "schedule.pcie_gbps":
		return c.setNum(&ss.PCIeGBps, name, x)
	case "schedule.cpu_expert_ms":
		return c.setNum(&ss.CPUExpertMS, name, x)
	case "monitor.window":
		return c.setInt(&s.Monitor.Window, name, x)
	case "monitor.log_interval":
		return c.setInt(&s.Monitor.LogInterval, name, x)
	case "adapt.cooldown":
		return c.setInt(&s.Adapt.Cooldown, name, x)
	case "per_layer.allocation":
		v, ok := word(c, x, name, "allocation signal", rt.AllocationWords(), rt.ParseAllocation)
		if ok {
			s.PerLayer.Allocation = v
		}
		return ok
	case "per_layer.entropy_window":
		return c.setInt(&s.PerLayer.EntropyWindow, name, x)
	case "per_layer.min_capacity":
		return c.setInt(&s.PerLayer.MinCapacity, name, x)
	case "per_layer.max_capacity":
		return c.setInt(&s.PerLayer.MaxCapacity, name, x)
	case "per_layer.rebalance_interval":
		return c.setInt(&s.PerLayer.RebalanceInterval, name, x)
	case "per_layer.total_budget":
		return c.setInt(&s.PerLayer.TotalBudget, name, x)
	case "cache.pin", "monitor.metrics":
		c.typeError(x, name, "a list")
		return false
	}
	block, _, _ := strings.Cut(key, ".")
	c.errorf(spanOf(x), diag.RuleStructure, "unknown %s key %q", block, name)
	return false
}

// pipeValue resolves "eviction = A | B".
func (c *checker) pipeValue(s *rt.Spec, key, name string, x *ast.PipeExpr) bool {
	if key != "cache.eviction" {
		c.errorf(spanOf(x), "M3", "%s cannot be a composition A | B; only eviction can", name)
		return false
	}
	if x.X == nil || x.Y == nil {
		c.incomplete = true
		return false
	}
	a, okA := word(c, x.X, "eviction", "eviction", rt.EvictionWords(), rt.ParseEviction)
	b, okB := word(c, x.Y, "eviction", "eviction", rt.EvictionWords(), rt.ParseEviction)
	if !okA || !okB {
		return false
	}
	s.Cache.Eviction, s.Cache.Primary, s.Cache.Secondary = rt.Fallback, a, b
	return true
}

// condValue resolves "key = D : W when m op t": the policy gets D and, when
// live, an implicit adapt rule whose action sets W.
func (c *checker) condValue(s *rt.Spec, key, name string, x *ast.CondExpr, live bool) bool {
	t, ok := fieldTargets[key]
	if !ok || t == rt.SetMode {
		c.errorf(spanOf(x), "M3", "%s cannot take a conditional value; capacity, eviction, frequency_decay, strategy and budget can", name)
		return false
	}
	if x.X == nil || x.Y == nil {
		c.incomplete = true
		return false
	}
	okD := c.scalar(s, key, name, x.X)
	a, okW := c.targetValue(t, name, x.Y)
	cond, okC := c.cond(x.Cond)
	if live && okW && okC {
		a.Pos = c.rtPos(x.Y.Pos())
		c.spec.Adapt.Rules = append(c.spec.Adapt.Rules, rt.Rule{
			Cond:     cond,
			Window:   1,
			Actions:  []rt.Action{a},
			Implicit: true,
			Pos:      c.rtPos(x.Pos()),
		})
	}
	if live && okW {
		c.pendings = append(c.pendings, pending{
			actions: []rt.Action{a},
			sites:   []actionSite{{at: spanOf(x.Y), text: name + " = " + x.Y.Value, cond: true}},
		})
	}
	return okD
}

// list resolves "pin = [...]" and "metrics = [...]".
func (c *checker) list(s *rt.Spec, key, name string, x *ast.ListLit, live bool) bool {
	ok := true
	switch key {
	case "cache.pin":
		pins := make([]int, 0, len(x.Elems))
		for _, e := range x.Elems {
			var n int
			if !c.setInt(&n, "pin", e) {
				ok = false
				continue
			}
			pins = append(pins, n)
		}
		s.Cache.Pin = pins
		if live && ok {
			c.pins, c.pinVals = x.Elems, pins
		}
	case "monitor.metrics":
		metrics := make([]rt.Metric, 0, len(x.Elems))
		for _, e := range x.Elems {
			m, good := word(c, e, "metrics", "metric", rt.MetricWords(), rt.ParseMetric)
			if !good {
				ok = false
				continue
			}
			metrics = append(metrics, m)
		}
		s.Monitor.Metrics = metrics
	default:
		c.errorf(spanOf(x), "M3", "%s must be a single value, found a list", name)
		return false
	}
	return ok
}

// ----------------------------------------------------------------------------
// Literals

// lit reports whether x holds a literal; the parser leaves an empty one
// where it could not read a value, and has said so.
func (c *checker) lit(x *ast.BasicLit) bool {
	if x == nil || x.Value == "" {
		c.incomplete = true
		return false
	}
	return true
}

// typeError reports a value of the wrong type (M3).
func (c *checker) typeError(x *ast.BasicLit, key, want string) {
	c.errorf(spanOf(x), "M3", "%s must be %s, found %q", key, want, x.Value)
}

// intValue returns the integer x holds.
func (c *checker) intValue(x *ast.BasicLit, key string) (int, bool) {
	if !c.lit(x) {
		return 0, false
	}
	if x.Kind != lexer.INT {
		c.typeError(x, key, "an integer")
		return 0, false
	}
	n, err := strconv.Atoi(x.Value)
	if err != nil {
		c.errorf(spanOf(x), diag.RuleSyntax, "integer %q is too large", x.Value)
		return 0, false
	}
	return n, true
}

// numValue returns the number x holds; an INT is a number too.
func (c *checker) numValue(x *ast.BasicLit, key string) (float64, bool) {
	if !c.lit(x) {
		return 0, false
	}
	if x.Kind != lexer.INT && x.Kind != lexer.NUMBER {
		c.typeError(x, key, "a number")
		return 0, false
	}
	f, err := strconv.ParseFloat(x.Value, 64)
	if err != nil {
		c.errorf(spanOf(x), diag.RuleSyntax, "number %q is out of range", x.Value)
		return 0, false
	}
	return f, true
}

func (c *checker) setInt(p *int, key string, x *ast.BasicLit) bool {
	n, ok := c.intValue(x, key)
	if ok {
		*p = n
	}
	return ok
}

func (c *checker) setNum(p *float64, key string, x *ast.BasicLit) bool {
	f, ok := c.numValue(x, key)
	if ok {
		*p = f
	}
	return ok
}

func (c *checker) setBool(p *bool, key string, x *ast.BasicLit) bool {
	if !c.lit(x) {
		return false
	}
	if x.Kind != lexer.IDENT || x.Value != "true" && x.Value != "false" {
		c.typeError(x, key, "true or false")
		return false
	}
	*p = x.Value == "true"
	return true
}

// word returns the enumeration value x spells, reporting a number (M3) or
// a word not in valid (a structure error, with a hint from valid).
func word[T any](c *checker, x *ast.BasicLit, key, what string, valid []string, parse func(string) (T, bool)) (T, bool) {
	var zero T
	if !c.lit(x) {
		return zero, false
	}
	if x.Kind != lexer.IDENT {
		c.typeError(x, key, "one of "+strings.Join(valid, ", "))
		return zero, false
	}
	v, ok := parse(x.Value)
	if !ok {
		c.errorf(spanOf(x), diag.RuleStructure, "%s", unknown(what, x.Value, valid))
		return zero, false
	}
	return v, true
}

func (c *checker) rtPos(p lexer.Pos) rt.Pos {
	pos := c.file.Position(p)
	return rt.Pos{File: c.file.Name(), Line: pos.Line, Col: pos.Column}
}
