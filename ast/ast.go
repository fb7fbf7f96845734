// Package ast declares the syntax tree of .moe files.
//
// The tree is purely syntactic: it records what was written, where, and the
// comments around it, and nothing that needs checking. Keys, block names and
// enum words are kept as identifiers; whether they mean anything is for
// package sema to decide. Every node knows its span (Pos, End), so that a
// diagnostic can point at the value that breaks a rule.
package ast

import "github.com/moepolicy/moec/lexer"

// A Node is any node of the tree.
//
// Pos and End never panic: a node that lacks a part (a tree built by hand,
// or a nil child) reports the span of the parts it has, and NoPos where it
// has none. A braced construct whose "}" is missing (the parser reached
// the end of the file or an anchor first) ends after its last entry.
type Node interface {
	Pos() lexer.Pos // the first byte of the node
	End() lexer.Pos // the byte just after the node
}

// An Expr is a value: a literal, a list, A | B, a conditional value, or a
// BadExpr where the parser could not read one.
type Expr interface {
	Node
	exprNode()
}

// An Item is an entry of a block: a Field, an adapt Rule, or a BadItem.
type Item interface {
	Node
	itemNode()
}

// An Action is one change an adapt rule makes: a Field (capacity = 32) or a
// Command (trigger memory_pressure).
type Action interface {
	Node
	actionNode()
}

// ----------------------------------------------------------------------------
// Comments

// A Comment is one '#' comment; Text includes the '#'.
type Comment struct {
	Hash lexer.Pos
	Text string
}

func (c *Comment) Pos() lexer.Pos {
	if c == nil {
		return lexer.NoPos
	}
	return c.Hash
}

func (c *Comment) End() lexer.Pos {
	if c == nil || !c.Hash.IsValid() {
		return lexer.NoPos
	}
	return c.Hash + lexer.Pos(len(c.Text))
}

// A CommentGroup is a run of comments with no code between them.
type CommentGroup struct {
	List []*Comment
}

func (g *CommentGroup) Pos() lexer.Pos {
	if g == nil || len(g.List) == 0 {
		return lexer.NoPos
	}
	return g.List[0].Pos()
}

func (g *CommentGroup) End() lexer.Pos {
	if g == nil || len(g.List) == 0 {
		return lexer.NoPos
	}
	return g.List[len(g.List)-1].End()
}

// ----------------------------------------------------------------------------
// File, version, policy and blocks

// A File is one parsed .moe file.
type File struct {
	Source   *lexer.File // the text and its line table
	Version  *Version    // nil when the file has no version line
	Policies []*Policy
	Trailing *CommentGroup // comments after the last policy
}

func (f *File) Pos() lexer.Pos {
	if f == nil || f.Source == nil {
		return lexer.NoPos
	}
	return lexer.PosOf(0)
}

func (f *File) End() lexer.Pos {
	if f == nil || f.Source == nil {
		return lexer.NoPos
	}
	return lexer.PosOf(f.Source.Size())
}

// Position returns the printable position of p in the file.
func (f *File) Position(p lexer.Pos) lexer.Position { return f.Source.Position(p) }

// A Version is the line "version 1.0".
type Version struct {
	Doc     *CommentGroup
	Keyword lexer.Pos
	Value   *BasicLit
	Comment *CommentGroup // on the same line
}

func (v *Version) Pos() lexer.Pos {
	if v == nil {
		return lexer.NoPos
	}
	return v.Keyword
}

func (v *Version) End() lexer.Pos {
	if v == nil {
		return lexer.NoPos
	}
	return firstValid(v.Value.End(), after(v.Keyword, len("version")))
}

// A Policy is "policy NAME { block... }".
type Policy struct {
	Doc     *CommentGroup
	Keyword lexer.Pos // "policy"
	Name    *Ident
	Lbrace  lexer.Pos
	Blocks  []*Block
	Footer  *CommentGroup // comments after the last block, before "}"
	Rbrace  lexer.Pos     // NoPos if the file ended first
	Comment *CommentGroup // on the line of "}"

	// Incomplete is set when the parser dropped a block it could not read
	// (an unknown block name, a block without "{"). Checks that a part is
	// missing, such as the cache block, are then skipped: the part may be
	// the one that was dropped.
	Incomplete bool
}

func (p *Policy) Pos() lexer.Pos {
	if p == nil {
		return lexer.NoPos
	}
	return p.Keyword
}

func (p *Policy) End() lexer.Pos {
	if p == nil {
		return lexer.NoPos
	}
	var last lexer.Pos
	if n := len(p.Blocks); n > 0 {
		last = p.Blocks[n-1].End()
	}
	return firstValid(after(p.Rbrace, 1), last, after(p.Lbrace, 1), p.Name.End(), after(p.Keyword, len("policy")))
}

// A Block is "cache { ... }" and its kin. Name holds the block keyword as
// written; a block whose name the parser does not know is not in the tree.
type Block struct {
	Doc     *CommentGroup
	Name    *Ident
	Lbrace  lexer.Pos
	Items   []Item
	Footer  *CommentGroup // comments after the last item, before "}"
	Rbrace  lexer.Pos     // NoPos if the file ended first
	Comment *CommentGroup // on the line of "}"
}

func (b *Block) Pos() lexer.Pos {
	if b == nil {
		return lexer.NoPos
	}
	return b.Name.Pos()
}

func (b *Block) End() lexer.Pos {
	if b == nil {
		return lexer.NoPos
	}
	var last lexer.Pos
	if n := len(b.Items); n > 0 {
		last = end(b.Items[n-1])
	}
	return firstValid(after(b.Rbrace, 1), last, after(b.Lbrace, 1), b.Name.End())
}

// ----------------------------------------------------------------------------
// Items and actions

// A Field is "key = value", in a block or as an adapt action.
type Field struct {
	Doc     *CommentGroup
	Key     *Ident
	Assign  lexer.Pos
	Value   Expr
	Comment *CommentGroup // on the same line
}

func (f *Field) Pos() lexer.Pos {
	if f == nil {
		return lexer.NoPos
	}
	return f.Key.Pos()
}

func (f *Field) End() lexer.Pos {
	if f == nil {
		return lexer.NoPos
	}
	return firstValid(end(f.Value), after(f.Assign, 1), f.Key.End())
}

// A Rule is an adapt rule:
// "when METRIC OP NUMBER [for N accesses] { action... }".
type Rule struct {
	Doc      *CommentGroup
	Cond     *Cond
	For      lexer.Pos // NoPos without "for N accesses"
	Window   *BasicLit // nil without "for N accesses"
	Accesses lexer.Pos
	Lbrace   lexer.Pos
	Actions  []Action
	Footer   *CommentGroup // comments after the last action, before "}"
	Rbrace   lexer.Pos     // NoPos if the file ended first
	Comment  *CommentGroup // on the line of "}"
}

func (r *Rule) Pos() lexer.Pos {
	if r == nil {
		return lexer.NoPos
	}
	return r.Cond.Pos()
}

func (r *Rule) End() lexer.Pos {
	if r == nil {
		return lexer.NoPos
	}
	var last lexer.Pos
	if n := len(r.Actions); n > 0 {
		last = end(r.Actions[n-1])
	}
	window := lexer.NoPos
	if r.Window != nil {
		window = firstValid(after(r.Accesses, len("accesses")), r.Window.End())
	}
	return firstValid(after(r.Rbrace, 1), last, after(r.Lbrace, 1), window, r.Cond.End())
}

// A Command is an adapt action written as two words: "trigger
// memory_pressure" or "rebalance entropy".
type Command struct {
	Doc     *CommentGroup
	Name    *Ident
	Arg     *Ident
	Comment *CommentGroup // on the same line
}

func (c *Command) Pos() lexer.Pos {
	if c == nil {
		return lexer.NoPos
	}
	return c.Name.Pos()
}

func (c *Command) End() lexer.Pos {
	if c == nil {
		return lexer.NoPos
	}
	return firstValid(c.Arg.End(), c.Name.End())
}

// A BadItem stands for an item the parser could not read.
type BadItem struct {
	From, To lexer.Pos
}

func (b *BadItem) Pos() lexer.Pos {
	if b == nil {
		return lexer.NoPos
	}
	return b.From
}

func (b *BadItem) End() lexer.Pos {
	if b == nil {
		return lexer.NoPos
	}
	return b.To
}

func (*Field) itemNode()   {}
func (*Rule) itemNode()    {}
func (*BadItem) itemNode() {}

func (*Field) actionNode()   {}
func (*Command) actionNode() {}
func (*BadItem) actionNode() {}

// ----------------------------------------------------------------------------
// Expressions

// An Ident is a name: a policy name, a key, a block name, a metric.
type Ident struct {
	NamePos lexer.Pos
	Name    string
}

func (x *Ident) Pos() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return x.NamePos
}

func (x *Ident) End() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return after(x.NamePos, len(x.Name))
}

// A BasicLit is a literal value: an INT, a NUMBER, or an IDENT (an enum
// word, true or false). Value is the text as written.
type BasicLit struct {
	ValuePos lexer.Pos
	Kind     lexer.Token // INT, NUMBER or IDENT
	Value    string
}

func (x *BasicLit) Pos() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return x.ValuePos
}

func (x *BasicLit) End() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return after(x.ValuePos, len(x.Value))
}

// A ListLit is "[a, b, c]".
type ListLit struct {
	Lbrack lexer.Pos
	Elems  []*BasicLit
	Rbrack lexer.Pos
}

func (x *ListLit) Pos() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return x.Lbrack
}

func (x *ListLit) End() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	var last lexer.Pos
	if n := len(x.Elems); n > 0 {
		last = x.Elems[n-1].End()
	}
	return firstValid(after(x.Rbrack, 1), last, after(x.Lbrack, 1))
}

// A PipeExpr is the composition "A | B": primary A, fallback B.
type PipeExpr struct {
	X    *BasicLit
	Pipe lexer.Pos
	Y    *BasicLit
}

func (x *PipeExpr) Pos() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return x.X.Pos()
}

func (x *PipeExpr) End() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return firstValid(x.Y.End(), after(x.Pipe, 1), x.X.End())
}

// A CondExpr is the conditional value "D : W when METRIC OP T": D now,
// W once the condition holds.
type CondExpr struct {
	X     *BasicLit // the value at the start
	Colon lexer.Pos
	Y     *BasicLit // the value the policy switches to
	Cond  *Cond
}

func (x *CondExpr) Pos() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return x.X.Pos()
}

func (x *CondExpr) End() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return firstValid(x.Cond.End(), x.Y.End(), after(x.Colon, 1), x.X.End())
}

// A Cond is "when METRIC OP THRESHOLD", in a conditional value or an adapt
// rule.
type Cond struct {
	When      lexer.Pos
	Metric    *Ident
	OpPos     lexer.Pos
	Op        lexer.Token // LT, GT, LE, GE or NE
	Threshold *BasicLit
}

func (c *Cond) Pos() lexer.Pos {
	if c == nil {
		return lexer.NoPos
	}
	return c.When
}

func (c *Cond) End() lexer.Pos {
	if c == nil {
		return lexer.NoPos
	}
	return firstValid(c.Threshold.End(), after(c.OpPos, len(c.Op.String())), c.Metric.End(), after(c.When, len("when")))
}

// A BadExpr stands for a value the parser could not read.
type BadExpr struct {
	From, To lexer.Pos
}

func (x *BadExpr) Pos() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return x.From
}

func (x *BadExpr) End() lexer.Pos {
	if x == nil {
		return lexer.NoPos
	}
	return x.To
}

func (*BasicLit) exprNode() {}
func (*ListLit) exprNode()  {}
func (*PipeExpr) exprNode() {}
func (*CondExpr) exprNode() {}
func (*BadExpr) exprNode()  {}

// ----------------------------------------------------------------------------
// Span helpers

// end returns n.End(), or NoPos for a nil interface.
func end(n Node) lexer.Pos {
	if n == nil {
		return lexer.NoPos
	}
	return n.End()
}

// after returns the position just after a token of n bytes at pos, or
// NoPos if pos is.
func after(pos lexer.Pos, n int) lexer.Pos {
	if !pos.IsValid() {
		return lexer.NoPos
	}
	return pos + lexer.Pos(n)
}

// firstValid returns the first valid position of list, or NoPos.
func firstValid(list ...lexer.Pos) lexer.Pos {
	for _, p := range list {
		if p.IsValid() {
			return p
		}
	}
	return lexer.NoPos
}
