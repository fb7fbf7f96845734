package ast_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/parser"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/format")

// TestFormatGolden formats each testdata/format/NAME.in.moe and compares
// the result byte for byte with NAME.golden.moe (go test -update rewrites
// the goldens). Each output must also keep the formatter's promises; see
// checkFormat.
func TestFormatGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "format", "*.in.moe"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/format/*.in.moe files")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.moe")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := checkFormat(t, in, src)
			golden := filepath.Join("testdata", "format", name+".golden.moe")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Format(%s) differs from %s (-want +got):\n%s", in, golden, diff)
			}
		})
	}
}

// TestFormatGoldenIsCanonical checks that each golden file is its own
// formatted form: what moec fmt writes, moec fmt leaves alone.
func TestFormatGoldenIsCanonical(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "format", "*.golden.moe"))
	if err != nil {
		t.Fatal(err)
	}
	if len(goldens) == 0 {
		t.Fatal("no testdata/format/*.golden.moe files (run go test -update)")
	}
	for _, name := range goldens {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := checkFormat(t, name, src); !bytes.Equal(got, src) {
			t.Errorf("%s is not canonical (-file +formatted):\n%s", name, cmp.Diff(string(src), string(got)))
		}
	}
}

// TestFormatExamples checks the formatter's promises on the shipped
// examples.
func TestFormatExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.moe"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no examples yet")
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checkFormat(t, name, src)
	}
}

// TestFormatLayout pins down the layout rules one at a time.
func TestFormatLayout(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{{
		name: "one line",
		src:  "policy p{cache{capacity=16 eviction=lru}}",
		want: "policy p {\n    cache {\n        capacity = 16\n        eviction = lru\n    }\n}\n",
	}, {
		name: "semicolons dropped",
		src:  "policy p; { cache { capacity = 16; }; };",
		want: "policy p {\n    cache {\n        capacity = 16\n    }\n}\n",
	}, {
		name: "version then one blank line",
		src:  "version 1.0 policy p { cache { capacity = 1 } }",
		want: "version 1.0\n\npolicy p {\n    cache {\n        capacity = 1\n    }\n}\n",
	}, {
		name: "literals as written",
		src:  "policy p { cache { capacity = 007 frequency_decay = .5 freq_threshold = 1. score_ema_alpha = 5e-1 memory_threshold = 1.5E2 } }",
		want: "policy p {\n    cache {\n        capacity = 007\n        frequency_decay = .5\n        freq_threshold = 1.\n" +
			"        score_ema_alpha = 5e-1\n        memory_threshold = 1.5E2\n    }\n}\n",
	}, {
		name: "lists, pipes and conditional values",
		src:  "policy p { cache { capacity = 8:16 when hit_rate<=0.5 eviction = lfu|lru pin = [ 1 ,2,3 ] } monitor { metrics = [ ] } }",
		want: "policy p {\n    cache {\n        capacity = 8 : 16 when hit_rate <= 0.5\n        eviction = lfu | lru\n        pin = [1, 2, 3]\n    }\n" +
			"    monitor {\n        metrics = []\n    }\n}\n",
	}, {
		name: "one action on one line",
		src:  "policy p { cache { capacity = 1 } adapt { when hit_rate < 0.5 for 10 accesses\n{\ncapacity = 2\n}\n} }",
		want: "policy p {\n    cache {\n        capacity = 1\n    }\n    adapt {\n        when hit_rate < 0.5 for 10 accesses { capacity = 2 }\n    }\n}\n",
	}, {
		name: "several actions on several lines",
		src:  "policy p { cache { capacity = 1 } adapt { when hit_rate != 0.5 { capacity = 2 trigger memory_pressure } } }",
		want: "policy p {\n    cache {\n        capacity = 1\n    }\n    adapt {\n        when hit_rate != 0.5 {\n" +
			"            capacity = 2\n            trigger memory_pressure\n        }\n    }\n}\n",
	}, {
		name: "a comment inside a rule keeps it on several lines",
		src:  "policy p { cache { capacity = 1 } adapt { when hit_rate > 0.5 { capacity = 2 # c\n} } }",
		want: "policy p {\n    cache {\n        capacity = 1\n    }\n    adapt {\n        when hit_rate > 0.5 {\n" +
			"            capacity = 2 # c\n        }\n    }\n}\n",
	}, {
		name: "blank lines collapse to one and go after { and before }",
		src:  "policy p {\n\n\n cache {\n\n capacity = 1\n\n\n\n eviction = lru\n\n }\n\n}\n\n\n",
		want: "policy p {\n    cache {\n        capacity = 1\n\n        eviction = lru\n    }\n}\n",
	}, {
		name: "one blank line between policies",
		src:  "policy a { cache { capacity = 1 } } policy b { cache { capacity = 2 } }\n\n\n\npolicy c { cache { capacity = 3 } }",
		want: "policy a {\n    cache {\n        capacity = 1\n    }\n}\n\npolicy b {\n    cache {\n        capacity = 2\n    }\n}\n\n" +
			"policy c {\n    cache {\n        capacity = 3\n    }\n}\n",
	}, {
		name: "one space before a line comment",
		src:  "policy p { cache { capacity = 16        # x   \n } }",
		want: "policy p {\n    cache {\n        capacity = 16 # x\n    }\n}\n",
	}, {
		name: "a comment after a block's { becomes the first item's doc",
		src:  "policy p { cache { # c\n capacity = 16 } }",
		want: "policy p {\n    cache {\n        # c\n        capacity = 16\n    }\n}\n",
	}, {
		name: "CRLF line ends become LF",
		src:  "# doc\r\npolicy p {\r\n  cache {\r\n    capacity = 1 # x\r\n\r\n    eviction = lru\r\n  }\r\n}\r\n",
		want: "# doc\npolicy p {\n    cache {\n        capacity = 1 # x\n\n        eviction = lru\n    }\n}\n",
	}, {
		name: "a blank line between a doc comment and its node is kept",
		src:  "# header\n\n\nversion 1.0\n# a\n\n# b\n\npolicy p { cache { capacity = 1 } }",
		want: "# header\n\nversion 1.0\n\n# a\n\n# b\n\npolicy p {\n    cache {\n        capacity = 1\n    }\n}\n",
	}, {
		name: "comments at the end of the file after one blank line",
		src:  "policy p { cache { capacity = 1 } }\n# end\n\n\n# really the end\n\n",
		want: "policy p {\n    cache {\n        capacity = 1\n    }\n}\n\n# end\n\n# really the end\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkFormat(t, "layout.moe", []byte(tt.src))
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Format(%q) (-want +got):\n%s", tt.src, diff)
			}
		})
	}
}

// TestFormatBrokenTrees feeds Format trees it is not meant for: what the
// parser builds from bad input, and hand-made trees with parts missing. It
// must return without panicking.
func TestFormatBrokenTrees(t *testing.T) {
	for _, src := range []string{
		"",
		"# only a comment",
		"version",
		"version 1.0",
		"policy",
		"policy p {",
		"policy p { cache {",
		"policy p { cache { capacity = } }",
		"policy p { cache { capacity = 8 : } }",
		"policy p { cache { colour = red capacity = 1 } }",
		"policy p { cache { pin = [1, } }",
		"policy p { adapt { when { capacity = 1 } } }",
		"policy p { adapt { when hit_rate < 0.5 { capacity = } } }",
		"policy p { adapt { when hit_rate < 0.5 { colour = Red } } }",
		"policy p { adapt { when hit_rate < 0.5 for x accesses { capacity = 1 } } }",
		"policy p { adapt { when hit_rate < 0.5 { } } }",
		"policy p { bogus { x = 1 } cache { capacity = 1 } }",
		"policy p { cache { capacity = 1 } } }} {{ ]] == ! \"x\" - + \x00 \xff",
	} {
		f, _ := parser.ParseFile("broken.moe", []byte(src))
		format(t, f)
	}
	lit := &ast.BasicLit{Kind: lexer.INT, Value: "1"}
	for _, f := range []*ast.File{
		nil,
		{},
		{Version: &ast.Version{}, Trailing: &ast.CommentGroup{}},
		{Version: &ast.Version{Doc: &ast.CommentGroup{List: []*ast.Comment{nil}}}},
		{Policies: []*ast.Policy{nil, {}, {Doc: &ast.CommentGroup{}, Footer: &ast.CommentGroup{List: []*ast.Comment{{}}}}}},
		{Policies: []*ast.Policy{{Blocks: []*ast.Block{nil, {}, {Items: []ast.Item{
			nil,
			(*ast.Field)(nil),
			(*ast.Rule)(nil),
			(*ast.BadItem)(nil),
			&ast.BadItem{From: 5, To: 1},
			&ast.Field{},
			&ast.Field{Value: (*ast.BasicLit)(nil)},
			&ast.Field{Value: (*ast.ListLit)(nil)},
			&ast.Field{Value: &ast.ListLit{Elems: []*ast.BasicLit{nil, lit}}},
			&ast.Field{Value: (*ast.PipeExpr)(nil)},
			&ast.Field{Value: &ast.PipeExpr{}},
			&ast.Field{Value: (*ast.CondExpr)(nil)},
			&ast.Field{Value: &ast.CondExpr{Cond: &ast.Cond{}}},
			&ast.Field{Value: &ast.BadExpr{From: 1, To: 100}},
			&ast.Field{Value: (*ast.BadExpr)(nil)},
			&ast.Rule{},
			&ast.Rule{Actions: []ast.Action{nil}},
			&ast.Rule{Actions: []ast.Action{(*ast.Field)(nil), (*ast.Command)(nil), (*ast.BadItem)(nil)}},
			&ast.Rule{Cond: &ast.Cond{}, Window: lit, Actions: []ast.Action{&ast.Command{}}, Footer: &ast.CommentGroup{}},
		}}}}}},
	} {
		format(t, f)
	}
	// Bad nodes print as their source text, wherever the file has one.
	src := "policy p { cache { capacity = 1 } }"
	file, diags := parser.ParseFile("p.moe", []byte(src))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	file.Policies[0].Blocks[0].Items = append(file.Policies[0].Blocks[0].Items,
		&ast.BadItem{From: lexer.PosOf(19), To: lexer.PosOf(31)},
		&ast.Field{Key: &ast.Ident{Name: "x"}, Value: &ast.BadExpr{From: lexer.PosOf(30), To: lexer.PosOf(31)}})
	want := "policy p {\n    cache {\n        capacity = 1\n        capacity = 1\n        x = 1\n    }\n}\n"
	if diff := cmp.Diff(want, string(format(t, file))); diff != "" {
		t.Errorf("Bad nodes (-want +got):\n%s", diff)
	}
}

// format calls ast.Format, turning a panic into a test failure that shows
// the tree.
func format(t *testing.T, f *ast.File) (out []byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Format panicked: %v\ntree: %#v", r, f)
		}
	}()
	return ast.Format(f)
}

// FuzzFormat checks the formatter's promises on every input the parser
// accepts without errors, and that Format never panics on the rest.
func FuzzFormat(f *testing.F) {
	for _, glob := range []string{"testdata/format/*.moe", "../examples/*.moe"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			if src, err := os.ReadFile(name); err == nil {
				f.Add(src)
			}
		}
	}
	f.Add([]byte("policy p { cache { capacity = 1 } adapt { when hit_rate < 0.5 { capacity = 2 } } }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := parser.ParseFile("fuzz.moe", src)
		if len(diags) > 0 {
			format(t, file)
			return
		}
		checkFormat(t, "fuzz.moe", src)
	})
}

// checkFormat parses src, which must have no syntax errors, formats it and
// checks the formatter's promises:
//   - the output reparses without errors, to the same tree (equal dumps);
//   - every comment of src is in the output, and nothing else is: the
//     multisets of comment texts (as the lexer reads them, trailing white
//     space aside) are equal;
//   - the output ends with exactly one newline, and no line has trailing
//     white space;
//   - formatting is idempotent.
//
// It returns the output.
func checkFormat(t *testing.T, name string, src []byte) []byte {
	t.Helper()
	f, diags := parser.ParseFile(name, src)
	if len(diags) > 0 {
		t.Fatalf("%s: syntax errors:\n%v", name, diags)
	}
	if diff := cmp.Diff(scanComments(src), treeComments(f)); diff != "" {
		t.Errorf("%s: the parser did not attach every comment (-in source +in tree):\n%s", name, diff)
	}
	out := format(t, f)
	g, diags := parser.ParseFile(name, out)
	if len(diags) > 0 {
		t.Fatalf("%s: the output does not reparse:\n%v\noutput:\n%s", name, diags, out)
	}
	if diff := cmp.Diff(ast.Dump(f), ast.Dump(g)); diff != "" {
		t.Errorf("%s: the output parses to another tree (-input +output):\n%s\noutput:\n%s", name, diff, out)
	}
	if diff := cmp.Diff(scanComments(src), scanComments(out)); diff != "" {
		t.Errorf("%s: comments changed (-input +output):\n%s\noutput:\n%s", name, diff, out)
	}
	if len(out) > 0 && (!bytes.HasSuffix(out, []byte("\n")) || bytes.HasSuffix(out, []byte("\n\n"))) {
		t.Errorf("%s: the output does not end with exactly one newline:\n%q", name, out)
	}
	for i, line := range strings.Split(string(out), "\n") {
		if strings.TrimRight(line, " \t") != line {
			t.Errorf("%s: output line %d has trailing white space: %q", name, i+1, line)
		}
	}
	if again := format(t, g); !bytes.Equal(again, out) {
		t.Errorf("%s: formatting is not idempotent (-first +second):\n%s", name, cmp.Diff(string(out), string(again)))
	}
	return out
}

// scanComments returns the texts of the comments in src, as the lexer
// reads them, sorted.
func scanComments(src []byte) []string {
	var sc lexer.Scanner
	sc.Init(lexer.NewFile("", src), func(lexer.Pos, lexer.Pos, string) {})
	var list []string
	for {
		_, tok, lit := sc.Scan()
		if tok == lexer.EOF {
			break
		}
		if tok == lexer.COMMENT {
			list = append(list, strings.TrimRight(lit, " \t"))
		}
	}
	slices.Sort(list)
	return list
}

// treeComments returns the texts of the comments attached to f, sorted.
func treeComments(f *ast.File) []string {
	var list []string
	add := func(groups ...*ast.CommentGroup) {
		for _, g := range groups {
			if g == nil {
				continue
			}
			for _, c := range g.List {
				list = append(list, strings.TrimRight(c.Text, " \t"))
			}
		}
	}
	if f.Version != nil {
		add(f.Version.Doc, f.Version.Comment)
	}
	add(f.Trailing)
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Policy:
			add(n.Doc, n.Footer, n.Comment)
		case *ast.Block:
			add(n.Doc, n.Footer, n.Comment)
		case *ast.Field:
			add(n.Doc, n.Comment)
		case *ast.Rule:
			add(n.Doc, n.Footer, n.Comment)
		case *ast.Command:
			add(n.Doc, n.Comment)
		}
		return true
	})
	slices.Sort(list)
	return list
}
