package codegen

import (
	"fmt"

	"github.com/moepolicy/moec/rt"
)

// maxStates bounds the configurations a policy's adapt rules may reach:
// each is a Spec literal, a case of the dispatch switch and a row of the
// transition table, so a policy whose rules combine into more is refused.
const maxStates = 64

// machine is what adapt rules can do to a policy, worked out at build
// time by rt.Explore: every configuration (state) the rules can reach from
// the policy as written, state 0, and for each state and rule what firing
// the rule does. The generated code holds the states and finds the same
// transitions again when it runs (rt.Transitions).
type machine struct {
	states []*rt.Spec
	next   [][]rt.Transition // [state][rule]
}

func explore(spec *rt.Spec) (*machine, error) {
	states, next, err := rt.Explore(spec, maxStates)
	if err != nil {
		return nil, fmt.Errorf("%v, more than moec generates code for", err)
	}
	return &machine{states: states, next: next}, nil
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
