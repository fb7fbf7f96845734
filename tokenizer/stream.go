package tokenizer

import "unicode/utf8"

// A StreamDecoder decodes ids one at a time, as a model generates them, and
// gives back only whole characters: the bytes of a character that a token
// splits wait for the token that completes it. What all its calls return,
// Flush included, is what Decode returns for all the ids at once.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
}

// NewStreamDecoder returns a StreamDecoder with nothing pending.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// Next adds the bytes of token id and returns the text that is now whole.
// Bytes that can no longer become a character are returned as U+FFFD.
func (d *StreamDecoder) Next(id int) (string, error) {
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
	out := lossyUTF8(d.pending)
	d.pending = d.pending[:0]
	return out
}
