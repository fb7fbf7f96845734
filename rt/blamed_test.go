package rt_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/rt"
)

// reported returns the rules of the violations a front end reports, each
// blamed on its first value that written says was written.
func reported(vs []rt.Violation, written map[string]bool) []string {
	blamed := rt.Blamed{}
	var rules []string
	for _, v := range vs {
		if blamed.Repeats(v) {
			continue
		}
		key := ""
		for _, k := range v.Fields {
			if written[k] {
				key = k
				break
			}
		}
		blamed.Blame(v, key)
		rules = append(rules, v.Rule)
	}
	return rules
}

func TestBlamed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(s *rt.Spec)
		written []string
		want    []string
	}{
		// Rule 10 about the default budget only repeats rule 1.
		{"capacity 0", func(s *rt.Spec) { s.Cache.Capacity = 0 }, []string{"cache.capacity"}, []string{"R1"}},
		// A written budget too: still the capacity's one mistake.
		{"capacity 0, budget written", func(s *rt.Spec) { s.Cache.Capacity, s.Prefetch.Budget = 0, 2 },
			[]string{"cache.capacity", "prefetch.budget"}, []string{"R1"}},
		// Too many pins (blamed on the pins) and the budget above the
		// capacity (blamed on the capacity) are two mistakes.
		{"capacity 2, 3 pins", func(s *rt.Spec) { s.Cache.Capacity, s.Cache.Pin = 2, []int{1, 2, 3} },
			[]string{"cache.capacity", "cache.pin"}, []string{"R3", "R10"}},
		// Nothing written: each violation blames its first value.
		{"threshold out of range", func(s *rt.Spec) {
			s.Cache.MemoryPressure, s.Cache.MemoryThreshold, s.Cache.MemoryBudgetGB = true, 2, 16
			s.Cache.MemoryHeadroom = 3
		}, nil, []string{"R16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := rt.NewSpec("p", 8)
			tc.edit(s)
			written := map[string]bool{}
			for _, k := range tc.written {
				written[k] = true
			}
			if diff := cmp.Diff(tc.want, reported(s.Check(), written)); diff != "" {
				t.Errorf("reported rules (-want +got):\n%s", diff)
			}
		})
	}
}
