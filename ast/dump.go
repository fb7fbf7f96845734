package ast

import (
	"strings"

	"github.com/moepolicy/moec/lexer"
)

// Dump returns a compact, position-free rendering of the tree rooted at n,
// for tests: (Field capacity (Int 16)). Comments are left out.
func Dump(n Node) string {
	var b strings.Builder
	dump(&b, n)
	return b.String()
}

func dump(b *strings.Builder, n Node) {
	open := func(name string, words ...string) {
		b.WriteString("(" + name)
		for _, w := range words {
			b.WriteString(" " + w)
		}
	}
	child := func(c Node) {
		b.WriteByte(' ')
		dump(b, c)
	}
	switch n := n.(type) {
	case *File:
		open("File")
		if n.Version != nil {
			child(n.Version)
		}
		for _, p := range n.Policies {
			child(p)
		}
	case *Version:
		open("Version", n.Value.Value)
	case *Policy:
		open("Policy", n.Name.Name)
		for _, bl := range n.Blocks {
			child(bl)
		}
	case *Block:
		open("Block", n.Name.Name)
		for _, it := range n.Items {
			child(it)
		}
	case *Field:
		open("Field", n.Key.Name)
		child(n.Value)
	case *Rule:
		open("Rule")
		child(n.Cond)
		if n.Window != nil {
			b.WriteString(" (For " + n.Window.Value + ")")
		}
		for _, a := range n.Actions {
			child(a)
		}
	case *Command:
		open("Command", n.Name.Name, n.Arg.Name)
	case *BadItem:
		open("BadItem")
	case *Ident:
		open("Ident", n.Name)
	case *BasicLit:
		switch n.Kind {
		case lexer.INT:
			open("Int", n.Value)
		case lexer.NUMBER:
			open("Number", n.Value)
		default:
			open("Word", n.Value)
		}
	case *ListLit:
		open("List")
		for _, e := range n.Elems {
			child(e)
		}
	case *PipeExpr:
		open("Pipe")
		child(n.X)
		child(n.Y)
	case *CondExpr:
		open("CondExpr")
		child(n.X)
		child(n.Y)
		child(n.Cond)
	case *Cond:
		open("When", n.Metric.Name, n.Op.String(), n.Threshold.Value)
	case *BadExpr:
		open("BadExpr")
	default:
		open("?")
	}
	b.WriteByte(')')
}
