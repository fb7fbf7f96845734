package rt

import "strings"

// adapter runs the adapt rules after every dispatch (reference §3.4, with
// moec's warm swap): a rule whose condition held for its window of
// consecutive dispatches, outside its cooldown, applies its actions
// together. The resulting policy is checked; an invalid one is skipped and
// logged. A valid one replaces the running policy in place: residents stay
// resident, totals keep counting, and the rules' metrics restart.
type adapter struct {
	rules     []Rule
	cooldown  int64
	streak    []int
	lastFired []int64
	base      Counters // totals at the last swap

	adaptations, skipped int64
	log                  []AdaptEntry
	skippedLog           []SkippedEntry
}

func newAdapter(s AdaptSpec) *adapter {
	a := &adapter{rules: s.Rules, cooldown: int64(s.Cooldown),
		streak: make([]int, len(s.Rules)), lastFired: make([]int64, len(s.Rules))}
	for i := range a.lastFired {
		a.lastFired[i] = -a.cooldown - 1
	}
	return a
}

func (a *adapter) stats() *AdaptStats {
	return &AdaptStats{
		Adaptations: a.adaptations, Skipped: a.skipped,
		Log:        append([]AdaptEntry{}, a.log...),
		SkippedLog: append([]SkippedEntry{}, a.skippedLog...),
	}
}

// adapt checks the rules after a dispatch.
func (p *interp) adapt(plan *Plan) {
	a := p.ad
	for r := range a.rules {
		rule := &a.rules[r]
		step := p.l.Step()
		if step-a.lastFired[r] < a.cooldown {
			a.streak[r] = 0
			continue
		}
		if rule.Cond.Holds(p.l.Metric(rule.Cond.Metric, a.base)) {
			a.streak[r]++
		} else {
			a.streak[r] = 0
		}
		if a.streak[r] >= rule.Window {
			a.streak[r] = 0
			a.lastFired[r] = step
			p.fire(r, plan)
		}
	}
}

// fire applies rule r's actions.
func (p *interp) fire(r int, plan *Plan) {
	a := p.ad
	rule := &a.rules[r]
	next, vs := ApplyActions(p.spec, rule.Actions, nil)
	if len(vs) > 0 {
		a.skipped++
		a.skippedLog = append(a.skippedLog, SkippedEntry{Step: p.l.Step(), Rule: r, Actions: actionsString(rule.Actions), Reason: vs[0].Msg})
		return
	}
	rebalance, signal := false, Uniform
	for _, act := range rule.Actions {
		if act.Target == Rebalance {
			rebalance, signal = true, act.Signal
		}
	}
	if next != p.spec {
		p.swap(next, plan)
		a.base = p.l.Counters()
	}
	if rebalance {
		p.rebalance(signal, plan)
	}
	a.adaptations++
	a.log = append(a.log, AdaptEntry{Step: p.l.Step(), Rule: r, Actions: actionsString(rule.Actions)})
}

func actionsString(acts []Action) string {
	s := make([]string, len(acts))
	for i, a := range acts {
		s[i] = a.String()
	}
	return strings.Join(s, "; ")
}

// swap makes next the running policy, keeping the warm state: the caches
// keep their residents (rebuilt in the new kind's order when the eviction
// kind changes, trimmed by it when the capacity shrinks), and the
// counters, the monitor and the per-layer windows go on. A new prefetch
// strategy starts with an empty history.
func (p *interp) swap(next *Spec, plan *Plan) {
	old := p.spec
	p.spec = next
	rebuild := KindChanged(&old.Cache, &next.Cache)
	if p.pl == nil {
		p.refit(p.stores[0], -1, next.Cache.Capacity, rebuild, plan)
	} else {
		if old.Cache.Capacity != next.Cache.Capacity && next.PerLayer.TotalBudget == 0 {
			p.pl.SetTotal(p.shape.Layers * next.Cache.Capacity)
			p.pl.Rebalance(p.l.Step(), next.PerLayer.Allocation)
		}
		for l, st := range p.stores {
			p.refit(st, l, p.pl.caps[l], rebuild, plan)
		}
	}
	for l, st := range p.stores {
		if p.pl == nil {
			l = -1
		}
		p.setTriggers(st, l)
	}
	if old.Prefetch.Strategy != next.Prefetch.Strategy {
		p.configure()
	}
	p.budget = next.Prefetch.Budget
	p.setMisses(next)
}

// refit gives a store's cache the running kind and capacity slots.
func (p *interp) refit(st *store, layer, capacity int, rebuild bool, plan *Plan) {
	if rebuild {
		st.c = Rebuild(st.c, NewCache(&p.spec.Cache, p.shape, layer, capacity), p.l.Effects())
	} else {
		Reconfigure(st.c, &p.spec.Cache, capacity, p.l.Effects())
	}
	p.l.Settle(plan)
}
