package codegen

import (
	"fmt"
	"reflect"

	"github.com/moepolicy/moec/rt"
)

// maxStates bounds the configurations a policy's adapt rules may reach:
// each becomes code, so a policy whose rules combine into more is refused.
const maxStates = 64

// machine is what adapt rules can do to a policy, worked out at build
// time: every configuration (state) the rules can reach from the policy as
// written, state 0, and for each state and rule what firing the rule does.
type machine struct {
	states []*rt.Spec
	next   [][]transition // [state][rule]
}

// transition is the outcome of a rule firing in a state.
type transition struct {
	skip      string // the reason the result is invalid; "" when valid
	swap      bool   // the rule changes the policy (any action but rebalance)
	to        int    // the state after the swap
	rebalance bool
	signal    rt.Allocation
}

// explore computes the machine of spec the way the interpreter's adapt
// engine runs it: a rule's actions are applied together to the running
// policy, the result checked, and an invalid one skipped.
func explore(spec *rt.Spec) (*machine, error) {
	m := &machine{states: []*rt.Spec{spec}}
	for s := 0; s < len(m.states); s++ {
		row := make([]transition, len(spec.Adapt.Rules))
		for r, rule := range spec.Adapt.Rules {
			var t transition
			for _, a := range rule.Actions {
				if a.Target == rt.Rebalance {
					t.rebalance, t.signal = true, a.Signal
				} else {
					t.swap = true
				}
			}
			next, vs := rt.ApplyActions(m.states[s], rule.Actions, nil)
			if len(vs) > 0 {
				t.skip = vs[0].Msg
			}
			if t.skip == "" && t.swap {
				t.to = m.find(next)
				if t.to < 0 {
					if len(m.states) == maxStates {
						return nil, fmt.Errorf("%s: policy %q: its adapt rules reach more than %d configurations, more than moec generates code for", spec.Pos, spec.Name, maxStates)
					}
					t.to = len(m.states)
					m.states = append(m.states, next)
				}
			}
			row[r] = t
		}
		m.next = append(m.next, row)
	}
	return m, nil
}

// find returns the state equal to s, or -1.
func (m *machine) find(s *rt.Spec) int {
	for i, t := range m.states {
		if sameConfig(s, t) {
			return i
		}
	}
	return -1
}

// sameConfig reports whether two specs configure the same policy.
func sameConfig(a, b *rt.Spec) bool {
	x, y := *a, *b
	x.KeyPos, y.KeyPos = nil, nil
	return reflect.DeepEqual(&x, &y)
}

// variant is what a state's dispatch code depends on: the cache's kind,
// the prefetcher's, and whether memory pressure is on. States that share
// a variant share code and differ only in numbers held in fields.
type variant struct {
	eviction, primary, secondary rt.Eviction
	strategy                     rt.PrefetchStrategy
	memory                       bool
}

func variantOf(s *rt.Spec) variant {
	v := variant{eviction: s.Cache.Eviction, strategy: s.Prefetch.Strategy, memory: s.Cache.MemoryPressure}
	if v.eviction == rt.Fallback {
		v.primary, v.secondary = s.Cache.Primary, s.Cache.Secondary
	}
	return v
}
