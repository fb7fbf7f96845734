package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// The SentencePiece form (Llama-2, Mixtral) writes a space as "▁" in the
// text the normalizer gives BPE and in the vocabulary, and runs BPE on
// characters: a character in the vocabulary is its token, one that is not
// becomes the <0xNN> tokens of its bytes (byte_fallback), or else the unk
// token.

// spaceMark is the character a SentencePiece vocabulary writes spaces as,
// U+2581 LOWER ONE EIGHTH BLOCK.
const spaceMark = "▁"

// crossesWord reports whether the merge of tokens a and b joins a rune to a
// "▁" that follows it, which would make cutting a text into words before
// each such "▁" change its ids.
func crossesWord(a, b string) bool {
	return strings.HasPrefix(b, spaceMark) && !strings.HasSuffix(a, spaceMark)
}

// encodeSentencePiece appends the ids of normalized text s, which
// tokenizers gives BPE whole; see cutWords.
func (t *Tokenizer) encodeSentencePiece(s string, ids []int) []int {
	if !t.cutWords {
		if s == "" {
			return ids
		}
		return t.bpe(s, ids)
	}
	for len(s) > 0 {
		n := wordEnd(s)
		ids = t.bpe(s[:n], ids)
		s = s[n:]
	}
	return ids
}

// wordEnd returns the length of the first word of s: its leading "▁"s and
// what follows up to the next "▁".
func wordEnd(s string) int {
	i := 0
	for strings.HasPrefix(s[i:], spaceMark) {
		i += len(spaceMark)
	}
	if j := strings.Index(s[i:], spaceMark); j >= 0 {
		return i + j
	}
	return len(s)
}

// charSymbols appends the first symbols of a SentencePiece piece to syms,
// as tokenizers' BPE.merge_word makes them: a character's token, else the
// byte tokens of its bytes, else unk (one for a run of such characters
// with fuse_unk), else nothing. A pending unk waits for the next character
// in the vocabulary, so byte tokens can come before it, as there. A byte
// that is not UTF-8 counts as a character.
func (t *Tokenizer) charSymbols(piece string, syms []int32) []int32 {
	unkPending := false
	for i := 0; i < len(piece); {
		id, w := int32(-1), 1
		if c := piece[i]; c < utf8.RuneSelf {
			id = t.asciiID[c]
		} else {
			_, w = utf8.DecodeRuneInString(piece[i:])
			if v, ok := t.vocab[piece[i:i+w]]; ok {
				id = v
			}
		}
		char := piece[i : i+w]
		i += w
		if id >= 0 {
			if unkPending {
				syms = append(syms, t.unk)
				unkPending = false
			}
			syms = append(syms, id)
			continue
		}
		if t.byteFallback && t.hasByteTokens(char) {
			for k := 0; k < len(char); k++ {
				syms = append(syms, t.byteID[char[k]])
			}
			continue
		}
		if t.unk >= 0 {
			if unkPending && !t.fuseUnk {
				syms = append(syms, t.unk)
			}
			unkPending = true
		}
	}
	if unkPending {
		syms = append(syms, t.unk)
	}
	return syms
}

func (t *Tokenizer) hasByteTokens(s string) bool {
	for i := 0; i < len(s); i++ {
		if t.byteID[s[i]] < 0 {
			return false
		}
	}
	return true
}

// An spDecoder is the decoder of a SentencePiece file: Replace steps
// (applied to each token's text when loaded), ByteFallback, Fuse, then
// Strip of up to strip leading stripRunes.
type spDecoder struct {
	replace      [][2]string
	byteFallback bool
	strip        int
	stripRune    rune
}
