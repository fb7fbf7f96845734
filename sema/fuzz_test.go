package sema

import (
	"strings"
	"testing"

	"github.com/moepolicy/moec/internal/moetest"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/parser"
)

// FuzzCheck parses and checks any input. Check must not panic, every
// diagnostic must point inside the file, and every policy Check returns
// must be valid, as must what each of its adapt rules would make of it.
func FuzzCheck(f *testing.F) {
	for _, src := range moetest.Files(f, "testdata/*.moe", "../examples/*.moe") {
		f.Add(src)
	}
	f.Add([]byte(fullPolicy))
	f.Add([]byte("policy p { cache { capacity = 8 : 0 when hit_rate < 0.5 } }"))
	f.Add([]byte("version 9\npolicy p { cache { capacity = 99999999999999999999 pin = [1e9] } }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, pdiags := parser.ParseFile("fuzz.moe", src)
		specs, sdiags := Check(file)
		inside := func(what string, p lexer.Position) {
			if p.Line < 1 || p.Column < 1 || p.Offset < 0 || p.Offset > len(src) {
				t.Errorf("%s position %+v outside the file (%d bytes)", what, p, len(src))
			}
		}
		for _, d := range append(pdiags, sdiags...) {
			inside(d.Msg, d.Pos)
			if d.End.IsValid() && (d.End.Offset < d.Pos.Offset || d.End.Offset > len(src)) {
				t.Errorf("%s: end %+v before its start %+v or outside the file", d.Msg, d.End, d.Pos)
			}
			for _, r := range d.Related {
				inside(r.Msg, r.Pos)
			}
			if d.Rule == "" || d.Msg == "" {
				t.Errorf("malformed diagnostic %q (rule %q)", d.Msg, d.Rule)
			}
		}
		for _, d := range sdiags {
			if strings.HasSuffix(d.Msg, ".") || 'A' <= d.Msg[0] && d.Msg[0] <= 'Z' {
				t.Errorf("diagnostic %q starts upper case or ends with a period", d.Msg)
			}
		}
		if len(pdiags) == 0 && len(sdiags) == 0 && len(specs) != len(file.Policies) {
			t.Errorf("no diagnostics, but %d specs for %d policies", len(specs), len(file.Policies))
		}
		for _, s := range specs {
			if v := s.Check(); v != nil {
				t.Errorf("returned policy %q breaks %v", s.Name, v)
			}
			if !strings.HasPrefix(s.Source, "policy") || !strings.HasSuffix(s.Source, "}") {
				t.Errorf("policy %q: Source %q", s.Name, s.Source)
			}
			for _, r := range s.Adapt.Rules {
				u := s
				for _, a := range r.Actions {
					u = a.Apply(u)
				}
				if v := u.Check(); v != nil {
					t.Errorf("policy %q: rule %v would make %v", s.Name, r.Cond, v)
				}
			}
		}
	})
}
