// Package diag holds moec's diagnostics: an error at a position in a .moe
// file, the list every stage of the front end (scanner, parser, sema)
// reports into, and the codes that say which check found it.
package diag

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/moepolicy/moec/lexer"
)

// Rule names the check a Diagnostic comes from, for tools that read
// diagnostics as data (moec check -json).
const (
	RuleSyntax    = "syntax"    // the lexer and the parser
	RuleStructure = "structure" // missing, duplicate or unknown parts of a policy
)

// A Diagnostic is one error in a source file.
type Diagnostic struct {
	Pos     lexer.Position // where the offending text starts
	End     lexer.Position // where it ends; may be invalid
	Msg     string         // lower case, no final period
	Rule    string         // RuleSyntax, RuleStructure, "R1".."R20" or a moec rule "M1"...
	Related []Related      // other places that explain this one
}

// Related is a position that helps explain a Diagnostic, such as the first
// of two duplicate keys.
type Related struct {
	Pos lexer.Position
	Msg string
}

// Error formats the diagnostic the way Go tools print errors:
// "file:line:col: message", then one tab-indented line per related place.
func (d *Diagnostic) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", d.Pos, d.Msg)
	for _, r := range d.Related {
		fmt.Fprintf(&b, "\n\t%s: %s", r.Pos, r.Msg)
	}
	return b.String()
}

// Diagnostics is a list of diagnostics. Its zero value is an empty list
// ready to use.
type Diagnostics []*Diagnostic

// Add appends a diagnostic for the span [pos, end) of f.
func (l *Diagnostics) Add(f *lexer.File, pos, end lexer.Pos, rule, format string, args ...any) *Diagnostic {
	d := &Diagnostic{Pos: f.Position(pos), Msg: fmt.Sprintf(format, args...), Rule: rule}
	if end.IsValid() {
		d.End = f.Position(end)
	}
	*l = append(*l, d)
	return d
}

// Sort orders the list by file, then position, then message, and drops
// exact duplicates.
func (l *Diagnostics) Sort() {
	slices.SortStableFunc(*l, func(a, b *Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.Pos.Filename, b.Pos.Filename),
			cmp.Compare(a.Pos.Offset, b.Pos.Offset),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	*l = slices.CompactFunc(*l, func(a, b *Diagnostic) bool {
		return a.Pos == b.Pos && a.Msg == b.Msg
	})
}

// Error joins the diagnostics, one per line.
func (l Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// Err returns the list as an error, or nil when it is empty.
func (l Diagnostics) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
