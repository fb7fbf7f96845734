package parser_test

import (
	"github.com/moepolicy/moec/ast"
)

// countComments counts the comments attached anywhere in f.
func countComments(f *ast.File) int {
	n := 0
	add := func(g *ast.CommentGroup) {
		if g != nil {
			n += len(g.List)
		}
	}
	if f.Version != nil {
		add(f.Version.Doc)
		add(f.Version.Comment)
	}
	add(f.Trailing)
	ast.Inspect(f, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.Policy:
			add(x.Doc)
			add(x.Footer)
			add(x.Comment)
		case *ast.Block:
			add(x.Doc)
			add(x.Footer)
			add(x.Comment)
		case *ast.Field:
			add(x.Doc)
			add(x.Comment)
		case *ast.Rule:
			add(x.Doc)
			add(x.Footer)
			add(x.Comment)
		case *ast.Command:
			add(x.Doc)
			add(x.Comment)
		}
		return true
	})
	return n
}
