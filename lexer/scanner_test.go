package lexer

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// scanAll returns the tokens of src as "TOKEN lit" strings and the errors
// as "offset: msg".
func scanAll(src string) (toks, errs []string) {
	var s Scanner
	s.Init(NewFile("x.moe", []byte(src)), func(pos, end Pos, msg string) {
		errs = append(errs, fmt.Sprintf("%d-%d: %s", pos.Offset(), end.Offset(), msg))
	})
	for {
		pos, tok, lit := s.Scan()
		if tok == EOF {
			return toks, errs
		}
		toks = append(toks, fmt.Sprintf("%d %s %s", pos.Offset(), tok, lit))
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		src  string
		toks []string
		errs []string
	}{
		{src: "", toks: nil},
		{src: "  ;;\t\r\n;", toks: nil},
		{src: "capacity = 16", toks: []string{"0 IDENT capacity", "9 = =", "11 INT 16"}},
		{src: "007 .5 5e-1 1.5E2 1. 3e 1e+2 2E", toks: []string{
			"0 INT 007", "4 NUMBER .5", "7 NUMBER 5e-1", "12 NUMBER 1.5E2", "18 NUMBER 1.",
			"21 INT 3", "22 IDENT e", "24 NUMBER 1e+2", "29 INT 2", "30 IDENT E"}},
		{src: "lfu2 LRU _x Policy_2", toks: []string{"0 IDENT lfu2", "5 IDENT LRU", "9 IDENT _x", "12 IDENT Policy_2"}},
		{src: "< > <= >= != = : | , { } [ ]", toks: []string{
			"0 < <", "2 > >", "4 <= <=", "7 >= >=", "10 != !=", "13 = =", "15 : :", "17 | |",
			"19 , ,", "21 { {", "23 } }", "25 [ [", "27 ] ]"}},
		{src: "a # comment\r\nb#c", toks: []string{"0 IDENT a", "2 COMMENT # comment", "13 IDENT b", "14 COMMENT #c"}},
		{src: "capacity = 16;", toks: []string{"0 IDENT capacity", "9 = =", "11 INT 16"}},
		{src: "5e- 5e+x", toks: []string{"0 ILLEGAL 5e-", "4 ILLEGAL 5e+", "7 IDENT x"},
			errs: []string{`0-3: malformed number "5e-": the exponent has no digits`, `4-7: malformed number "5e+": the exponent has no digits`}},
		{src: "a == b", toks: []string{"0 IDENT a", "2 ILLEGAL ==", "5 IDENT b"},
			errs: []string{`2-4: unexpected "==" (the comparisons are <, >, <=, >= and !=)`}},
		{src: "-1", toks: []string{"0 ILLEGAL -", "1 INT 1"},
			errs: []string{`0-1: unexpected "-" (numbers are written without a sign)`}},
		{src: `["hit_rate"]`, toks: []string{"0 [ [", `1 ILLEGAL "hit_rate"`, "11 ] ]"},
			errs: []string{`1-11: unexpected "\"" (there are no strings: write the word without quotes)`}},
		{src: "!x", toks: []string{"0 ILLEGAL !", "1 IDENT x"}, errs: []string{`0-1: unexpected "!" (did you mean "!="?)`}},
		{src: "é", toks: []string{"0 ILLEGAL é"}, errs: []string{`0-2: unexpected character U+00E9 'é'`}},
		{src: "\x00", toks: []string{"0 ILLEGAL \x00"}, errs: []string{`0-1: unexpected character U+0000`}},
		{src: "\xff", toks: []string{"0 ILLEGAL \xff"}, errs: []string{`0-1: invalid UTF-8 encoding`}},
	}
	for _, tt := range tests {
		toks, errs := scanAll(tt.src)
		if diff := cmp.Diff(tt.toks, toks); diff != "" {
			t.Errorf("Scan(%q) tokens (-want +got):\n%s", tt.src, diff)
		}
		if diff := cmp.Diff(tt.errs, errs); diff != "" {
			t.Errorf("Scan(%q) errors (-want +got):\n%s", tt.src, diff)
		}
	}
}

func TestPosition(t *testing.T) {
	f := NewFile("dir/p.moe", []byte("ab\ncd\n\nef"))
	tests := []struct {
		off  int
		want string
	}{
		{0, "dir/p.moe:1:1"},
		{1, "dir/p.moe:1:2"},
		{2, "dir/p.moe:1:3"}, // the newline belongs to its line
		{3, "dir/p.moe:2:1"},
		{6, "dir/p.moe:3:1"},
		{8, "dir/p.moe:4:2"},
		{9, "dir/p.moe:4:3"}, // end of file
	}
	for _, tt := range tests {
		if got := f.Position(PosOf(tt.off)).String(); got != tt.want {
			t.Errorf("Position(%d) = %s, want %s", tt.off, got, tt.want)
		}
	}
	if got := f.Position(NoPos).String(); got != "dir/p.moe" {
		t.Errorf("Position(NoPos) = %s, want the file name alone", got)
	}
	if got := (Position{}).String(); got != "-" {
		t.Errorf("zero Position = %q, want \"-\"", got)
	}
}

func TestIsEnumWord(t *testing.T) {
	for s, want := range map[string]bool{"lru": true, "frequency_threshold": true, "_": true, "": false, "LRU": false, "lfu2": false} {
		if got := IsEnumWord(s); got != want {
			t.Errorf("IsEnumWord(%q) = %v, want %v", s, got, want)
		}
	}
}
