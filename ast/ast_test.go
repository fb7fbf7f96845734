package ast_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/parser"
)

// endOf returns the offset just after the first occurrence of text in src.
func endOf(t *testing.T, src, text string) lexer.Pos {
	t.Helper()
	i := strings.Index(src, text)
	if i < 0 {
		t.Fatalf("%q not in %q", text, src)
	}
	return lexer.PosOf(i + len(text))
}

// TestEndUnclosed checks the End of braced constructs whose "}" the
// parser did not find: after the last entry, or after "{" when there is
// none.
func TestEndUnclosed(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		node      func(f *ast.File) ast.Node
		endsAfter string // the text the node ends after
	}{
		{"block at the end of the file", "policy p { cache { capacity = 16",
			func(f *ast.File) ast.Node { return f.Policies[0].Blocks[0] }, "16"},
		{"policy at the end of the file", "policy p { cache { capacity = 16",
			func(f *ast.File) ast.Node { return f.Policies[0] }, "16"},
		{"empty block", "policy p { cache {",
			func(f *ast.File) ast.Node { return f.Policies[0].Blocks[0] }, "cache {"},
		{"block cut by the next block", "policy p {\n cache {\n  capacity = 1\n  eviction = lru\n prefetch { budget = 1 }\n}\n",
			func(f *ast.File) ast.Node { return f.Policies[0].Blocks[0] }, "lru"},
		{"rule at the end of the file", "policy p { cache { capacity = 8 } adapt { when hit_rate < 0.5 { capacity = 2",
			func(f *ast.File) ast.Node { return f.Policies[0].Blocks[1].Items[0] }, "capacity = 2"},
		{"rule without actions", "policy p { cache { capacity = 8 } adapt { when hit_rate < 0.5 {",
			func(f *ast.File) ast.Node { return f.Policies[0].Blocks[1].Items[0] }, "0.5 {"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := parser.ParseFile("p.moe", []byte(tc.src))
			if len(diags) == 0 {
				t.Fatal("parsed without errors; the test needs a missing \"}\"")
			}
			n := tc.node(f)
			if got, want := n.End(), endOf(t, tc.src, tc.endsAfter); got != want {
				t.Errorf("End = offset %d, want %d (after %q)", got.Offset(), want.Offset(), tc.endsAfter)
			}
		})
	}
}

// TestFormatUnclosedBlock checks that Format sees an unclosed block end
// where End says: no blank line appears between it and the next block,
// which follows its last item on the next line.
func TestFormatUnclosedBlock(t *testing.T) {
	src := "policy p {\n    cache {\n        capacity = 1\n        eviction = lru\n    prefetch { budget = 1 }\n}\n"
	f, diags := parser.ParseFile("p.moe", []byte(src))
	if len(diags) == 0 {
		t.Fatal("parsed without errors")
	}
	want := "policy p {\n    cache {\n        capacity = 1\n        eviction = lru\n    }\n    prefetch {\n        budget = 1\n    }\n}\n"
	if diff := cmp.Diff(want, string(ast.Format(f))); diff != "" {
		t.Errorf("Format (-want +got):\n%s", diff)
	}
}

// TestSpansOfPartialNodes checks that Pos and End never panic on nodes
// that lack parts, and report the parts they have.
func TestSpansOfPartialNodes(t *testing.T) {
	key := &ast.Ident{NamePos: lexer.PosOf(4), Name: "capacity"} // ends at 12
	lit := &ast.BasicLit{ValuePos: lexer.PosOf(15), Kind: lexer.INT, Value: "16"}
	type span struct{ Pos, End int }
	for _, tc := range []struct {
		name string
		node ast.Node
		want span // offsets, -1 for NoPos
	}{
		{"nil field", (*ast.Field)(nil), span{-1, -1}},
		{"empty field", &ast.Field{}, span{-1, -1}},
		{"field without value", &ast.Field{Key: key, Assign: lexer.PosOf(13)}, span{4, 14}},
		{"field without assign", &ast.Field{Key: key}, span{4, 12}},
		{"field", &ast.Field{Key: key, Assign: lexer.PosOf(13), Value: lit}, span{4, 17}},
		{"empty block", &ast.Block{}, span{-1, -1}},
		{"block with a nil item", &ast.Block{Name: key, Items: []ast.Item{nil}}, span{4, 12}},
		{"empty rule", &ast.Rule{}, span{-1, -1}},
		{"rule with a bare cond", &ast.Rule{Cond: &ast.Cond{When: lexer.PosOf(0)}}, span{0, 4}},
		{"cond without threshold", &ast.Cond{When: lexer.PosOf(0), Metric: key}, span{0, 12}},
		{"command without arg", &ast.Command{Name: key}, span{4, 12}},
		{"empty pipe", &ast.PipeExpr{}, span{-1, -1}},
		{"pipe without fallback", &ast.PipeExpr{X: lit, Pipe: lexer.PosOf(18)}, span{15, 19}},
		{"unclosed list", &ast.ListLit{Lbrack: lexer.PosOf(14), Elems: []*ast.BasicLit{lit}}, span{14, 17}},
		{"empty comment group", &ast.CommentGroup{}, span{-1, -1}},
		{"file without source", &ast.File{}, span{-1, -1}},
		{"empty policy", &ast.Policy{}, span{-1, -1}},
		{"policy with a nil block", &ast.Policy{Keyword: lexer.PosOf(0), Blocks: []*ast.Block{nil}}, span{0, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := span{tc.node.Pos().Offset(), tc.node.End().Offset()}
			if got != tc.want {
				t.Errorf("span %+v, want %+v", got, tc.want)
			}
		})
	}
}
