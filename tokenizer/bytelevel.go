package tokenizer

// The byte-level alphabet of GPT-2, which Qwen and Llama-3 inherit: every
// byte is written as one printable rune so that vocabulary entries are
// readable strings. Printable Latin-1 bytes stand for themselves; the other
// 68 bytes (controls, space, DEL, NBSP, soft hyphen) take the runes from
// U+0100 on, in byte order. So the space 0x20 is "Ġ" (U+0120) and the
// newline 0x0A is "Ċ" (U+010A). This is bytes_to_unicode in GPT-2's
// encoder.py and in tokenizers' byte_level.rs.
var byteRune, runeByte = byteAlphabet()

func byteAlphabet() (toRune [256]rune, toByte map[rune]byte) {
	toByte = make(map[rune]byte, 256)
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF
		r := rune(b)
		if !printable {
			r = next
			next++
		}
		toRune[b] = r
		toByte[r] = byte(b)
	}
	return toRune, toByte
}

// unByteLevel returns the bytes that a vocabulary string written in the
// byte-level alphabet stands for, and false if it has a rune outside it.
func unByteLevel(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, ok := runeByte[r]
		if !ok {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}
