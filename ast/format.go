package ast

import (
	"bytes"
	"strings"

	"github.com/moepolicy/moec/lexer"
)

// indentUnit is one level of indentation in formatted output.
const indentUnit = "    "

// Format returns the canonical text of f, the output of "moec fmt".
//
// The layout is fixed, the way gofmt's is: four spaces per level, one item
// per line, "key = value" with single spaces around operators, one blank
// line between policies and after the version line. Two things come from
// the source: a blank line between two blocks, items, actions or comments is
// kept (one, however many were written), and literals are printed exactly
// as written (007 stays 007). Every comment attached to the tree is printed:
// doc comments on the lines before their node, line comments after it
// separated by one space, footer comments before the closing brace.
//
// Format is meant for trees without syntax errors. On any other tree it
// still returns, printing a Bad node as its source text.
func Format(f *File) []byte {
	if f == nil {
		return nil
	}
	p := &printer{src: f.Source}
	if v := f.Version; v != nil {
		p.doc(v.Doc, 0, v.Keyword)
		p.line("version "+lit(v.Value), v.Comment)
	}
	for _, pol := range f.Policies {
		if pol == nil {
			continue
		}
		p.blankIfStarted()
		p.policy(pol)
	}
	if !isEmpty(f.Trailing) {
		p.blankIfStarted()
		p.commentLines(comments(f.Trailing), 0)
	}
	return p.buf.Bytes()
}

// A printer accumulates the formatted text, one complete line at a time.
type printer struct {
	src    *lexer.File // for blank lines and Bad nodes; may be nil
	buf    bytes.Buffer
	indent int
}

// line writes text at the current indentation, followed by the first
// comment of the line comment group c, if any. Further comments of c (a
// group that runs on over the next lines) go on lines of their own.
func (p *printer) line(text string, c *CommentGroup) {
	list := comments(c)
	if len(list) > 0 {
		if text != "" {
			text += " "
		}
		text += commentText(list[0])
	}
	p.write(text)
	if len(list) > 1 {
		p.commentLines(list[1:], p.posLine(list[0].Hash))
	}
}

// write writes one line at the current indentation. An empty text gives
// an empty line, without indentation.
func (p *printer) write(text string) {
	if text != "" {
		for i := 0; i < p.indent; i++ {
			p.buf.WriteString(indentUnit)
		}
		p.buf.WriteString(text)
	}
	p.buf.WriteByte('\n')
}

// blankIfStarted writes a blank line unless nothing was written yet.
func (p *printer) blankIfStarted() {
	if p.buf.Len() > 0 {
		p.buf.WriteByte('\n')
	}
}

// doc writes the doc comments g of a node that starts at pos, on lines of
// their own, and then a blank line if the source had one before the node.
// Blank lines in the source are kept, one for any number, wherever they
// stand: before the first comment, between two comments, or before the
// node. prev is the last source line of what was printed before at this
// level, or 0 where no blank line may come (after "{").
func (p *printer) doc(g *CommentGroup, prev int, pos lexer.Pos) {
	prev = p.commentLines(comments(g), prev)
	if gap(prev, p.posLine(pos)) {
		p.write("")
	}
}

// commentLines writes list one comment a line, each after a blank line if
// the source had one before it, and returns the last source line printed.
// prev is as for doc.
func (p *printer) commentLines(list []*Comment, prev int) int {
	for _, c := range list {
		l := p.posLine(c.Hash)
		if gap(prev, l) {
			p.write("")
		}
		p.write(commentText(c))
		// A comment the parser found inside the node before (capacity =
		// # x NEWLINE 16) lies before prev: it makes no blank line.
		prev = max(prev, l)
	}
	return prev
}

// An entry is one element of a braced body: a block, an item or an action.
type entry struct {
	last  int            // the last source line it spans, comments included
	print func(prev int) // prints it; prev as for doc
}

// body writes the entries and the footer comments of a braced construct,
// one level further in, keeping single blank lines from the source.
func (p *printer) body(entries []entry, footer *CommentGroup) {
	p.indent++
	prev := 0
	for _, e := range entries {
		e.print(prev)
		prev = max(prev, e.last)
	}
	p.commentLines(comments(footer), prev)
	p.indent--
}

// braced writes "head {", the body, and "}" followed by the line comment
// c. A construct with nothing inside prints as "head {}".
func (p *printer) braced(head string, entries []entry, footer, c *CommentGroup) {
	if len(entries) == 0 && isEmpty(footer) {
		p.line(head+" {}", c)
		return
	}
	p.write(head + " {")
	p.body(entries, footer)
	p.line("}", c)
}

func (p *printer) policy(pol *Policy) {
	p.doc(pol.Doc, 0, pol.Keyword)
	head := "policy"
	if pol.Name != nil {
		head += " " + pol.Name.Name
	}
	var entries []entry
	for _, b := range pol.Blocks {
		if b == nil {
			continue
		}
		entries = append(entries, entry{
			last:  p.lastLine(b.End(), b.Comment),
			print: func(prev int) { p.block(b, prev) },
		})
	}
	p.braced(head, entries, pol.Footer, pol.Comment)
}

func (p *printer) block(b *Block, prev int) {
	p.doc(b.Doc, prev, b.Pos())
	head := ""
	if b.Name != nil {
		head = b.Name.Name
	}
	var entries []entry
	for _, it := range b.Items {
		if e, ok := p.itemEntry(it); ok {
			entries = append(entries, e)
		}
	}
	p.braced(head, entries, b.Footer, b.Comment)
}

// itemEntry returns the entry of a block item or an adapt action.
func (p *printer) itemEntry(n Node) (entry, bool) {
	switch n := n.(type) {
	case *Field:
		if n == nil {
			break
		}
		return entry{
			last: p.lastLine(n.End(), n.Comment),
			print: func(prev int) {
				p.doc(n.Doc, prev, n.Pos())
				p.line(p.field(n), n.Comment)
			},
		}, true
	case *Command:
		if n == nil {
			break
		}
		return entry{
			last: p.lastLine(n.End(), n.Comment),
			print: func(prev int) {
				p.doc(n.Doc, prev, n.Pos())
				p.line(command(n), n.Comment)
			},
		}, true
	case *Rule:
		if n == nil {
			break
		}
		return entry{
			last:  p.lastLine(n.End(), n.Comment),
			print: func(prev int) { p.rule(n, prev) },
		}, true
	case *BadItem:
		if n == nil {
			break
		}
		text := p.source(n.From, n.To)
		if text == "" {
			break
		}
		return entry{
			last: p.lastLine(n.End(), nil),
			print: func(prev int) {
				p.doc(nil, prev, n.From)
				p.write(text)
			},
		}, true
	}
	return entry{}, false
}

// rule writes an adapt rule. A rule with one action and no comment inside
// its braces fits on one line: when hit_rate < 0.2 { trigger memory_pressure }.
func (p *printer) rule(r *Rule, prev int) {
	p.doc(r.Doc, prev, r.Pos())
	head := cond(r.Cond)
	if r.Window != nil {
		head += " for " + r.Window.Value + " accesses"
	}
	if len(r.Actions) == 1 && isEmpty(r.Footer) {
		var text string
		switch a := r.Actions[0].(type) {
		case *Field:
			if a != nil && isEmpty(a.Doc) && isEmpty(a.Comment) {
				text = p.field(a)
			}
		case *Command:
			if a != nil && isEmpty(a.Doc) && isEmpty(a.Comment) {
				text = command(a)
			}
		}
		if text != "" {
			p.line(head+" { "+text+" }", r.Comment)
			return
		}
	}
	var entries []entry
	for _, a := range r.Actions {
		if e, ok := p.itemEntry(a); ok {
			entries = append(entries, e)
		}
	}
	p.braced(head, entries, r.Footer, r.Comment)
}

// field returns "key = value".
func (p *printer) field(f *Field) string {
	key := ""
	if f.Key != nil {
		key = f.Key.Name
	}
	return key + " = " + p.expr(f.Value)
}

func (p *printer) expr(x Expr) string {
	switch x := x.(type) {
	case *BasicLit:
		return lit(x)
	case *ListLit:
		if x == nil {
			break
		}
		elems := make([]string, len(x.Elems))
		for i, e := range x.Elems {
			elems[i] = lit(e)
		}
		return "[" + strings.Join(elems, ", ") + "]"
	case *PipeExpr:
		if x == nil {
			break
		}
		return lit(x.X) + " | " + lit(x.Y)
	case *CondExpr:
		if x == nil {
			break
		}
		return lit(x.X) + " : " + lit(x.Y) + " " + cond(x.Cond)
	case *BadExpr:
		if x == nil {
			break
		}
		return p.source(x.From, x.To)
	}
	return ""
}

func command(c *Command) string {
	s := ""
	if c.Name != nil {
		s = c.Name.Name
	}
	if c.Arg != nil {
		s += " " + c.Arg.Name
	}
	return s
}

// cond returns "when METRIC OP THRESHOLD".
func cond(c *Cond) string {
	if c == nil {
		return "when"
	}
	metric := ""
	if c.Metric != nil {
		metric = c.Metric.Name
	}
	return "when " + metric + " " + c.Op.String() + " " + lit(c.Threshold)
}

func lit(x *BasicLit) string {
	if x == nil {
		return ""
	}
	return x.Value
}

// ----------------------------------------------------------------------------
// Comments and source lines

func isEmpty(g *CommentGroup) bool { return len(comments(g)) == 0 }

// comments returns the comments of g, leaving out nil entries.
func comments(g *CommentGroup) []*Comment {
	if g == nil {
		return nil
	}
	list := g.List[:0:0]
	for _, c := range g.List {
		if c != nil {
			list = append(list, c)
		}
	}
	return list
}

// commentText is the text of c as written, without trailing white space.
func commentText(c *Comment) string {
	return strings.TrimRight(c.Text, " \t\r\n")
}

// gap reports whether the source had at least one blank line between line
// a and line b; unknown lines (0) never make a gap.
func gap(a, b int) bool { return a > 0 && b > 0 && b-a > 1 }

// posLine returns the source line of pos, or 0 if unknown.
func (p *printer) posLine(pos lexer.Pos) int {
	if p.src == nil || !pos.IsValid() {
		return 0
	}
	return p.src.Line(pos)
}

// lastLine returns the line a node ends on, its line comments included;
// end is the position just after the node.
func (p *printer) lastLine(end lexer.Pos, c *CommentGroup) int {
	if list := comments(c); len(list) > 0 {
		if l := p.posLine(list[len(list)-1].Hash); l > 0 {
			return l
		}
	}
	if end > 1 {
		end-- // the node's last byte: End may lie on the next line
	}
	return p.posLine(end)
}

// source returns the source text between from and to, trimmed, or "".
func (p *printer) source(from, to lexer.Pos) string {
	if p.src == nil || !from.IsValid() || to < from {
		return ""
	}
	src := p.src.Src()
	i, j := from.Offset(), to.Offset()
	if i < 0 || j > len(src) || i > j {
		return ""
	}
	return strings.TrimSpace(string(src[i:j]))
}
