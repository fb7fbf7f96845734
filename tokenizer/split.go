package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// A splitter is the Split pre-tokenizer of one known pattern, written out as
// code. Hugging Face runs the pattern with Oniguruma; Go's regexp cannot,
// since it has no lookahead, so each alternative is matched by hand below,
// in the pattern's order, with the backtracking the regexp would do spelled
// out where it matters.
type splitter struct {
	// maxDigits is how many \p{N} one piece may hold: 1 for Qwen2's \p{N},
	// 3 for Llama-3's \p{N}{1,3}. It is the only difference between them.
	maxDigits int
}

// knownPatterns maps each split pattern this package implements, exactly as
// tokenizer.json writes it, to its splitter. A file with any other pattern
// is refused: encoding it with the wrong splitter would give ids that differ
// from Hugging Face's without any sign.
var knownPatterns = map[string]splitter{
	// Qwen1.5, Qwen2, Qwen2.5, Qwen3.
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: {maxDigits: 1},
	// Llama-3, Llama-3.1, Llama-3.2.
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: {maxDigits: 3},
}

// The classes the pattern tells runes apart by. \s in Oniguruma's Unicode
// mode (U+0009-U+000D, U+0085, Zs, Zl, Zp) is the White_Space property that
// unicode.IsSpace tests; \p{L} and \p{N} are unicode.IsLetter and
// unicode.IsNumber.
const (
	classOther   = iota // [^\s\p{L}\p{N}]
	classLetter         // \p{L}
	classNumber         // \p{N}
	classNewline        // [\r\n], which is also \s
	classSpace          // \s other than \r and \n
)

// asciiClass holds the class of each ASCII byte, so that English text never
// reaches the unicode tables.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for b := range t {
		t[b] = classOfRune(rune(b))
	}
	return t
}()

func classOfRune(r rune) uint8 {
	switch {
	case r == '\r' || r == '\n':
		return classNewline
	case unicode.IsSpace(r):
		return classSpace
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	}
	return classOther
}

// next decodes the rune at s[i:] and returns its class and width. A byte that
// is not valid UTF-8 counts as one rune of classOther, which keeps it in the
// text (byte-level BPE encodes any byte); Hugging Face never sees such
// bytes, since Rust strings are valid UTF-8.
func next(s string, i int) (class uint8, width int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && w == 1 {
		return classOther, 1
	}
	return classOfRune(r), w
}

// split appends the pieces of s to pieces and returns them. The pieces are
// substrings of s and together are s.
func (sp splitter) split(s string, pieces []string) []string {
	for i := 0; i < len(s); {
		n := sp.match(s, i)
		pieces = append(pieces, s[i:i+n])
		i += n
	}
	return pieces
}

// match returns the length in bytes of the pattern's match at s[i:], which is
// never empty: between them the alternatives match any rune.
func (sp splitter) match(s string, i int) int {
	c0, w0 := next(s, i)

	// (?i:'s|'t|'re|'ve|'m|'ll|'d): an English contraction's ending.
	if s[i] == '\'' {
		if n := contraction(s[i+1:]); n > 0 {
			return 1 + n
		}
	}

	// [^\r\n\p{L}\p{N}]?\p{L}+: a run of letters, after at most one rune
	// that is neither a newline, a letter nor a number (" hello",
	// "(hello", "\thello"). The optional rune is tried first and given up
	// when no letter follows it.
	switch c0 {
	case classLetter:
		return w0 + sp.run(s, i+w0, classLetter)
	case classOther, classSpace:
		if j := i + w0; j < len(s) {
			if c1, w1 := next(s, j); c1 == classLetter {
				return w0 + w1 + sp.run(s, j+w1, classLetter)
			}
		}
	}

	// \p{N} (Qwen2), \p{N}{1,3} (Llama-3): one number rune, or up to three.
	if c0 == classNumber {
		j := i + w0
		for k := 1; k < sp.maxDigits && j < len(s); k++ {
			c, w := next(s, j)
			if c != classNumber {
				break
			}
			j += w
		}
		return j - i
	}

	//  ?[^\s\p{L}\p{N}]+[\r\n]*: a run of other runes (punctuation, symbols,
	// emoji), after at most one space, and the newlines right after it.
	// With the space taken and no other rune after it, the regexp gives the
	// space back and fails at once, since a space is \s.
	j := i
	if s[i] == ' ' {
		j++
	}
	if j < len(s) {
		if c, w := next(s, j); c == classOther {
			j += w + sp.run(s, j+w, classOther)
			for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
				j++
			}
			return j - i
		}
	}

	// What is left starts with \s. Find the run of whitespace, where its
	// last newline ends, and where its last rune starts.
	end, lastNL, lastRune := i, -1, i
	for end < len(s) {
		c, w := next(s, end)
		if c != classNewline && c != classSpace {
			break
		}
		if c == classNewline {
			lastNL = end + w
		}
		lastRune = end
		end += w
	}

	// \s*[\r\n]+: whitespace up to and including its last newline (\s*
	// backtracks until [\r\n]+ can match; [\r\n]+ then stops at the first
	// rune after the last newline, which is not a newline).
	if lastNL > 0 {
		return lastNL - i
	}

	// \s+(?!\S): whitespace not followed by a non-space. At the end of the
	// text that is the whole run; before a non-space it is the run less its
	// last rune, when that leaves something, so that the last space joins
	// the next word (" world").
	if end == len(s) {
		return end - i
	}
	if lastRune > i {
		return lastRune - i
	}

	// \s+: a single whitespace rune before a non-space that no alternative
	// above took, such as the space in " 42".
	return end - i
}

// run returns the length in bytes of the run of class c at s[j:].
func (splitter) run(s string, j int, c uint8) int {
	k := j
	for k < len(s) {
		ck, w := next(s, k)
		if ck != c {
			break
		}
		k += w
	}
	return k - j
}

// contraction returns the length of the contraction ending that t starts
// with (s, t, re, ve, m, ll, d in any case, tried in the pattern's order),
// or 0. Under (?i) Oniguruma folds case the Unicode way, so "s" also
// matches U+017F LATIN SMALL LETTER LONG S, which folds to it; the other
// letters have no such non-ASCII twins.
func contraction(t string) int {
	lower := func(k int) byte {
		if k >= len(t) {
			return 0
		}
		return t[k] | 0x20 // ASCII letters only; others fail the compares below
	}
	switch lower(0) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if lower(1) == 'e' {
			return 2
		}
	case 'l':
		if lower(1) == 'l' {
			return 2
		}
	}
	if len(t) >= 2 && t[:2] == "\u017f" {
		return 2
	}
	return 0
}
