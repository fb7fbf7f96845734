package diag

import (
	"testing"

	"github.com/moepolicy/moec/lexer"
)

func TestDiagnosticsSort(t *testing.T) {
	f := lexer.NewFile("p.moe", []byte("line one\nline two\n"))
	var l Diagnostics
	l.Add(f, lexer.PosOf(10), lexer.NoPos, RuleSyntax, "b")
	l.Add(f, lexer.PosOf(0), lexer.NoPos, RuleSyntax, "z")
	l.Add(f, lexer.PosOf(10), lexer.NoPos, RuleSyntax, "a")
	l.Add(f, lexer.PosOf(10), lexer.NoPos, RuleSyntax, "a") // duplicate
	d := l[0]
	d.Related = []Related{{Pos: f.Position(lexer.PosOf(2)), Msg: "first here"}}
	l.Sort()
	want := "p.moe:1:1: z\np.moe:2:2: a\np.moe:2:2: b\n\tp.moe:1:3: first here"
	if got := l.Error(); got != want {
		t.Errorf("sorted diagnostics:\n%s\nwant:\n%s", got, want)
	}
	if (Diagnostics{}).Err() != nil {
		t.Error("empty list Err() != nil")
	}
}
