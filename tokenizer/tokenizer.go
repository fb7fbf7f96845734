package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// A Tokenizer encodes text to ids and decodes ids to text. It is immutable
// after Load but for a bounded cache, and safe for concurrent use.
type Tokenizer struct {
	tokens []token // by id; unset entries are holes in the id space
	// byteLevel is the form of Qwen and Llama-3 (a split pattern, BPE on
	// bytes); otherwise the file has the SentencePiece form of Llama-2
	// and Mixtral (BPE on characters, with byte fallback).
	byteLevel    bool
	vocab        map[string]int32 // a model token's key to its id: its bytes if byteLevel, else its text
	byteID       [256]int32       // each byte's token: the byte's own if byteLevel, else its <0xNN> token or -1
	asciiID      [utf8.RuneSelf]int32
	byteFallback bool       // a character not in the vocabulary becomes its bytes' <0xNN> tokens
	unk          int32      // the token of a character that is not, or -1
	fuseUnk      bool       // consecutive such characters make one unk
	merges       mergeTable // by pairKey of the ids merged
	ignoreMerges bool
	added        []addedToken // longest content first
	addedFirst   [256]bool    // whether some added token starts with this byte
	norm         []normStep
	normalize    func(string) string
	split        *splitter // the pre-tokenizer, if byteLevel
	// cutWords says that BPE may take the text of a SentencePiece file a
	// word at a time, cut before each "▁" that follows another rune: no
	// merge joins a rune to a "▁" after it, so the ids are those of the
	// whole text taken at once, as tokenizers takes it.
	cutWords       bool
	prefix, suffix []int // the post-processor's special tokens around a text
	dec            spDecoder
	cache          pieceCache
}

type token struct {
	set     bool
	text    string // as the file writes it
	bytes   string // what it decodes to (a SentencePiece token: after the decoder's Replace steps)
	isByte  bool   // a byte-fallback token, such as <0x0A>, that the decoder reads as a byte
	byteVal byte
	added   bool
	special bool
}

type addedToken struct {
	content string
	id      int32
}

// A normStep is one step of the normalizer, which runs on the text between
// added tokens.
type normStep struct {
	op       uint8
	from, to string
}

const (
	normNFC     = iota // Options.Normalize, if given
	normPrepend        // to before non-empty text
	normReplace        // every from with to
)

// VocabSize returns one more than the largest id, which is the number of
// rows a model's embedding needs at least.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of an added token (such as "<|im_end|>" or
// "</s>") or of a vocabulary token as the file writes it ("Ġworld",
// "▁world").
func (t *Tokenizer) TokenID(text string) (int, bool) {
	for _, a := range t.added {
		if a.content == text {
			return int(a.id), true
		}
	}
	key := text
	if t.byteLevel {
		b, ok := unByteLevel(text)
		if !ok {
			return 0, false
		}
		key = string(b)
	}
	id, ok := t.vocab[key]
	return int(id), ok
}

// IsSpecial reports whether id is a special added token, one that
// Hugging Face leaves out when decoding with skip_special_tokens.
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.tokens) && t.tokens[id].special
}

// Encode returns the ids of text as Hugging Face's encode(text) does, with
// its default add_special_tokens=True: the post-processor's special tokens
// (Llama-2's <s>) go around the text's ids. Added tokens in the text,
// special or not, become their ids. Bytes that are not valid UTF-8 (which
// Hugging Face cannot be given) are encoded as they are, as byte tokens,
// and Decode turns them into U+FFFD.
func (t *Tokenizer) Encode(text string) []int {
	ids := make([]int, 0, len(text)/3+1+len(t.prefix)+len(t.suffix))
	ids = append(ids, t.prefix...)
	ids = t.encode(text, ids)
	return append(ids, t.suffix...)
}

// EncodePlain returns the ids of text without the post-processor's special
// tokens, as Hugging Face's encode(text, add_special_tokens=False) does:
// what a chat template's text is encoded with, since the template writes
// them itself. For a file whose post-processor adds none (Qwen's), it is
// Encode.
func (t *Tokenizer) EncodePlain(text string) []int {
	return t.encode(text, make([]int, 0, len(text)/3+1))
}

func (t *Tokenizer) encode(text string, ids []int) []int {
	for len(text) > 0 {
		at, a := t.nextAdded(text)
		ids = t.encodeText(t.normalized(text[:at]), ids)
		if a == nil {
			break
		}
		ids = append(ids, int(a.id))
		text = text[at+len(a.content):]
	}
	return ids
}

// encodeText appends the ids of normalized text that holds no added token.
func (t *Tokenizer) encodeText(s string, ids []int) []int {
	if !t.byteLevel {
		return t.encodeSentencePiece(s, ids)
	}
	for i := 0; i < len(s); {
		n := t.split.match(s, i)
		ids = t.bpe(s[i:i+n], ids)
		i += n
	}
	return ids
}

// normalized returns text as the file's normalizer leaves it.
func (t *Tokenizer) normalized(text string) string {
	for _, st := range t.norm {
		switch st.op {
		case normNFC:
			if t.normalize != nil && !isASCII(text) { // ASCII is NFC
				text = t.normalize(text)
			}
		case normPrepend:
			if text != "" {
				text = st.to + text
			}
		case normReplace:
			text = strings.ReplaceAll(text, st.from, st.to)
		}
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

// Decode returns the text of ids, special tokens included, as Hugging
// Face's decode(ids, skip_special_tokens=False) does. In a byte-level file,
// bytes that do not form valid UTF-8 (a character cut between ids, or ids
// that make no character) become U+FFFD, one for each maximal invalid
// sequence, as Rust's String::from_utf8_lossy writes them. In a
// SentencePiece file, "▁" becomes a space, a run of byte tokens (<0xE4>)
// that is not valid UTF-8 becomes one U+FFFD for each byte, and the
// decoder's Strip takes the text's first space away.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	if !t.byteLevel {
		d := t.NewStreamDecoder()
		var sb strings.Builder
		for _, id := range ids {
			s, err := d.Next(id)
			if err != nil {
				return "", err
			}
			sb.WriteString(s)
		}
		sb.WriteString(d.Flush())
		return sb.String(), nil
	}
	var b []byte
	for _, id := range ids {
		var err error
		if b, err = t.AppendBytes(b, id); err != nil {
			return "", err
		}
	}
	return lossyUTF8(b), nil
}

// AppendBytes appends the bytes of token id to b: in a byte-level file,
// what Decode makes text of; in a SentencePiece file, the byte of a byte
// token and the text of another, "▁" as a space.
func (t *Tokenizer) AppendBytes(b []byte, id int) ([]byte, error) {
	tk, err := t.token(id)
	if err != nil {
		return b, err
	}
	if tk.isByte {
		return append(b, tk.byteVal), nil
	}
	return append(b, tk.bytes...), nil
}

// token returns the token of id, or an error if id has none.
func (t *Tokenizer) token(id int) (*token, error) {
	if id < 0 || id >= len(t.tokens) || !t.tokens[id].set {
		return nil, fmt.Errorf("token id %d is not in the vocabulary (size %d)", id, len(t.tokens))
	}
	return &t.tokens[id], nil
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
