package lexer

import "strconv"

// Token is the kind of a lexical token.
//
// The lexer knows no keywords: block names, keys, enum words, booleans and
// policy names are all IDENT, and the parser decides what an identifier means
// from where it stands. That is what lets a policy be called "cache".
type Token int

// The tokens of the language.
const (
	ILLEGAL Token = iota // a character or sequence that is not part of the language
	EOF
	COMMENT // # to the end of the line

	IDENT  // capacity, lru, Policy_2
	INT    // 16, 007
	NUMBER // 0.9, .5, 1., 5e-1, 1.5E2

	ASSIGN // =
	COLON  // :
	PIPE   // |
	COMMA  // ,
	LBRACE // {
	RBRACE // }
	LBRACK // [
	RBRACK // ]

	LT // <
	GT // >
	LE // <=
	GE // >=
	NE // !=
)

var tokens = [...]string{
	ILLEGAL: "ILLEGAL",
	EOF:     "EOF",
	COMMENT: "COMMENT",
	IDENT:   "IDENT",
	INT:     "INT",
	NUMBER:  "NUMBER",
	ASSIGN:  "=",
	COLON:   ":",
	PIPE:    "|",
	COMMA:   ",",
	LBRACE:  "{",
	RBRACE:  "}",
	LBRACK:  "[",
	RBRACK:  "]",
	LT:      "<",
	GT:      ">",
	LE:      "<=",
	GE:      ">=",
	NE:      "!=",
}

// String returns the token's symbol for operators and delimiters and its
// name for the other tokens.
func (t Token) String() string {
	if 0 <= t && int(t) < len(tokens) {
		return tokens[t]
	}
	return "token(" + strconv.Itoa(int(t)) + ")"
}

// IsComparison reports whether t is one of the comparison operators.
func (t Token) IsComparison() bool { return LT <= t && t <= NE }
