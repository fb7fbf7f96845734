package lexer

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// An ErrorHandler receives the lexical errors of a Scanner: the span of the
// offending text and a message.
type ErrorHandler func(pos, end Pos, msg string)

// A Scanner turns the text of a File into tokens. Whitespace and ';' are
// skipped; comments are returned as COMMENT tokens so that the formatter
// can keep them. A Scanner never fails: bad input becomes an ILLEGAL token
// and a call of the error handler.
type Scanner struct {
	file *File
	src  []byte
	err  ErrorHandler
	off  int // offset of the next unread byte
}

// bom is the UTF-8 byte order mark that some editors put first in a file.
const bom = "\uFEFF"

// Init prepares s to scan file. errh may be nil. A byte order mark at the
// start of the file is skipped, as go/scanner skips it; the offsets, and
// so the columns of the first line, still count its three bytes.
func (s *Scanner) Init(file *File, errh ErrorHandler) {
	*s = Scanner{file: file, src: file.src, err: errh}
	if bytes.HasPrefix(s.src, []byte(bom)) {
		s.off = len(bom)
	}
}

func (s *Scanner) error(off, end int, format string, args ...any) {
	if s.err != nil {
		s.err(PosOf(off), PosOf(end), fmt.Sprintf(format, args...))
	}
}

// Scan returns the next token, its position and its text. At the end of the
// file it returns EOF, again and again.
func (s *Scanner) Scan() (pos Pos, tok Token, lit string) {
	s.skipSpace()
	start := s.off
	pos = PosOf(start)
	if s.off >= len(s.src) {
		return pos, EOF, ""
	}
	c := s.src[s.off]
	switch {
	case isLetter(c):
		for s.off < len(s.src) && (isLetter(s.src[s.off]) || isDigit(s.src[s.off])) {
			s.off++
		}
		return pos, IDENT, string(s.src[start:s.off])
	case isDigit(c) || c == '.' && s.peekDigit(1):
		tok = s.number()
		if tok == ILLEGAL {
			s.error(start, s.off, "malformed number %q: the exponent has no digits", s.src[start:s.off])
		}
		return pos, tok, string(s.src[start:s.off])
	}
	s.off++
	switch c {
	case '#':
		for s.off < len(s.src) && s.src[s.off] != '\n' {
			s.off++
		}
		lit = string(s.src[start:s.off])
		if len(lit) > 0 && lit[len(lit)-1] == '\r' {
			lit = lit[:len(lit)-1]
		}
		if !utf8.ValidString(lit) {
			s.error(start, s.off, "invalid UTF-8 encoding in comment")
		}
		return pos, COMMENT, lit
	case '=':
		if s.next('=') {
			s.error(start, s.off, `unexpected "==" (the comparisons are <, >, <=, >= and !=)`)
			return pos, ILLEGAL, "=="
		}
		return pos, ASSIGN, "="
	case ':':
		return pos, COLON, ":"
	case '|':
		return pos, PIPE, "|"
	case ',':
		return pos, COMMA, ","
	case '{':
		return pos, LBRACE, "{"
	case '}':
		return pos, RBRACE, "}"
	case '[':
		return pos, LBRACK, "["
	case ']':
		return pos, RBRACK, "]"
	case '<':
		if s.next('=') {
			return pos, LE, "<="
		}
		return pos, LT, "<"
	case '>':
		if s.next('=') {
			return pos, GE, ">="
		}
		return pos, GT, ">"
	case '!':
		if s.next('=') {
			return pos, NE, "!="
		}
		s.error(start, s.off, `unexpected "!" (did you mean "!="?)`)
		return pos, ILLEGAL, "!"
	case '-', '+':
		s.error(start, s.off, "unexpected %q (numbers are written without a sign)", string(c))
		return pos, ILLEGAL, string(c)
	case '"', '\'':
		// Skip the would-be string so that its words do not cascade into
		// more errors.
		for s.off < len(s.src) && s.src[s.off] != c && s.src[s.off] != '\n' {
			s.off++
		}
		if s.off < len(s.src) && s.src[s.off] == c {
			s.off++
		}
		s.error(start, s.off, "unexpected %q (there are no strings: write the word without quotes)", string(c))
		return pos, ILLEGAL, string(s.src[start:s.off])
	}
	// Anything else: report the whole character, not one byte of it.
	r, size := utf8.DecodeRune(s.src[start:])
	s.off = start + size
	switch {
	case r == utf8.RuneError && size == 1:
		s.error(start, s.off, "invalid UTF-8 encoding")
	case r < utf8.RuneSelf && !isPrint(byte(r)):
		s.error(start, s.off, "unexpected character %U", r)
	default:
		s.error(start, s.off, "unexpected character %U %q", r, r)
	}
	return pos, ILLEGAL, string(s.src[start:s.off])
}

// number scans INT and NUMBER: digits, then an optional fraction and an
// optional exponent. An 'e' not followed by digits is not part of the
// number, as in the reference's lexer ("16e" is INT 16 and the name "e"),
// but an 'e' and a sign without digits ("5e-") is a malformed number,
// returned as ILLEGAL.
func (s *Scanner) number() Token {
	tok := INT
	s.digits()
	if s.off < len(s.src) && s.src[s.off] == '.' {
		tok = NUMBER
		s.off++
		s.digits()
	}
	if s.off < len(s.src) && (s.src[s.off] == 'e' || s.src[s.off] == 'E') {
		n := 1
		if s.off+1 < len(s.src) && (s.src[s.off+1] == '+' || s.src[s.off+1] == '-') {
			n = 2
		}
		switch {
		case s.peekDigit(n):
			tok = NUMBER
			s.off += n
			s.digits()
		case n == 2: // "5e-": a sign promises an exponent
			s.off += n
			tok = ILLEGAL
		}
	}
	return tok
}

func (s *Scanner) digits() {
	for s.off < len(s.src) && isDigit(s.src[s.off]) {
		s.off++
	}
}

func (s *Scanner) peekDigit(n int) bool {
	return s.off+n < len(s.src) && isDigit(s.src[s.off+n])
}

func (s *Scanner) next(c byte) bool {
	if s.off < len(s.src) && s.src[s.off] == c {
		s.off++
		return true
	}
	return false
}

// skipSpace skips white space and ';', which the language ignores
// everywhere.
func (s *Scanner) skipSpace() {
	for s.off < len(s.src) {
		switch s.src[s.off] {
		case ' ', '\t', '\n', '\r', ';':
			s.off++
		default:
			return
		}
	}
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isPrint(c byte) bool  { return ' ' <= c && c < 0x7f }

// IsEnumWord reports whether s has the form of an enum word, [a-z_]+.
func IsEnumWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}
