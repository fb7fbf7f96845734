package sema

import (
	"errors"
	"slices"
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
	if !rt.IsBlock(name) {
		// The parser drops unknown blocks; a tree built another way may
		// still hold one.
		c.errorf(spanOf(b.Name), diag.RuleStructure, "%s", unknown("block", name, rt.Blocks()))
		return
	}
	rt.OpenBlock(s, name)
	switch name {
	case "cache":
		if live {
			c.cache = b
		}
	case "adapt":
		c.adapts = append(c.adapts, adaptBlock{b, live})
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

// field resolves one "key = value" of block into s, the key as rt's key
// table describes it.
func (c *checker) field(s *rt.Spec, block string, f *ast.Field, live bool) {
	name := f.Key.Name
	k, known := rt.LookupKey(block, name)
	if !known {
		// The parser rejects unknown keys; a tree built another way may
		// still hold one.
		c.errorf(spanOf(f.Key), diag.RuleStructure, "unknown %s key %q", block, name)
		return
	}
	at := spanOf(f.Value)
	var ok bool
	switch x := f.Value.(type) {
	case *ast.BadExpr:
		c.incomplete = true
	case *ast.BasicLit:
		ok = c.scalar(s, k, name, x, live)
	case *ast.PipeExpr:
		ok = c.pipeValue(s, k, name, x, live)
		if live && ok {
			c.pipe = x
		}
	case *ast.CondExpr:
		at = spanOf(x.X)
		ok = c.condValue(s, k, name, x, live)
	case *ast.ListLit:
		ok = c.list(s, k, name, x, live)
	default:
		c.incomplete = true
	}
	if !live {
		return
	}
	c.written(k.Path(), at)
	if !ok {
		c.bad[k.Path()] = true
	}
}

// scalar resolves a key written with a single literal.
func (c *checker) scalar(s *rt.Spec, k rt.KeyDef, name string, x *ast.BasicLit, live bool) bool {
	v, ok := c.value(k, name, x)
	return ok && c.set(s, k, v, x, live)
}

// set stores v as k's value in s. A value the key cannot take although
// it is of the right form (cpu_expert_ms written as 0, M11) breaks a rule
// of the policy, reported at x when live: a duplicate's values are not
// the policy's.
func (c *checker) set(s *rt.Spec, k rt.KeyDef, v rt.Value, x ast.Node, live bool) bool {
	err := k.Set(s, v)
	var broken rt.Violation
	switch {
	case err == nil:
		return true
	case errors.As(err, &broken):
		if live {
			c.errorf(spanOf(x), broken.Rule, "%s", broken.Msg)
		}
	default:
		c.errorf(spanOf(x), diag.RuleStructure, "%v", err)
	}
	return false
}

// pipeValue resolves "eviction = A | B".
func (c *checker) pipeValue(s *rt.Spec, k rt.KeyDef, name string, x *ast.PipeExpr, live bool) bool {
	if !k.Pipe {
		c.errorf(spanOf(x), "M3", "%s cannot be a composition A | B; only %s can", name, rt.PipeKeys())
		return false
	}
	if x.X == nil || x.Y == nil {
		c.incomplete = true
		return false
	}
	a, okA := c.word(x.X, name, k.What, k.Words())
	b, okB := c.word(x.Y, name, k.What, k.Words())
	return okA && okB && c.set(s, k, rt.PipeValue(a, b), x, live)
}

// condValue resolves "key = D : W when m op t": the policy gets D and, when
// live, an implicit adapt rule whose action sets W.
func (c *checker) condValue(s *rt.Spec, k rt.KeyDef, name string, x *ast.CondExpr, live bool) bool {
	if !k.Cond {
		c.errorf(spanOf(x), "M3", "%s cannot take a conditional value; %s can", name, rt.CondKeys())
		return false
	}
	if x.X == nil || x.Y == nil {
		c.incomplete = true
		return false
	}
	okD := c.scalar(s, k, name, x.X, live)
	a, okW := c.targetValue(k, name, x.Y)
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
func (c *checker) list(s *rt.Spec, k rt.KeyDef, name string, x *ast.ListLit, live bool) bool {
	ok := true
	var v rt.Value
	switch k.Kind {
	case rt.IntListKind:
		ints := make([]int, 0, len(x.Elems))
		for _, e := range x.Elems {
			n, good := c.intValue(e, name)
			if !good {
				ok = false
				continue
			}
			ints = append(ints, n)
		}
		v = rt.IntListValue(ints...)
		if live && ok && k.Path() == "cache.pin" {
			c.pins, c.pinVals = x.Elems, ints // for rule 2's blame
		}
	case rt.WordListKind:
		words := make([]string, 0, len(x.Elems))
		for _, e := range x.Elems {
			w, good := c.word(e, name, k.What, k.Words())
			if !good {
				ok = false
				continue
			}
			words = append(words, w)
		}
		v = rt.WordListValue(words...)
	default:
		c.errorf(spanOf(x), "M3", "%s must be a single value, found a list", name)
		return false
	}
	// The good elements are kept, as far as they go.
	return c.set(s, k, v, x, live) && ok
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

// value returns the value the literal x gives key k, written name, with
// the type k's kind demands.
func (c *checker) value(k rt.KeyDef, name string, x *ast.BasicLit) (rt.Value, bool) {
	switch k.Kind {
	case rt.IntKind:
		n, ok := c.intValue(x, name)
		return rt.IntValue(n), ok
	case rt.NumberKind:
		f, ok := c.numValue(x, name)
		return rt.NumberValue(f), ok
	case rt.BoolKind:
		b, ok := c.boolValue(x, name)
		return rt.BoolValue(b), ok
	case rt.WordKind:
		w, ok := c.word(x, name, k.What, k.Words())
		return rt.WordValue(w), ok
	}
	c.typeError(x, name, "a list")
	return rt.Value{}, false
}

// boolValue returns the boolean x holds.
func (c *checker) boolValue(x *ast.BasicLit, key string) (bool, bool) {
	if !c.lit(x) {
		return false, false
	}
	if x.Kind != lexer.IDENT || x.Value != "true" && x.Value != "false" {
		c.typeError(x, key, "true or false")
		return false, false
	}
	return x.Value == "true", true
}

// word returns the word x holds, reporting a number (M3) or a word not in
// valid (a structure error, with a hint from valid); what names the
// words' enumeration.
func (c *checker) word(x *ast.BasicLit, key, what string, valid []string) (string, bool) {
	if !c.lit(x) {
		return "", false
	}
	if x.Kind != lexer.IDENT {
		c.typeError(x, key, "one of "+strings.Join(valid, ", "))
		return "", false
	}
	if !slices.Contains(valid, x.Value) {
		c.errorf(spanOf(x), diag.RuleStructure, "%s", unknown(what, x.Value, valid))
		return "", false
	}
	return x.Value, true
}

func (c *checker) rtPos(p lexer.Pos) rt.Pos {
	pos := c.file.Position(p)
	return rt.Pos{File: c.file.Name(), Line: pos.Line, Col: pos.Column}
}
