package policy

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/moepolicy/moec/rt"
)

// FormatOptions are what Format writes besides the policy itself.
type FormatOptions struct {
	// Header holds comment lines written before the version line, each
	// without its "#".
	Header []string

	// Keep lists keys, as Spec.KeyPos names them ("cache.eviction"), that
	// are written even when they hold their default.
	Keep []string

	// Comments holds comment lines written above keys, by Spec.KeyPos key,
	// each without its "#". A key with a comment must be written.
	Comments map[string][]string
}

// Format returns the .moe file that resolves to s: the version line, then
// the policy, in the layout of moec fmt, block by block and key by key in
// the order of rt's key table. A key is written when it differs from its
// default, when o keeps it, or when it has a conditional value; a monitor
// or per_layer block that keeps every default is written with its first
// key. The implicit rules of s are written as conditional values and the
// others in the adapt block, in order. o may be nil.
//
// Parsing and checking the result gives s again, positions and source
// text aside. Format returns an error instead for a Spec that has no such
// text: one that breaks a rule, that holds a value .moe cannot write (a
// negative number: .moe has no signs), or whose implicit rules are not
// conditional values in table order, one a key, before every other rule,
// as sema makes them.
func Format(s *rt.Spec, o *FormatOptions) ([]byte, error) {
	if o == nil {
		o = &FormatOptions{}
	}
	f := &formatter{spec: s, def: rt.NewSpec(s.Name, 0), keep: map[string]bool{}, written: map[string]bool{}}
	for _, b := range rt.Blocks() {
		rt.OpenBlock(f.def, b)
	}
	if err := f.format(o); err != nil {
		return nil, fmt.Errorf("policy %q cannot be written as .moe: %w", s.Name, err)
	}
	return f.buf.Bytes(), nil
}

// formatter writes one policy.
type formatter struct {
	spec     *rt.Spec
	def      *rt.Spec // every block at its defaults
	keep     map[string]bool
	written  map[string]bool    // the keys written
	implicit map[string]rt.Rule // the implicit rules, by the key they set
	explicit []rt.Rule
	buf      bytes.Buffer
}

func (f *formatter) format(o *FormatOptions) error {
	s := f.spec
	if !isIdent(s.Name) {
		return errors.New("its name is not an identifier")
	}
	if vs := s.Check(); len(vs) > 0 {
		return errors.New(vs[0].Msg)
	}
	for _, k := range o.Keep {
		if _, ok := rt.LookupPath(k); !ok {
			return fmt.Errorf("unknown key %q to keep", k)
		}
		f.keep[k] = true
	}
	if err := f.splitRules(); err != nil {
		return err
	}
	for _, line := range o.Header {
		f.comment(0, line)
	}
	f.line(0, "version 1.0")
	f.line(0, "")
	f.line(0, "policy "+s.Name+" {")
	for _, b := range rt.Blocks() {
		if err := f.block(b, o.Comments); err != nil {
			return err
		}
	}
	f.line(0, "}")
	for _, k := range slices.Sorted(maps.Keys(o.Comments)) {
		if !f.written[k] {
			return fmt.Errorf("a comment on %q, which is not written", k)
		}
	}
	return nil
}

// splitRules sorts the rules into conditional values and adapt rules.
func (f *formatter) splitRules() error {
	order := map[string]int{}
	for _, b := range rt.Blocks() {
		for _, k := range rt.Keys(b) {
			order[k.Path()] = len(order)
		}
	}
	f.implicit = map[string]rt.Rule{}
	last := -1
	for i, r := range f.spec.Adapt.Rules {
		if !r.Implicit {
			f.explicit = append(f.explicit, r)
			continue
		}
		if len(f.explicit) > 0 {
			return fmt.Errorf("rule %d is implicit but comes after an explicit rule", i+1)
		}
		if r.Window != 1 || len(r.Actions) != 1 {
			return fmt.Errorf("rule %d is implicit but has %d actions and window %d", i+1, len(r.Actions), r.Window)
		}
		path := r.Actions[0].Target.Key()
		if k, ok := rt.LookupPath(path); !ok || !k.Cond {
			return fmt.Errorf("rule %d is implicit but %s cannot take a conditional value", i+1, path)
		}
		if order[path] <= last {
			return fmt.Errorf("rule %d is implicit on %s, out of the order of the keys or a second one on it", i+1, path)
		}
		last = order[path]
		f.implicit[path] = r
	}
	return nil
}

// block writes the block called name, if the policy has it and it holds
// anything to write.
func (f *formatter) block(name string, comments map[string][]string) error {
	if !rt.HasBlock(f.spec, name) {
		return nil
	}
	keys := rt.Keys(name)
	var items []item
	for _, k := range keys {
		text, ok, err := f.key(k, f.keep[k.Path()])
		if err != nil {
			return err
		}
		if ok {
			items = append(items, item{path: k.Path(), lines: []string{text}})
		}
	}
	if name == "adapt" {
		for _, r := range f.explicit {
			lines, err := rule(r)
			if err != nil {
				return err
			}
			items = append(items, item{lines: lines})
		}
	}
	if len(items) == 0 {
		if rt.HasBlock(rt.NewSpec("", 0), name) {
			return nil // the block is there whether written or not
		}
		// A block cannot be empty: write one key, at its default.
		text, _, err := f.key(keys[0], true)
		if err != nil {
			return err
		}
		items = append(items, item{path: keys[0].Path(), lines: []string{text}})
	}
	f.line(1, name+" {")
	for _, it := range items {
		for _, c := range comments[it.path] {
			f.comment(2, c)
		}
		if it.path != "" {
			f.written[it.path] = true
		}
		for i, l := range it.lines {
			depth := 2
			if i > 0 && i < len(it.lines)-1 {
				depth = 3
			}
			f.line(depth, l)
		}
	}
	f.line(1, "}")
	return nil
}

// An item is what a block holds: a key, or an adapt rule of one or more
// lines.
type item struct {
	path  string // the key's, "" for a rule
	lines []string
}

// key returns "key = value" for k, and false when k is not to be written:
// it holds no value, or its default, unless keep.
func (f *formatter) key(k rt.KeyDef, keep bool) (string, bool, error) {
	v, set := k.Get(f.spec)
	r, cond := f.implicit[k.Path()]
	if !set {
		return "", false, nil
	}
	if d, _ := k.Get(f.def); !cond && !keep && v.Equal(d) {
		return "", false, nil
	}
	if !cond {
		text, err := literal(k, v)
		return k.Name + " = " + text, true, err
	}
	d, err := single(k, v)
	if err != nil {
		return "", false, err
	}
	w, err := actionText(r.Actions[0])
	if err != nil {
		return "", false, err
	}
	_, w, _ = strings.Cut(w, " = ")
	c, err := condText(r.Cond)
	return k.Name + " = " + d + " : " + w + " " + c, true, err
}

// rule returns the lines of an explicit adapt rule, as moec fmt lays it
// out: one line for one action, else the actions one a line.
func rule(r rt.Rule) ([]string, error) {
	head, err := condText(r.Cond)
	if err != nil {
		return nil, err
	}
	if r.Window != 1 {
		head += fmt.Sprintf(" for %d accesses", r.Window)
	}
	if len(r.Actions) == 0 {
		return nil, fmt.Errorf("rule %q has no actions", head)
	}
	var actions []string
	seen := map[rt.Target]bool{}
	for _, a := range r.Actions {
		if seen[a.Target] {
			return nil, fmt.Errorf("rule %q has two actions on %v", head, a.Target.Key())
		}
		seen[a.Target] = true
		text, err := actionText(a)
		if err != nil {
			return nil, err
		}
		actions = append(actions, text)
	}
	if len(actions) == 1 {
		return []string{head + " { " + actions[0] + " }"}, nil
	}
	return append(append([]string{head + " {"}, actions...), "}"), nil
}

// actionText returns an action as written in an adapt rule.
func actionText(a rt.Action) (string, error) {
	switch a.Target {
	case rt.TriggerMemoryPressure:
		return a.String(), nil
	case rt.Rebalance:
		if a.Signal.String() == "?" {
			return "", fmt.Errorf("unknown allocation signal %d", a.Signal)
		}
		return a.String(), nil
	}
	k, known := rt.LookupPath(a.Target.Key())
	v, ok := a.Value()
	if !known || !ok {
		return "", fmt.Errorf("unknown adapt action target %d", a.Target)
	}
	text, err := single(k, v)
	return k.Name + " = " + text, err
}

// condText returns "when METRIC OP THRESHOLD".
func condText(c rt.Cond) (string, error) {
	if !c.Metric.RuleMetric() || c.Op.String() == "?" {
		return "", fmt.Errorf("condition %v cannot be written", c)
	}
	t, err := number(c.Threshold)
	return "when " + c.Metric.String() + " " + c.Op.String() + " " + t, err
}

// single returns v as one literal, as the parts of a conditional value
// and actions are written: a composition "A | B" that one word also spells
// ("fallback" for lfu | lru) is written as that word.
func single(k rt.KeyDef, v rt.Value) (string, error) {
	if v.Kind != rt.WordKind || len(v.Words) < 2 {
		return literal(k, v)
	}
	for _, w := range k.Words() {
		s := rt.NewSpec("", 0)
		if k.Set(s, rt.WordValue(w)) != nil {
			continue
		}
		if got, _ := k.Get(s); got.Equal(v) {
			return w, nil
		}
	}
	return "", fmt.Errorf("%s %s %s has no single word, as a conditional value or an action needs", k.Block, k.Name, v)
}

// literal returns v as written in .moe, or an error for what .moe cannot
// write: a number below 0 or not finite, a word the key does not take.
func literal(k rt.KeyDef, v rt.Value) (string, error) {
	for _, n := range slices.Concat(v.Ints, []int{v.Int}) {
		if n < 0 {
			return "", fmt.Errorf("%s %s %s: .moe has no negative numbers", k.Block, k.Name, v)
		}
	}
	if _, err := number(v.Num); err != nil {
		return "", fmt.Errorf("%s %s: %w", k.Block, k.Name, err)
	}
	for _, w := range v.Words {
		if !slices.Contains(k.Words(), w) {
			return "", fmt.Errorf("%s %s: unknown %s %q", k.Block, k.Name, k.What, w)
		}
	}
	return v.String(), nil
}

// number returns f as .moe writes it.
func number(f float64) (string, error) {
	if f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("%v cannot be written: .moe numbers are finite and not negative", f)
	}
	return rt.FormatNumber(f), nil
}

// line writes text at depth levels of indentation; an empty text writes
// an empty line.
func (f *formatter) line(depth int, text string) {
	if text != "" {
		f.buf.WriteString(strings.Repeat("    ", depth) + text)
	}
	f.buf.WriteByte('\n')
}

// comment writes "# text", or "#" for an empty text.
func (f *formatter) comment(depth int, text string) {
	if text == "" {
		f.line(depth, "#")
		return
	}
	f.line(depth, "# "+text)
}
