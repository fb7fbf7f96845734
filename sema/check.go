package sema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/internal/spell"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/rt"
)

// MaxVersion is the newest language version moec reads.
const MaxVersion = "1.0"

// Check resolves the policies of f into Specs and reports everything wrong
// with them: structural errors, the reference's 20 rules, and moec's rules
// (see the package documentation). It never changes f and skips the Bad
// nodes the parser left, without reporting them again.
//
// Check returns the Specs of the policies, in file order, that have no
// diagnostics of their own and that the parser read completely (no Bad
// nodes, no dropped blocks, every brace closed). A diagnostic anywhere in
// the file, a parser's one included, still means the file is invalid:
// callers treat any diagnostic as failure. The diagnostics are sorted.
func Check(f *ast.File) ([]*rt.Spec, diag.Diagnostics) {
	var (
		diags diag.Diagnostics
		specs []*rt.Spec
	)
	if v := f.Version; v != nil && v.Value != nil && v.Value.Value != "" {
		n, err := strconv.ParseFloat(v.Value.Value, 64)
		if limit, _ := strconv.ParseFloat(MaxVersion, 64); err == nil && n > limit {
			diags.Add(f.Source, v.Value.Pos(), v.Value.End(), diag.RuleStructure,
				"version %s is newer than this moec supports (%s)", v.Value.Value, MaxVersion)
		}
	}
	first := map[string]*ast.Policy{}
	for _, p := range f.Policies {
		c := newChecker(f.Source, p)
		if p.Name != nil && p.Name.Name != "" {
			if prev, dup := first[p.Name.Name]; dup {
				// Whichever a command picked by name, the other would be
				// silently ignored.
				d := c.errorf(spanOf(p.Name), diag.RuleStructure, "duplicate policy name %q", p.Name.Name)
				c.related(d, prev.Name.Pos(), "first policy %q here", p.Name.Name)
			} else {
				first[p.Name.Name] = p
			}
		}
		s := c.check()
		if len(c.diags) == 0 && !c.incomplete {
			specs = append(specs, s)
		}
		diags = append(diags, c.diags...)
	}
	diags.Sort()
	return specs, diags
}

// span is where a value is written.
type span struct{ pos, end lexer.Pos }

func spanOf(n ast.Node) span { return span{n.Pos(), n.End()} }

// A checker resolves and checks one policy.
type checker struct {
	file  *lexer.File
	pol   *ast.Policy
	spec  *rt.Spec
	diags diag.Diagnostics

	// incomplete is set when part of the policy could not be read (a Bad
	// node, a dropped block, a missing "}"): the parser has reported it,
	// and the Spec is not returned.
	incomplete bool

	// spans holds where each written value is, by KeyPos key, plus
	// "adapt.rules[i].window" for rule windows. bad holds the keys whose
	// value was reported or could not be read: no rule is reported about
	// them, so one mistake gives one diagnostic.
	spans map[string]span
	bad   map[string]bool

	// lossy holds the blocks that may have lost keys to a syntax error (a
	// bad item, an empty or unclosed block); every block may have when the
	// parser dropped a block. A default there is not known to be what the
	// user meant, so no rule is reported about it either.
	lossy map[string]bool

	cache    *ast.Block      // the first cache block
	pins     []*ast.BasicLit // the elements of pin, for rule 2
	pinVals  []int
	pipe     *ast.PipeExpr // eviction = A | B, for M1
	adapts   []adaptBlock  // adapt blocks, read after the others
	pendings []pending     // actions to validate against the resolved policy
}

type adaptBlock struct {
	b    *ast.Block
	live bool
}

// A pending is an adapt rule, or a conditional value, whose actions are
// validated by checking the policy they would produce.
type pending struct {
	actions []rt.Action
	sites   []actionSite
}

// actionSite is where an action is written and how to quote it.
type actionSite struct {
	at   span   // its value
	text string // "capacity = 0"
	cond bool   // a conditional value, not an adapt action
}

func newChecker(file *lexer.File, p *ast.Policy) *checker {
	name := ""
	if p.Name != nil {
		name = p.Name.Name
	}
	s := rt.NewSpec(name, 0)
	pos := file.Position(p.Keyword)
	s.Pos = rt.Pos{File: file.Name(), Line: pos.Line, Col: pos.Column}
	src := file.Src()
	from, to := p.Pos().Offset(), p.End().Offset()
	if 0 <= from && from <= to && to <= len(src) {
		s.Source = string(src[from:to])
	}
	s.KeyPos = map[string]rt.Pos{}
	return &checker{
		file:       file,
		pol:        p,
		spec:       s,
		incomplete: p.Incomplete || !p.Rbrace.IsValid() || p.Name == nil || p.Name.Name == "" || len(p.Blocks) == 0,
		spans:      map[string]span{},
		bad:        map[string]bool{},
		lossy:      map[string]bool{},
	}
}

func (c *checker) errorf(at span, rule, format string, args ...any) *diag.Diagnostic {
	return c.diags.Add(c.file, at.pos, at.end, rule, format, args...)
}

// related adds "first ... here" to d.
func (c *checker) related(d *diag.Diagnostic, at lexer.Pos, format string, args ...any) {
	d.Related = append(d.Related, diag.Related{Pos: c.file.Position(at), Msg: fmt.Sprintf(format, args...)})
}

// nameSpan is where the policy's name is, for what has no better place.
func (c *checker) nameSpan() span {
	if c.pol.Name != nil {
		return spanOf(c.pol.Name)
	}
	return span{c.pol.Keyword, c.pol.Keyword + lexer.Pos(len("policy"))}
}

// written records where the value of key is.
func (c *checker) written(key string, at span) {
	c.spans[key] = at
	if !strings.HasPrefix(key, "adapt.rules[") {
		pos := c.file.Position(at.pos)
		c.spec.KeyPos[key] = rt.Pos{File: c.file.Name(), Line: pos.Line, Col: pos.Column}
	}
}

// check runs the passes of the package documentation in order and returns
// the resolved policy.
func (c *checker) check() *rt.Spec {
	// Pass 1: blocks, their keys and values, defaults, implicit rules.
	first := map[string]*ast.Block{}
	for _, b := range c.pol.Blocks {
		if b == nil || b.Name == nil {
			continue
		}
		if !b.Rbrace.IsValid() || len(b.Items) == 0 {
			c.incomplete = true // the parser has said so
		}
		name := b.Name.Name
		if prev, dup := first[name]; dup {
			d := c.errorf(spanOf(b.Name), diag.RuleStructure, "duplicate %q block in policy %q", name, c.spec.Name)
			c.related(d, prev.Name.Pos(), "first %q block here", name)
			c.block(c.spec.Clone(), b, false)
			continue
		}
		first[name] = b
		c.block(c.spec, b, true)
	}
	c.requireCapacity(first["cache"])

	// Pass 2: explicit adapt rules, which need to know the whole policy
	// (a rebalance needs a per_layer block). They come after the implicit
	// rules, whatever the order of the blocks.
	for _, a := range c.adapts {
		c.rules(a.b, a.live)
	}

	// Pass 3: the rules on the resolved policy.
	base := c.violations(c.spec)
	c.report(base)

	// Pass 4: every action on the policy it would produce.
	for _, p := range c.pendings {
		c.validate(p, base)
	}
	return c.spec
}

// requireCapacity reports a missing cache block or capacity. Capacity is
// then bad: the rules that read it would only repeat the error.
func (c *checker) requireCapacity(cache *ast.Block) {
	if _, ok := c.spans["cache.capacity"]; ok {
		return
	}
	c.bad["cache.capacity"] = true
	switch {
	case cache == nil:
		// A policy without blocks is a syntax error already.
		if !c.pol.Incomplete && len(c.pol.Blocks) > 0 && c.pol.Name != nil && c.pol.Name.Name != "" {
			c.errorf(c.nameSpan(), diag.RuleStructure, "policy %q has no cache block", c.spec.Name)
		}
	case len(cache.Items) > 0 && !hasBad(cache) && !hasKey(cache, "capacity"):
		c.errorf(spanOf(cache.Name), diag.RuleStructure, "cache block has no capacity")
	}
}

func hasBad(b *ast.Block) bool {
	return slices.ContainsFunc(b.Items, func(it ast.Item) bool { _, ok := it.(*ast.BadItem); return ok })
}

func hasKey(b *ast.Block, key string) bool {
	return slices.ContainsFunc(b.Items, func(it ast.Item) bool {
		f, ok := it.(*ast.Field)
		return ok && f.Key != nil && f.Key.Name == key
	})
}

// violations returns the rules s breaks that are reportable.
func (c *checker) violations(s *rt.Spec) []rt.Violation {
	var out []rt.Violation
	for _, v := range s.Check() {
		if c.reportable(v) {
			out = append(out, v)
		}
	}
	return out
}

// reportable reports whether v is about no value that is bad or a default
// that a syntax error may have hidden. The values that actions set are
// good whatever was written before.
func (c *checker) reportable(v rt.Violation, actions ...rt.Action) bool {
	bad := func(k string) bool {
		if slices.ContainsFunc(actions, func(a rt.Action) bool { return a.Target.Key() == k }) {
			return false
		}
		if c.bad[k] {
			return true
		}
		_, written := c.spans[k]
		block, _, _ := strings.Cut(k, ".")
		return !written && (c.pol.Incomplete || c.lossy[block])
	}
	return !slices.ContainsFunc(v.Fields, bad)
}

// report turns the rules the resolved policy breaks into diagnostics, each
// where blame says, dropping those that name a value already blamed
// (rt.Blamed): one mistake, one diagnostic.
func (c *checker) report(vs []rt.Violation) {
	blamed := rt.Blamed{}
	for _, v := range vs {
		if blamed.Repeats(v) {
			continue
		}
		at, key := c.blame(v)
		blamed.Blame(v, key)
		c.errorf(at, v.Rule, "%s", v.Msg)
	}
}

// blame returns where to report v and the value written there: the first
// of its values that was written, else the cache block's name or the
// policy's name, with no value.
func (c *checker) blame(v rt.Violation) (span, string) {
	switch v.Rule {
	case "R2":
		for i, n := range c.pinVals {
			if n < 0 || n > rt.MaxExpertID {
				return spanOf(c.pins[i]), "cache.pin"
			}
		}
	case "M1":
		if c.pipe != nil {
			if c.pipe.X.Value == "fallback" {
				return spanOf(c.pipe.X), "cache.eviction"
			}
			return spanOf(c.pipe.Y), "cache.eviction"
		}
	}
	for _, k := range v.Fields {
		if at, ok := c.spans[k]; ok {
			return at, k
		}
	}
	if len(v.Fields) > 0 && strings.HasPrefix(v.Fields[0], "cache.") && c.cache != nil {
		return spanOf(c.cache.Name), ""
	}
	return c.nameSpan(), ""
}

// validate applies the actions of p together to the resolved policy and
// reports each rule the result breaks that the policy did not (known), at
// the action that set the value the rule blames, once per mistake
// (rt.Blamed).
func (c *checker) validate(p pending, known []rt.Violation) {
	_, vs := rt.ApplyActions(c.spec, p.actions, known)
	blamed := rt.Blamed{}
	for _, v := range vs {
		// A rebalance without a per_layer block (M5) is reported where it
		// is written, or not at all where the parser may have dropped the
		// block.
		if v.Rule == "M5" || !c.reportable(v.Violation, p.actions...) || blamed.Repeats(v.Violation) {
			continue
		}
		blamed.Blame(v.Violation, p.actions[v.Action].Target.Key())
		site := p.sites[v.Action]
		what := "adapt action"
		if site.cond {
			what = "conditional value"
		}
		c.errorf(site.at, v.Rule, "%s %q would make an invalid policy: %s", what, site.text, v.Msg)
	}
}

// unknown is the message for a word that is not in valid: a suggestion
// when one is close, the list of valid words otherwise.
func unknown(what, word string, valid []string) string {
	if s := spell.Suggest(word, valid); s != "" {
		return fmt.Sprintf("unknown %s %q (did you mean %q?)", what, word, s)
	}
	return fmt.Sprintf("unknown %s %q (valid: %s)", what, word, joinWords(valid))
}

func joinWords(words []string) string { return strings.Join(words, ", ") }
