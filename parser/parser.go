package parser

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moepolicy/moec/ast"
	"github.com/moepolicy/moec/diag"
	"github.com/moepolicy/moec/internal/spell"
	"github.com/moepolicy/moec/lexer"
	"github.com/moepolicy/moec/rt"
)

// ParseFile parses the .moe source src, named filename in diagnostics. It
// always returns a file, with Bad nodes where it could not read the text,
// and every syntax error it found, sorted by position. It never panics.
func ParseFile(filename string, src []byte) (*ast.File, diag.Diagnostics) {
	p := &parser{file: lexer.NewFile(filename, src), errLine: -1}
	p.sc.Init(p.file, p.lexError)
	p.next()
	f := p.parseFile()
	p.diags.Sort()
	return f, p.diags
}

// parser holds the state of one parse. There is no package state.
type parser struct {
	file  *lexer.File
	sc    lexer.Scanner
	diags diag.Diagnostics

	// The lookahead token.
	pos lexer.Pos
	tok lexer.Token
	lit string

	prevEnd lexer.Pos // end of the token before the lookahead

	// Comments read but not yet attached, in source order; line is the
	// one among them, if any, that stands on the line of the token before
	// the lookahead.
	lead []*ast.Comment
	line *ast.Comment

	errLine int // line of the last syntax error, to drop a second one there
}

// next moves to the next token that is not a comment, collecting the
// comments it passes.
func (p *parser) next() {
	p.prevEnd = p.pos + lexer.Pos(len(p.lit))
	if p.tok == lexer.EOF && p.pos.IsValid() {
		return
	}
	p.line = nil
	for first := true; ; first = false {
		p.pos, p.tok, p.lit = p.sc.Scan()
		if p.tok != lexer.COMMENT {
			return
		}
		c := &ast.Comment{Hash: p.pos, Text: p.lit}
		if first && p.prevEnd.IsValid() && p.file.Line(p.pos) == p.file.Line(p.prevEnd) {
			p.line = c
		}
		p.lead = append(p.lead, c)
	}
}

// takeDoc returns the comments read so far as the doc of the node that
// starts at the lookahead.
func (p *parser) takeDoc() *ast.CommentGroup {
	if len(p.lead) == 0 {
		return nil
	}
	g := &ast.CommentGroup{List: p.lead}
	p.lead, p.line = nil, nil
	return g
}

// takeLine returns the comment on the line of the node that just ended,
// if there is one.
func (p *parser) takeLine() *ast.CommentGroup {
	if p.line == nil {
		return nil
	}
	i := slices.Index(p.lead, p.line)
	if i < 0 {
		return nil
	}
	g := &ast.CommentGroup{List: []*ast.Comment{p.line}}
	p.lead, p.line = slices.Delete(p.lead, i, i+1), nil
	if len(p.lead) == 0 {
		p.lead = nil
	}
	return g
}

// ----------------------------------------------------------------------------
// Errors

func (p *parser) lexError(pos, end lexer.Pos, msg string) { p.errorAt(pos, end, "%s", msg) }

// errorAt records a syntax error, unless one was already recorded on the
// same line: the second is nearly always a consequence of the first.
func (p *parser) errorAt(pos, end lexer.Pos, format string, args ...any) {
	line := p.file.Line(pos)
	if line == p.errLine {
		return
	}
	p.errLine = line
	p.diags.Add(p.file, pos, end, diag.RuleSyntax, format, args...)
}

// error records a syntax error at the lookahead token.
func (p *parser) error(format string, args ...any) {
	p.errorAt(p.pos, p.pos+lexer.Pos(len(p.lit)), format, args...)
}

// found describes the lookahead token for "expected X, found Y".
func (p *parser) found() string {
	switch p.tok {
	case lexer.EOF:
		return "end of file"
	case lexer.ILLEGAL:
		return strconv.Quote(p.lit)
	}
	return strconv.Quote(p.lit)
}

func (p *parser) errorExpected(what string) {
	p.error("expected %s, found %s", what, p.found())
}

// expect consumes the lookahead if it is tok and reports an error
// otherwise. It returns the position of the token, or NoPos.
func (p *parser) expect(tok lexer.Token) lexer.Pos {
	if p.tok != tok {
		p.errorExpected(strconv.Quote(tok.String()))
		return lexer.NoPos
	}
	pos := p.pos
	p.next()
	return pos
}

func (p *parser) isWord(w string) bool { return p.tok == lexer.IDENT && p.lit == w }

func (p *parser) ident() *ast.Ident {
	id := &ast.Ident{NamePos: p.pos, Name: p.lit}
	p.next()
	return id
}

func (p *parser) lit1(kind lexer.Token) *ast.BasicLit {
	x := &ast.BasicLit{ValuePos: p.pos, Kind: kind, Value: p.lit}
	p.next()
	return x
}

// hint returns " (did you mean %q?)" for the closest of words, or "".
func hint(word string, words []string) string {
	if s := spell.Suggest(word, words); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// ----------------------------------------------------------------------------
// Recovery

// skipTo skips tokens, and whole brace-balanced groups, until the
// lookahead is an anchor: end of file, a "}" that closes the enclosing
// construct, or a word stop accepts. It always consumes at least one token
// unless the lookahead is already an anchor, so every loop that calls it
// makes progress.
func (p *parser) skipTo(stop func() bool) {
	for p.tok != lexer.EOF && p.tok != lexer.RBRACE {
		if p.tok == lexer.IDENT && stop() {
			return
		}
		if p.tok == lexer.LBRACE {
			p.skipGroup()
			continue
		}
		p.next()
	}
}

// skipGroup skips a brace-balanced group starting at "{".
func (p *parser) skipGroup() {
	depth := 0
	for p.tok != lexer.EOF {
		switch p.tok {
		case lexer.LBRACE:
			depth++
		case lexer.RBRACE:
			depth--
			if depth == 0 {
				p.next()
				return
			}
		}
		p.next()
	}
}

// ----------------------------------------------------------------------------
// File, version, policy

// file = [ version ] policy { policy } .
func (p *parser) parseFile() *ast.File {
	f := &ast.File{Source: p.file}
	if p.isWord("version") {
		f.Version = p.parseVersion()
	}
	for p.tok != lexer.EOF {
		switch {
		case p.isWord("policy"):
			if pol := p.parsePolicy(); pol != nil {
				f.Policies = append(f.Policies, pol)
			}
		case p.isWord("version"):
			p.error("version must come before the first policy")
			p.parseVersion()
		case p.tok == lexer.IDENT && isBlockName(p.lit) && len(f.Policies) > 0:
			// A block after the policy closed: most likely one "}" too
			// many. The policy may miss this block; do not hold that
			// against it.
			p.error("%s block outside a policy (one \"}\" too many before it?)", p.lit)
			f.Policies[len(f.Policies)-1].Incomplete = true
			p.next()
			p.skipTo(func() bool { return p.lit == "policy" })
			if p.tok == lexer.RBRACE {
				p.next()
			}
		default:
			p.errorExpected(`"policy"`)
			p.next()
			p.skipTo(func() bool { return p.lit == "policy" })
			if p.tok == lexer.RBRACE {
				p.next()
			}
		}
	}
	if len(f.Policies) == 0 && len(p.diags) == 0 {
		p.error("expected a policy, found end of file")
	}
	if len(p.lead) > 0 {
		f.Trailing = &ast.CommentGroup{List: p.lead}
		p.lead, p.line = nil, nil
	}
	return f
}

// version = "version" NUMBER .
func (p *parser) parseVersion() *ast.Version {
	v := &ast.Version{Doc: p.takeDoc(), Keyword: p.pos}
	p.next()
	if p.tok != lexer.INT && p.tok != lexer.NUMBER {
		p.errorExpected("version number")
		v.Value = &ast.BasicLit{ValuePos: p.pos, Kind: lexer.NUMBER}
		if p.tok != lexer.EOF && !p.isWord("policy") {
			p.next()
		}
		return v
	}
	v.Value = p.lit1(p.tok)
	v.Comment = p.takeLine()
	return v
}

// policy = "policy" NAME "{" block { block } "}" .
//
// A policy without "{" is skipped whole and not returned: nothing in it
// could be read reliably.
func (p *parser) parsePolicy() *ast.Policy {
	pol := &ast.Policy{Doc: p.takeDoc(), Keyword: p.pos}
	p.next()
	if p.tok != lexer.IDENT {
		p.errorExpected("policy name")
		if p.tok != lexer.LBRACE {
			p.skipTo(func() bool { return p.lit == "policy" })
			return nil
		}
		pol.Name = &ast.Ident{NamePos: p.pos}
	} else {
		pol.Name = p.ident()
	}
	if p.tok != lexer.LBRACE {
		p.errorExpected(`"{" after policy name`)
		p.skipTo(func() bool { return p.lit == "policy" })
		if p.tok == lexer.RBRACE {
			p.next()
		}
		return nil
	}
	pol.Lbrace = p.pos
	p.next()
	for p.tok != lexer.RBRACE && p.tok != lexer.EOF {
		if p.isWord("policy") {
			break // a "}" is missing; the file loop reads the next policy
		}
		if p.tok == lexer.IDENT && isBlockName(p.lit) {
			if b := p.parseBlock(); b != nil {
				pol.Blocks = append(pol.Blocks, b)
			} else {
				pol.Incomplete = true
			}
			continue
		}
		p.badBlock()
		pol.Incomplete = true
	}
	pol.Footer = p.takeDoc()
	switch {
	case p.tok == lexer.RBRACE:
		if len(pol.Blocks) == 0 && !pol.Incomplete {
			p.error("policy %q has no blocks", pol.Name.Name)
		}
		pol.Rbrace = p.pos
		p.next()
		pol.Comment = p.takeLine()
	default:
		p.errorExpected(`"}" to close policy ` + strconv.Quote(pol.Name.Name))
	}
	return pol
}

// badBlock reports and skips what stands where a block should.
func (p *parser) badBlock() {
	switch {
	case p.tok != lexer.IDENT:
		p.errorExpected("block name")
	case blockOfKey(p.lit) != "":
		p.error("%q must be written inside a %s block", p.lit, blockOfKey(p.lit))
	default:
		p.error("unknown block %q%s", p.lit, hint(p.lit, blockNames))
	}
	p.next()
	p.skipTo(func() bool { return isBlockName(p.lit) || p.lit == "policy" })
}

// ----------------------------------------------------------------------------
// Blocks and items

// block = BLOCKNAME "{" item { item } "}" .
//
// A block without "{" is skipped and not returned.
func (p *parser) parseBlock() *ast.Block {
	b := &ast.Block{Doc: p.takeDoc(), Name: p.ident()}
	kind := b.Name.Name
	if p.tok != lexer.LBRACE {
		p.errorExpected(fmt.Sprintf(`"{" after %q`, kind))
		p.skipTo(func() bool { return isBlockName(p.lit) || p.lit == "policy" })
		return nil
	}
	b.Lbrace = p.pos
	p.next()
	for p.tok != lexer.RBRACE && p.tok != lexer.EOF {
		if p.tok == lexer.IDENT && (isBlockName(p.lit) || p.lit == "policy") {
			break // a "}" is missing; the policy reads on
		}
		b.Items = append(b.Items, p.parseItem(kind))
	}
	b.Footer = p.takeDoc()
	if p.tok != lexer.RBRACE {
		p.errorExpected(fmt.Sprintf(`"}" to close %s block`, kind))
		return b
	}
	if len(b.Items) == 0 {
		p.error("empty %s block", kind)
	}
	b.Rbrace = p.pos
	p.next()
	b.Comment = p.takeLine()
	return b
}

// isAnchor reports whether the lookahead word starts an item of block,
// the next block, or the next policy: the places to resume after an error.
func (p *parser) isAnchor(block string) bool {
	if _, ok := lookupKey(block, p.lit); ok {
		return true
	}
	return block == "adapt" && p.lit == "when" || isBlockName(p.lit) || p.lit == "policy"
}

// item = field | rule .
func (p *parser) parseItem(block string) ast.Item {
	doc := p.takeDoc()
	if block == "adapt" && p.isWord("when") {
		if r := p.parseRule(doc); r != nil {
			return r
		}
		return p.badItem(block, p.prevEnd) // parseRule reported and skipped
	}
	start := p.pos
	if p.tok != lexer.IDENT {
		p.errorExpected(block + " key")
		p.next()
		return p.badItem(block, start)
	}
	spec, ok := lookupKey(block, p.lit)
	if !ok {
		if other := blockOfKey(p.lit); other != "" {
			p.error("%q is a %s key, not a %s key", p.lit, other, block)
		} else {
			p.error("unknown %s key %q%s", block, p.lit, hint(p.lit, keyNames(block)))
		}
		p.next()
		return p.badItem(block, start)
	}
	f := &ast.Field{Doc: doc, Key: p.ident()}
	f.Assign = p.expect(lexer.ASSIGN)
	if !f.Assign.IsValid() {
		if p.tok != lexer.RBRACE && p.tok != lexer.EOF && !(p.tok == lexer.IDENT && p.isAnchor(block)) {
			p.next()
		}
		return p.badItem(block, start)
	}
	f.Value = p.parseValue(block, spec, f.Key.End())
	f.Comment = p.takeLine()
	return f
}

// badItem skips to the next anchor of block and returns a BadItem for
// everything since from.
func (p *parser) badItem(block string, from lexer.Pos) ast.Item {
	p.skipTo(func() bool { return p.isAnchor(block) })
	return &ast.BadItem{From: from, To: max(p.prevEnd, from)}
}

// parseValue reads the value of a key: a literal of the key's form, a list,
// "A | B", or "D : W when ...".
func (p *parser) parseValue(block string, spec rt.KeyDef, keyEnd lexer.Pos) ast.Expr {
	start := p.pos
	x := p.parseLiteral(block, spec, keyEnd)
	if x == nil {
		return &ast.BadExpr{From: start, To: max(p.prevEnd, start)}
	}
	lit, isLit := x.(*ast.BasicLit)
	switch {
	case isLit && spec.Pipe && p.tok == lexer.PIPE:
		pipe := p.pos
		p.next()
		y := p.parseLiteral(block, spec, keyEnd)
		if y == nil {
			return &ast.BadExpr{From: start, To: p.prevEnd}
		}
		return &ast.PipeExpr{X: lit, Pipe: pipe, Y: y.(*ast.BasicLit)}
	case isLit && spec.Cond && p.tok == lexer.COLON:
		colon := p.pos
		p.next()
		y := p.parseLiteral(block, spec, keyEnd)
		if y == nil {
			return &ast.BadExpr{From: start, To: p.prevEnd}
		}
		if !p.isWord("when") {
			p.errorExpected(`"when" after conditional value`)
			return &ast.BadExpr{From: start, To: p.prevEnd}
		}
		c := p.parseCond()
		if c == nil {
			return &ast.BadExpr{From: start, To: p.prevEnd}
		}
		return &ast.CondExpr{X: lit, Colon: colon, Y: y.(*ast.BasicLit), Cond: c}
	case p.tok == lexer.PIPE && !spec.Pipe:
		p.error("%q cannot be composed with \"|\"; only %s can", spec.Name, rt.PipeKeys())
		return &ast.BadExpr{From: start, To: p.prevEnd}
	case p.tok == lexer.COLON && !spec.Cond:
		p.error("%q cannot take a conditional value; %s can", spec.Name, rt.CondKeys())
		return &ast.BadExpr{From: start, To: p.prevEnd}
	}
	return x
}

// parseLiteral reads one value of the key's form. On an error it reports,
// consumes the offending token unless it starts the next item, and returns
// nil.
func (p *parser) parseLiteral(block string, spec rt.KeyDef, keyEnd lexer.Pos) ast.Expr {
	if p.tok == lexer.IDENT && p.isAnchor(block) && p.file.Line(p.pos) != p.file.Line(keyEnd) {
		// "eviction =" at the end of a line, and the next key below: the
		// value is missing, the next key is not it.
		p.errorAt(p.prevEnd, p.prevEnd, "missing value for %q", spec.Name)
		return nil
	}
	switch spec.Kind {
	case rt.IntKind:
		if p.tok == lexer.INT {
			return p.lit1(lexer.INT)
		}
		p.error("%s must be an integer, found %s", spec.Name, p.found())
	case rt.NumberKind:
		if p.tok == lexer.INT || p.tok == lexer.NUMBER {
			return p.lit1(p.tok)
		}
		p.error("%s must be a number, found %s", spec.Name, p.found())
	case rt.WordKind:
		if p.tok == lexer.IDENT && lexer.IsEnumWord(p.lit) {
			x := p.lit1(lexer.IDENT)
			if _, isKey := lookupKey(block, x.Value); isKey && p.tok == lexer.ASSIGN {
				// "eviction = frequency_decay = 0.9": the value is
				// missing and the word is the next key.
				p.errorAt(x.Pos(), x.End(), "missing value for %q", spec.Name)
				return nil
			}
			return x
		}
		p.badWord(spec.Name)
	case rt.BoolKind:
		if p.isWord("true") || p.isWord("false") {
			return p.lit1(lexer.IDENT)
		}
		p.error("%s must be true or false, found %s", spec.Name, p.found())
	case rt.IntListKind, rt.WordListKind:
		return p.parseList(spec)
	}
	p.skipBad(block, keyEnd)
	return nil
}

// badWord reports a lookahead that should have been an enum word, the
// value of what.
func (p *parser) badWord(what string) {
	if p.tok == lexer.IDENT {
		if low := strings.ToLower(p.lit); lexer.IsEnumWord(low) {
			p.error("%q is not a word of the language: words are lower case (did you mean %q?)", p.lit, low)
			return
		}
		p.error("%q is not a word of the language: words are lower-case letters and \"_\"", p.lit)
		return
	}
	p.error("%s must be a word, found %s", what, p.found())
}

// skipBad consumes the offending lookahead, unless it is where the next
// item (on a later line) or the end of the block starts.
func (p *parser) skipBad(block string, keyEnd lexer.Pos) {
	switch {
	case p.tok == lexer.RBRACE || p.tok == lexer.EOF:
	case p.tok == lexer.IDENT && p.isAnchor(block) && p.file.Line(p.pos) != p.file.Line(keyEnd):
	case p.tok == lexer.LBRACE:
		p.skipGroup()
	default:
		p.next()
	}
}

// int_list  = "[" [ INT { "," INT } ] "]" .
// name_list = "[" [ NAME { "," NAME } ] "]" .
func (p *parser) parseList(spec rt.KeyDef) ast.Expr {
	want, what := lexer.INT, "integer"
	if spec.Kind == rt.WordListKind {
		want, what = lexer.IDENT, "name"
	}
	if p.tok != lexer.LBRACK {
		p.errorExpected(`"["`)
		return nil
	}
	l := &ast.ListLit{Lbrack: p.pos}
	p.next()
	for p.tok != lexer.RBRACK {
		if len(l.Elems) > 0 {
			if p.tok != lexer.COMMA {
				p.errorExpected(`"," or "]"`)
				p.skipList()
				return nil
			}
			p.next()
		}
		if p.tok != want {
			if p.tok == lexer.RBRACK && len(l.Elems) > 0 {
				p.error("unexpected \"]\" after \",\" (no trailing comma in lists)")
			} else {
				p.errorExpected(what)
			}
			p.skipList()
			return nil
		}
		l.Elems = append(l.Elems, p.lit1(want))
	}
	l.Rbrack = p.pos
	p.next()
	return l
}

// skipList skips to the end of a list, stopping early at tokens that
// cannot be in one.
func (p *parser) skipList() {
	for {
		switch p.tok {
		case lexer.RBRACK:
			p.next()
			return
		case lexer.INT, lexer.NUMBER, lexer.IDENT, lexer.COMMA, lexer.ILLEGAL:
			p.next()
		default:
			return
		}
	}
}

// cond = "when" NAME CMP NUMBER .
//
// The lookahead is "when". On an error parseCond reports and returns nil.
func (p *parser) parseCond() *ast.Cond {
	c := &ast.Cond{When: p.pos}
	p.next()
	if p.tok != lexer.IDENT {
		p.errorExpected("metric name")
		return nil
	}
	c.Metric = p.ident()
	if !p.tok.IsComparison() {
		p.errorExpected("comparison (<, >, <=, >= or !=)")
		return nil
	}
	c.OpPos, c.Op = p.pos, p.tok
	p.next()
	if p.tok != lexer.INT && p.tok != lexer.NUMBER {
		p.errorExpected("number")
		return nil
	}
	c.Threshold = p.lit1(p.tok)
	return c
}

// ----------------------------------------------------------------------------
// Adapt rules

// rule = cond [ "for" INT "accesses" ] "{" action { action } "}" .
//
// On an error in the condition, parseRule reports, skips the rule and
// returns nil.
func (p *parser) parseRule(doc *ast.CommentGroup) *ast.Rule {
	r := &ast.Rule{Doc: doc}
	skip := func() *ast.Rule {
		p.skipTo(func() bool { return p.isAnchor("adapt") })
		if p.tok == lexer.LBRACE {
			p.skipGroup()
		}
		return nil
	}
	if r.Cond = p.parseCond(); r.Cond == nil {
		return skip()
	}
	if p.isWord("for") {
		r.For = p.pos
		p.next()
		if p.tok != lexer.INT {
			p.errorExpected("number of accesses")
			return skip()
		}
		r.Window = p.lit1(lexer.INT)
		if !p.isWord("accesses") {
			p.errorExpected(`"accesses"`)
			return skip()
		}
		r.Accesses = p.pos
		p.next()
	}
	if p.tok != lexer.LBRACE {
		p.errorExpected(`"{" to start the rule's actions`)
		return skip()
	}
	r.Lbrace = p.pos
	p.next()
	for p.tok != lexer.RBRACE && p.tok != lexer.EOF {
		if p.isWord("when") || p.tok == lexer.IDENT && (isBlockName(p.lit) || p.lit == "policy") {
			break // a "}" is missing
		}
		r.Actions = append(r.Actions, p.parseAction())
	}
	r.Footer = p.takeDoc()
	if p.tok != lexer.RBRACE {
		p.errorExpected(`"}" to close the rule`)
		return r
	}
	if len(r.Actions) == 0 {
		p.error("adapt rule has no actions")
	}
	r.Rbrace = p.pos
	p.next()
	r.Comment = p.takeLine()
	return r
}

// action = NAME "=" ( WORD | NUMBER ) | "trigger" WORD | "rebalance" WORD .
func (p *parser) parseAction() ast.Action {
	doc := p.takeDoc()
	start := p.pos
	bad := func() ast.Action {
		for p.tok != lexer.RBRACE && p.tok != lexer.EOF && !(p.tok == lexer.IDENT && p.file.Line(p.pos) != p.file.Line(start)) {
			if p.tok == lexer.LBRACE {
				p.skipGroup()
				continue
			}
			p.next()
		}
		return &ast.BadItem{From: start, To: max(p.prevEnd, start)}
	}
	if p.tok != lexer.IDENT {
		p.errorExpected("action")
		p.next()
		return bad()
	}
	name := p.ident()
	if (name.Name == "trigger" || name.Name == "rebalance") && p.tok == lexer.IDENT {
		if !lexer.IsEnumWord(p.lit) {
			p.badWord(name.Name)
			p.next()
			return bad()
		}
		c := &ast.Command{Doc: doc, Name: name, Arg: p.ident()}
		c.Comment = p.takeLine()
		return c
	}
	f := &ast.Field{Doc: doc, Key: name}
	if f.Assign = p.expect(lexer.ASSIGN); !f.Assign.IsValid() {
		return bad()
	}
	switch {
	case p.tok == lexer.INT || p.tok == lexer.NUMBER:
		f.Value = p.lit1(p.tok)
	case p.tok == lexer.IDENT && lexer.IsEnumWord(p.lit):
		f.Value = p.lit1(lexer.IDENT)
	default:
		if p.tok == lexer.IDENT {
			p.badWord(name.Name)
		} else {
			p.error("%s must be a number or a word, found %s", name.Name, p.found())
		}
		if p.tok != lexer.RBRACE {
			p.next()
		}
		return bad()
	}
	f.Comment = p.takeLine()
	return f
}
