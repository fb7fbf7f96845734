package rt

import (
	"fmt"
	"reflect"
	"strconv"
)

// A Transition is what firing an adapt rule does in one configuration of
// a policy, as the adapt engine works it out when the rule fires.
type Transition struct {
	// Skip is why the policy the rule's actions make is invalid: the
	// first rule it breaks, logged as the firing's reason. "" when valid.
	Skip string
	// Swap says the rule changes the policy (it has an action other
	// than rebalance): the running configuration becomes To.
	Swap bool
	To   int
	// Rebalance says the rule re-splits the per-layer budget by Signal.
	Rebalance bool
	Signal    Allocation
}

// Explore works out ahead what spec's adapt rules can do: every
// configuration they can reach from spec, which is the first, in the order
// they are found (each configuration's rules in order), and what firing
// each rule does in each configuration, exactly as the adapt engine of
// New would decide it when the rule fires (ApplyActions). The
// configurations found share spec's Adapt.Rules. It fails when the rules
// reach more than max configurations.
//
// A code generator writes the configurations as data and the code that
// swaps between them; what the rules do is data too, found again when the
// generated code runs by Transitions, so that the code grows with the
// rules plus the configurations, not with their product.
func Explore(spec *Spec, max int) ([]*Spec, [][]Transition, error) {
	return explore([]*Spec{spec}, max)
}

// Transitions returns what firing each adapt rule does in each of states,
// which must hold every configuration the rules reach from states[0], as
// Explore finds them (in any order): the Transition of a swap names its
// configuration by its index in states. It fails when a rule leads out of
// states. Generated code calls it with the configurations Explore found
// when the code was generated.
func Transitions(states []*Spec) ([][]Transition, error) {
	if len(states) == 0 {
		return nil, fmt.Errorf("rt: no configurations")
	}
	_, next, err := explore(states, -1)
	return next, err
}

// explore finds the transitions of states, appending each configuration
// a rule reaches that is not among them, up to max in all; with max < 0
// such a configuration is an error.
func explore(states []*Spec, max int) ([]*Spec, [][]Transition, error) {
	spec := states[0]
	rules := spec.Adapt.Rules
	// The configurations without their rules, which no action changes:
	// what an action makes of them is cloned and checked without copying
	// the rules, and they compare quickly.
	bare := make([]*Spec, len(states))
	found := map[string][]int{} // configurations by key
	for i, s := range states {
		bare[i] = stripped(s)
		k := configKey(bare[i])
		found[k] = append(found[k], i)
	}
	reasons := map[string]string{} // one copy of each reason
	var next [][]Transition
	for s := 0; s < len(bare); s++ {
		row := make([]Transition, len(rules))
		for r, rule := range rules {
			t := &row[r]
			for _, a := range rule.Actions {
				if a.Target == Rebalance {
					t.Rebalance, t.Signal = true, a.Signal
				} else {
					t.Swap = true
				}
			}
			cfg, vs := ApplyActions(bare[s], rule.Actions, nil)
			if len(vs) > 0 {
				if _, ok := reasons[vs[0].Msg]; !ok {
					reasons[vs[0].Msg] = vs[0].Msg
				}
				t.Skip = reasons[vs[0].Msg]
				continue
			}
			if !t.Swap {
				continue
			}
			cfg.Adapt.Rules = nil // a fresh copy, as Apply clones: an empty list, not nil
			k := configKey(cfg)
			t.To = -1
			for _, i := range found[k] {
				if sameConfig(cfg, bare[i]) {
					t.To = i
					break
				}
			}
			if t.To >= 0 {
				continue
			}
			switch {
			case max < 0:
				return nil, nil, fmt.Errorf("policy %q: adapt rule %d (%s) makes of configuration %d one that is not among the %d given",
					spec.Name, r, actionsString(rule.Actions), s, len(states))
			case len(bare) == max:
				return nil, nil, fmt.Errorf("%s: policy %q: its adapt rules reach more than %d configurations", spec.Pos, spec.Name, max)
			}
			t.To = len(bare)
			found[k] = append(found[k], t.To)
			bare = append(bare, cfg)
			full := *cfg
			full.Adapt.Rules = rules
			states = append(states, &full)
		}
		next = append(next, row)
	}
	return states, next, nil
}

// stripped returns a shallow copy of s without its adapt rules and key
// positions, for exploring.
func stripped(s *Spec) *Spec {
	t := *s
	t.Adapt.Rules, t.KeyPos = nil, nil
	return &t
}

// sameConfig reports whether two configurations found from one policy
// configure the same policy, positions aside.
func sameConfig(a, b *Spec) bool {
	x, y := *a, *b
	x.KeyPos, y.KeyPos = nil, nil
	return reflect.DeepEqual(&x, &y)
}

// configKey sums up a configuration by the values of the keys adapt
// actions set, which are all that tell apart the configurations found
// from one policy.
func configKey(s *Spec) string {
	var b []byte
	for _, t := range targetTable {
		if k, ok := LookupPath(t.key); ok {
			v, on := k.Get(s)
			b = append(strconv.AppendBool(b, on), ' ')
			b = append(append(b, v.String()...), ';')
		}
	}
	return string(b)
}
