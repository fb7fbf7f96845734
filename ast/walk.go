package ast

// A Visitor is what Walk calls Visit on for each node it meets. If Visit
// returns a non-nil w, Walk visits the node's children with w, then calls
// w.Visit(nil).
type Visitor interface {
	Visit(n Node) (w Visitor)
}

// Walk traverses the tree rooted at n in source order, depth first.
// Comments are not visited.
func Walk(v Visitor, n Node) {
	if v = v.Visit(n); v == nil {
		return
	}
	switch n := n.(type) {
	case *File:
		if n.Version != nil {
			Walk(v, n.Version)
		}
		for _, p := range n.Policies {
			Walk(v, p)
		}
	case *Version:
		Walk(v, n.Value)
	case *Policy:
		Walk(v, n.Name)
		for _, b := range n.Blocks {
			Walk(v, b)
		}
	case *Block:
		Walk(v, n.Name)
		for _, it := range n.Items {
			Walk(v, it)
		}
	case *Field:
		Walk(v, n.Key)
		Walk(v, n.Value)
	case *Rule:
		Walk(v, n.Cond)
		if n.Window != nil {
			Walk(v, n.Window)
		}
		for _, a := range n.Actions {
			Walk(v, a)
		}
	case *Command:
		Walk(v, n.Name)
		Walk(v, n.Arg)
	case *ListLit:
		for _, e := range n.Elems {
			Walk(v, e)
		}
	case *PipeExpr:
		Walk(v, n.X)
		Walk(v, n.Y)
	case *CondExpr:
		Walk(v, n.X)
		Walk(v, n.Y)
		Walk(v, n.Cond)
	case *Cond:
		Walk(v, n.Metric)
		Walk(v, n.Threshold)
	case *Ident, *BasicLit, *BadItem, *BadExpr:
		// leaves
	}
	v.Visit(nil)
}

type inspector func(Node) bool

func (f inspector) Visit(n Node) Visitor {
	if f(n) {
		return f
	}
	return nil
}

// Inspect traverses the tree rooted at n in source order, calling f for
// each node, and f(nil) after the children of a node f returned true for.
// If f returns false, the node's children are skipped.
func Inspect(n Node, f func(Node) bool) {
	Walk(inspector(f), n)
}
