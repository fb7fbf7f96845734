package rt

import "slices"

// Blamed is the set of values (KeyPos keys, "cache.capacity") that a front
// end has reported a violation at. A later violation that names one of
// them is a consequence, not a second mistake, and is dropped: as go/types
// marks an operand invalid once it has reported it, one mistake gives one
// diagnostic. "capacity = 0" breaks rule 1, and rule 10's "prefetch budget
// 4 exceeds cache capacity 0" would only repeat it.
type Blamed map[string]bool

// Blame records that v was reported at its value key or, when v does not
// name key, at its first value.
func (b Blamed) Blame(v Violation, key string) {
	switch {
	case slices.Contains(v.Fields, key):
		b[key] = true
	case len(v.Fields) > 0:
		b[v.Fields[0]] = true
	}
}

// Repeats reports whether v names a value already blamed.
func (b Blamed) Repeats(v Violation) bool {
	return slices.ContainsFunc(v.Fields, func(k string) bool { return b[k] })
}
