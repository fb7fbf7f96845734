package tokenizer

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var qwen2Split = knownPatterns[`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`]

// TestSplit checks pieces worked out by hand from the Qwen2 pattern; the
// comment on each names the alternatives that make its pieces.
func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"hello world", []string{"hello", " world"}},         // \p{L}+, then " " + \p{L}+
		{"I'm here", []string{"I", "'m", " here"}},           // the contraction before the word
		{"'see", []string{"'s", "ee"}},                       // contractions come first, even inside a word
		{"DON'T", []string{"DON", "'T"}},                     // (?i)
		{"(hello)", []string{"(hello", ")"}},                 // one non-letter before letters
		{"x  y", []string{"x", " ", " y"}},                   // \s+(?!\S) leaves the last space to the word
		{"x   ", []string{"x", "   "}},                       // \s+(?!\S) at the end takes all
		{"a 42", []string{"a", " ", "4", "2"}},               // \s+ alone, then \p{N} one by one
		{"a\n\n  b", []string{"a", "\n\n", " ", " b"}},       // \s*[\r\n]+ ends at the last newline
		{"a  \n \n  b", []string{"a", "  \n \n", " ", " b"}}, // and takes the spaces before it
		{"x = y;\n", []string{"x", " =", " y", ";\n"}},       // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
		{"...!!\r\n\r\nz", []string{"...!!\r\n\r\n", "z"}},   // its trailing newlines
		{"\tfoo", []string{"\tfoo"}},                         // a tab may lead a word
		{"\nfoo", []string{"\n", "foo"}},                     // a newline may not
		{"你好，世界", []string{"你好", "，世界"}},                     // CJK are letters; "，" leads the next word
		{"😀😀 ok", []string{"😀😀", " ok"}},                     // emoji are neither letters nor numbers
		{"a\u00a0b", []string{"a", "\u00a0b"}},               // NBSP is \s but may lead a word
		{"  \u3000x", []string{"  ", "\u3000x"}},             // U+3000 is \s
		{"", nil},
	} {
		if got := qwen2Split.split(tc.in, nil); !slices.Equal(got, tc.want) {
			t.Errorf("split(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// refSplit is a second, independent implementation of a pattern: Go's
// regexp, which picks the match a backtracking engine would pick, for the
// alternatives it can express, and a literal backtracking loop for
// \s+(?!\S). \s is spelled out as Oniguruma's Unicode \s, since Go's \s is
// ASCII only.
type refSplit struct{ head, space *regexp.Regexp }

func newRefSplit(maxDigits string) refSplit {
	const s = `\t\n\v\f\r\x{85}\p{Z}`
	head := `^(?:(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,` + maxDigits + `}| ?[^` + s + `\p{L}\p{N}]+[\r\n]*|[` + s + `]*[\r\n]+)`
	return refSplit{regexp.MustCompile(head), regexp.MustCompile(`^[` + s + `]+`)}
}

func (r refSplit) split(t *testing.T, in string) []string {
	var pieces []string
	for len(in) > 0 {
		n := 0
		if loc := r.head.FindStringIndex(in); loc != nil {
			n = loc[1]
		} else if loc := r.space.FindStringIndex(in); loc != nil {
			// \s+(?!\S): the longest run of whitespace after which
			// comes no non-space; else \s+.
			run := in[:loc[1]]
			for k := len(run); k > 0; {
				after := in[k:]
				if after == "" || r.space.MatchString(after) {
					n = k
					break
				}
				_, w := utf8.DecodeLastRuneInString(run[:k])
				k -= w
			}
			if n == 0 {
				n = len(run)
			}
		} else {
			t.Fatalf("reference: no match at %q", in)
		}
		pieces = append(pieces, in[:n])
		in = in[n:]
	}
	return pieces
}

var refQwen2, refLlama3 = newRefSplit("1"), newRefSplit("3")

func checkSplit(t *testing.T, in string) {
	if got, want := qwen2Split.split(in, nil), refQwen2.split(t, in); !slices.Equal(got, want) {
		t.Errorf("Qwen2 split(%q) = %q, the regexp gives %q", in, got, want)
	}
	llama3 := splitter{maxDigits: 3}
	if got, want := llama3.split(in, nil), refLlama3.split(t, in); !slices.Equal(got, want) {
		t.Errorf("Llama-3 split(%q) = %q, the regexp gives %q", in, got, want)
	}
}

func TestSplitMatchesRegexp(t *testing.T) {
	for _, s := range corpus {
		checkSplit(t, s)
	}
	checkSplit(t, "1234567 a12b 12.5 ٣٤٥٦")
}

// FuzzSplit checks the hand-written splitters against the regexp, and that
// the pieces are never empty and make up the text.
func FuzzSplit(f *testing.F) {
	for _, s := range corpus {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pieces := qwen2Split.split(s, nil)
		if strings.Join(pieces, "") != s || slices.Contains(pieces, "") {
			t.Fatalf("split(%q) = %q", s, pieces)
		}
		if utf8.ValidString(s) {
			checkSplit(t, s)
		}
	})
}
