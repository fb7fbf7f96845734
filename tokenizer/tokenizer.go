package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// A Tokenizer encodes text to ids and decodes ids to text. It is immutable
// after Load but for a bounded cache, and safe for concurrent use.
type Tokenizer struct {
	tokens       []token          // by id; unset entries are holes in the id space
	vocab        map[string]int32 // a model token's bytes to its id
	byteID       [256]int32       // the id of each single byte
	merges       map[uint64]merge // by pairKey of the ids merged
	ignoreMerges bool
	added        []addedToken // longest content first
	addedFirst   [256]bool    // whether some added token starts with this byte
	nfc          bool         // the file asks for NFC
	normalize    func(string) string
	split        *splitter
	cache        pieceCache
}

type token struct {
	set     bool
	text    string // as the file writes it
	bytes   string // what it decodes to
	added   bool
	special bool
}

type addedToken struct {
	content string
	id      int32
}

// VocabSize returns one more than the largest id, which is the number of
// rows a model's embedding needs at least.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of an added token (such as "<|im_end|>") or of a
// vocabulary token as the file writes it ("Ġworld").
func (t *Tokenizer) TokenID(text string) (int, bool) {
	for _, a := range t.added {
		if a.content == text {
			return int(a.id), true
		}
	}
	if b, ok := unByteLevel(text); ok {
		if id, ok := t.vocab[string(b)]; ok {
			return int(id), true
		}
	}
	return 0, false
}

// IsSpecial reports whether id is a special added token, one that
// Hugging Face leaves out when decoding with skip_special_tokens.
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.tokens) && t.tokens[id].special
}

// Encode returns the ids of text. Added tokens in the text, special or not,
// become their ids, as Hugging Face's encode does. Bytes that are not valid
// UTF-8 (which Hugging Face cannot be given) are encoded as they are, and
// Decode turns them into U+FFFD.
func (t *Tokenizer) Encode(text string) []int {
	ids := make([]int, 0, len(text)/3+1)
	for len(text) > 0 {
		at, a := t.nextAdded(text)
		plain := t.normalized(text[:at])
		for i := 0; i < len(plain); {
			n := t.split.match(plain, i)
			ids = t.bpe(plain[i:i+n], ids)
			i += n
		}
		if a == nil {
			break
		}
		ids = append(ids, int(a.id))
		text = text[at+len(a.content):]
	}
	return ids
}

// normalized returns text as the file's normalizer leaves it.
func (t *Tokenizer) normalized(text string) string {
	if t.nfc && t.normalize != nil && !isASCII(text) { // ASCII is NFC
		return t.normalize(text)
	}
	return text
}

// nextAdded finds the leftmost added token in text, the longest one at that
// place, and returns where it starts; it returns len(text), nil if there is
// none.
func (t *Tokenizer) nextAdded(text string) (int, *addedToken) {
	if len(t.added) == 0 {
		return len(text), nil
	}
	for i := 0; i < len(text); i++ {
		if !t.addedFirst[text[i]] {
			continue
		}
		for k := range t.added {
			if strings.HasPrefix(text[i:], t.added[k].content) {
				return i, &t.added[k]
			}
		}
	}
	return len(text), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Decode returns the text of ids, special tokens included. Bytes that do
// not form valid UTF-8 (a character cut between ids, or ids that make no
// character) become U+FFFD, one for each maximal invalid sequence, as
// Rust's String::from_utf8_lossy writes them.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	var b []byte
	for _, id := range ids {
		var err error
		if b, err = t.AppendBytes(b, id); err != nil {
			return "", err
		}
	}
	return lossyUTF8(b), nil
}

// AppendBytes appends the bytes of token id to b. A streaming caller uses it
// to print only whole characters.
func (t *Tokenizer) AppendBytes(b []byte, id int) ([]byte, error) {
	if id < 0 || id >= len(t.tokens) || !t.tokens[id].set {
		return b, fmt.Errorf("token id %d is not in the vocabulary (size %d)", id, len(t.tokens))
	}
	return append(b, t.tokens[id].bytes...), nil
}

// lossyUTF8 is Rust's String::from_utf8_lossy: each maximal prefix of a
// valid UTF-8 sequence that cannot be completed becomes one U+FFFD, and a
// byte that cannot start one becomes one U+FFFD (the W3C/WHATWG "substitution
// of maximal subparts"). Go's own conversions differ: utf8.DecodeRune gives
// one U+FFFD per byte, strings.ToValidUTF8 one per run.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, w := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || w > 1 {
			sb.Write(b[i : i+w])
			i += w
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return sb.String()
}

// maximalSubpart returns the length of the invalid sequence at the start of
// b: the lead byte and the continuation bytes that still fit it, at least 1.
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // the range of the second byte
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 && (x < lo || x > hi) || k > 0 && (x < 0x80 || x > 0xBF) {
			break
		}
		n++
	}
	return n
}
