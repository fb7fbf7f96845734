package parser_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/internal/moetest"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/parser"
	"github.com/rogpeppe/go-internal/txtar"
)

// seedFiles returns the .moe texts the repository ships: the examples, the
// checker's test files and the .moe files inside the CLI scripts.
func seedFiles(t testing.TB) [][]byte {
	seeds := moetest.Files(t, "../examples/*.moe", "../sema/testdata/*.moe", "../ast/testdata/format/*.moe")
	scripts, _ := filepath.Glob("../testdata/script/*.txtar")
	for _, name := range scripts {
		a, err := txtar.ParseFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			if filepath.Ext(f.Name) == ".moe" {
				seeds = append(seeds, f.Data)
			}
		}
	}
	return seeds
}

// FuzzParse checks the parser's invariants on any input: it does not
// panic, every diagnostic lies inside the file, node spans nest, and a file
// without errors formats to text that parses to the same tree and formats
// to itself.
func FuzzParse(f *testing.F) {
	for _, s := range seedFiles(f) {
		f.Add(s)
	}
	f.Add([]byte(`policy p { cache { capacity = 4 eviction = lfu | lru } }`))
	f.Add([]byte("policy p { # c\n cache { capacity = 8 : 16 when hit_rate < 0.5 } # d\n}\n# e"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := parser.ParseFile("fuzz.moe", src)
		for _, d := range diags {
			checkInside(t, d.Pos, len(src))
			if d.End.IsValid() {
				checkInside(t, d.End, len(src))
			}
		}
		checkSpans(t, file, len(src))
		if len(diags) > 0 {
			return
		}
		out := ast.Format(file)
		file2, diags2 := parser.ParseFile("fuzz.moe", out)
		if len(diags2) > 0 {
			t.Fatalf("formatted output does not parse: %v\ninput:\n%s\noutput:\n%s", diags2, src, out)
		}
		if d1, d2 := ast.Dump(file), ast.Dump(file2); d1 != d2 {
			t.Fatalf("formatting changed the tree:\n%s\n%s\ninput:\n%s\noutput:\n%s", d1, d2, src, out)
		}
		if n1, n2 := countComments(file), countComments(file2); n1 != n2 {
			t.Fatalf("formatting kept %d of %d comments\ninput:\n%s\noutput:\n%s", n2, n1, src, out)
		}
		if out2 := ast.Format(file2); !bytes.Equal(out, out2) {
			t.Fatalf("formatting is not idempotent\nfirst:\n%s\nsecond:\n%s", out, out2)
		}
	})
}

func checkInside(t *testing.T, p lexer.Position, size int) {
	t.Helper()
	if p.Line < 1 || p.Column < 1 || p.Offset < 0 || p.Offset > size {
		t.Fatalf("position %+v outside the file of %d bytes", p, size)
	}
}

// checkSpans checks that every node's span lies inside its parent's and
// inside the file.
func checkSpans(t *testing.T, f *ast.File, size int) {
	t.Helper()
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		pos, end := n.Pos(), n.End()
		if !pos.IsValid() || pos > end || end.Offset() > size {
			t.Fatalf("%T span [%d, %d) invalid in a file of %d bytes", n, pos.Offset(), end.Offset(), size)
		}
		if len(stack) > 0 {
			parent := stack[len(stack)-1]
			if pos < parent.Pos() || end > parent.End() {
				t.Fatalf("%T [%d, %d) not inside its parent %T [%d, %d)", n, pos.Offset(), end.Offset(),
					parent, parent.Pos().Offset(), parent.End().Offset())
			}
		}
		stack = append(stack, n)
		return true
	})
}

func TestSpansNest(t *testing.T) {
	for _, src := range seedFiles(t) {
		f, _ := parser.ParseFile("seed.moe", src)
		checkSpans(t, f, len(src))
	}
}
