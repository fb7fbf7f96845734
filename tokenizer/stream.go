package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// A StreamDecoder decodes ids one at a time, as a model generates them, and
// gives back only whole characters: the bytes of a character that a token
// splits wait for the token that completes it (in a SentencePiece file, a
// run of byte tokens waits for the token after it, since the whole run
// decides whether its bytes are text or U+FFFD). What all its calls
// return, Flush included, is what Decode returns for all the ids at once.
type StreamDecoder struct {
	t         *Tokenizer
	pending   []byte
	stripLeft int // SentencePiece: how many more leading stripRunes Strip may take
}

// NewStreamDecoder returns a StreamDecoder with nothing pending.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t, stripLeft: t.dec.strip}
}

// Next adds the bytes of token id and returns the text that is now whole.
// Bytes that can no longer become a character are returned as U+FFFD.
func (d *StreamDecoder) Next(id int) (string, error) {
	if !d.t.byteLevel {
		tk, err := d.t.token(id)
		if err != nil {
			return "", err
		}
		if tk.isByte {
			d.pending = append(d.pending, tk.byteVal)
			return "", nil
		}
		return d.stripStart(d.byteRun() + tk.bytes), nil
	}
	var err error
	if d.pending, err = d.t.AppendBytes(d.pending, id); err != nil {
		return "", err
	}
	// Hold back a last sequence that is the start of a character: it
	// begins at one of the last three bytes (a lead byte, not 10xxxxxx)
	// and utf8.FullRune says more bytes could complete it. Invalid bytes
	// before it end their own U+FFFD there, since a lead byte never
	// continues one, so the split does not change what lossyUTF8 gives.
	hold := 0
	for k := len(d.pending) - 1; k >= 0 && k >= len(d.pending)-3; k-- {
		if d.pending[k]&0xC0 != 0x80 {
			if !utf8.FullRune(d.pending[k:]) {
				hold = len(d.pending) - k
			}
			break
		}
	}
	out := lossyUTF8(d.pending[:len(d.pending)-hold])
	d.pending = append(d.pending[:0], d.pending[len(d.pending)-hold:]...)
	return out, nil
}

// Flush returns what is pending, an unfinished character as U+FFFD, and
// leaves the StreamDecoder empty.
func (d *StreamDecoder) Flush() string {
	if !d.t.byteLevel {
		return d.stripStart(d.byteRun())
	}
	out := lossyUTF8(d.pending)
	d.pending = d.pending[:0]
	return out
}

// byteRun returns the text of the pending run of byte tokens and empties
// it: the bytes if they are valid UTF-8, else one U+FFFD for each, as
// tokenizers' ByteFallback decoder writes them.
func (d *StreamDecoder) byteRun() string {
	if len(d.pending) == 0 {
		return ""
	}
	out := strings.Repeat("\ufffd", len(d.pending))
	if utf8.Valid(d.pending) {
		out = string(d.pending)
	}
	d.pending = d.pending[:0]
	return out
}

// stripStart takes away what Strip takes from the start of the text: up
// to strip leading stripRunes, counted over all the text returned so far.
func (d *StreamDecoder) stripStart(s string) string {
	for d.stripLeft > 0 && s != "" {
		r, w := utf8.DecodeRuneInString(s)
		if r != d.t.dec.stripRune {
			d.stripLeft = 0
			break
		}
		s = s[w:]
		d.stripLeft--
	}
	return s
}
