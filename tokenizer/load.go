package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode/utf8"
)

// fileJSON is the part of tokenizer.json that this package reads. Parts
// that change encoding are kept as raw JSON and checked one by one, so
// that a file using a feature this package lacks is refused by name.
type fileJSON struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
	Truncation    json.RawMessage  `json:"truncation"`
	Padding       json.RawMessage  `json:"padding"`
	Model         *modelJSON       `json:"model"`
}

type addedTokenJSON struct {
	ID         *int   `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type modelJSON struct {
	Type                    string            `json:"type"`
	Dropout                 *float64          `json:"dropout"`
	UnkToken                *string           `json:"unk_token"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
	FuseUnk                 bool              `json:"fuse_unk"`
	ByteFallback            bool              `json:"byte_fallback"`
	IgnoreMerges            bool              `json:"ignore_merges"`
	Vocab                   map[string]int    `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
}

// component is the "type" and the fields of one normalizer, pre-tokenizer,
// post-processor or decoder that matter here.
type component struct {
	Type           string      `json:"type"`
	Pretokenizers  []component `json:"pretokenizers"`
	Normalizers    []component `json:"normalizers"`
	Processors     []component `json:"processors"`
	Decoders       []component `json:"decoders"`
	Pattern        *struct{ Regex, String *string }
	Behavior       string                   `json:"behavior"`
	Invert         bool                     `json:"invert"`
	AddPrefixSpace bool                     `json:"add_prefix_space"`
	UseRegex       *bool                    `json:"use_regex"`
	Prepend        string                   `json:"prepend"` // Prepend
	Content        string                   `json:"content"` // Replace, Strip
	Start, Stop    int                      // Strip
	Single         []templatePiece          `json:"single"`         // TemplateProcessing
	SpecialTokens  map[string]templateToken `json:"special_tokens"` // TemplateProcessing
}

// A templatePiece is one item of a TemplateProcessing template: the text's
// own ids or a special token's.
type templatePiece struct {
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
}

type templateToken struct {
	IDs []int `json:"ids"`
}

// Options holds what a caller may add to a tokenizer.json.
type Options struct {
	// Normalize, when not nil, is the Unicode NFC normalization that a
	// file whose normalizer is NFC (Qwen's are) asks for, such as
	// golang.org/x/text/unicode/norm's NFC.String. The standard library
	// has no Unicode normalization, so without it text is taken as it
	// comes: exactly right for text already in NFC, which is what
	// keyboards and almost all files hold, and different from Hugging
	// Face only for decomposed text (an "e" followed by U+0301).
	Normalize func(string) string
}

// LoadFile reads the tokenizer.json at name, or its gzip-compressed form
// when name ends in ".gz". Errors start with name.
func LoadFile(name string, opts Options) (*Tokenizer, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	t, err := Load(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return t, nil
}

// Load builds a tokenizer from the contents of a tokenizer.json.
func Load(data []byte, opts Options) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %v", err)
	}
	t := &Tokenizer{normalize: opts.Normalize, unk: -1}
	var parts [4]*component
	for i, part := range []struct {
		name string
		raw  json.RawMessage
	}{{"normalizer", f.Normalizer}, {"pre_tokenizer", f.PreTokenizer}, {"post_processor", f.PostProcessor}, {"decoder", f.Decoder}} {
		if err := json.Unmarshal(orNull(part.raw), &parts[i]); err != nil {
			return nil, fmt.Errorf("%s: %v", part.name, err)
		}
	}
	// The pre-tokenizer says the form: a byte-level file splits the text
	// with a pattern and maps bytes to runes, a SentencePiece-style file
	// has none and gives each run of text between added tokens to BPE
	// whole.
	t.byteLevel = parts[1] != nil
	if err := t.loadPreTokenizer(parts[1]); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %v", err)
	}
	if err := t.loadModel(f.Model); err != nil {
		return nil, err
	}
	if err := t.loadAdded(f.AddedTokens); err != nil {
		return nil, err
	}
	for _, step := range []struct {
		name string
		c    *component
		load func(*component) error
	}{
		{"normalizer", parts[0], t.loadNormalizer},
		{"post_processor", parts[2], t.loadPostProcessor},
		{"decoder", parts[3], t.loadDecoder},
	} {
		if err := step.load(step.c); err != nil {
			return nil, fmt.Errorf("%s: %v", step.name, err)
		}
	}
	if isSet(f.Truncation) || isSet(f.Padding) {
		return nil, fmt.Errorf("truncation and padding are not supported")
	}
	t.setDecoded()
	return t, nil
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

func isSet(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func (t *Tokenizer) loadModel(m *modelJSON) error {
	switch {
	case m == nil:
		return fmt.Errorf("no model")
	case m.Type != "BPE":
		return fmt.Errorf("model type %q is not supported (only BPE)", m.Type)
	case m.Dropout != nil && *m.Dropout != 0:
		return fmt.Errorf("model: BPE dropout is not supported")
	case m.ByteFallback && t.byteLevel:
		return fmt.Errorf("model: byte_fallback with a byte-level pre-tokenizer is not supported (byte_fallback is the SentencePiece form, which has no pre-tokenizer)")
	case m.IgnoreMerges && !t.byteLevel:
		return fmt.Errorf("model: ignore_merges without a pre-tokenizer is not supported")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "",
		m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return fmt.Errorf("model: continuing_subword_prefix and end_of_word_suffix are not supported")
	case len(m.Vocab) == 0:
		return fmt.Errorf("model: empty vocab")
	}
	t.ignoreMerges = m.IgnoreMerges
	t.byteFallback = m.ByteFallback
	t.fuseUnk = m.FuseUnk

	t.vocab = make(map[string]int32, len(m.Vocab))
	maxID := -1
	for tok, id := range m.Vocab {
		if id < 0 || id >= 1<<30 {
			return fmt.Errorf("model: token %q has id %d, out of range", tok, id)
		}
		maxID = max(maxID, id)
	}
	t.tokens = make([]token, maxID+1)
	for tok, id := range m.Vocab {
		key := tok // a SentencePiece token is its text
		if t.byteLevel {
			b, ok := unByteLevel(tok)
			if !ok {
				return fmt.Errorf("model: token %q is not written in the byte-level alphabet", tok)
			}
			key = string(b)
		}
		if t.tokens[id].set {
			return fmt.Errorf("model: id %d is given to both %q and %q", id, t.tokens[id].text, tok)
		}
		t.tokens[id] = token{set: true, text: tok}
		if _, dup := t.vocab[key]; dup {
			return fmt.Errorf("model: token %q appears twice", tok)
		}
		t.vocab[key] = int32(id)
	}
	for b := 0; b < 256; b++ {
		key := string([]byte{byte(b)})
		if !t.byteLevel {
			key = byteToken(byte(b))
		}
		id, ok := t.vocab[key]
		switch {
		case ok:
			t.byteID[b] = id
		case t.byteLevel:
			return fmt.Errorf("model: vocab lacks the token for byte 0x%02x (%q)", b, string(byteRune[b]))
		default:
			t.byteID[b] = -1
		}
	}
	for c := range t.asciiID {
		t.asciiID[c] = -1
		if id, ok := t.vocab[string(rune(c))]; ok {
			t.asciiID[c] = id
		}
	}
	if m.UnkToken != nil && !t.byteLevel {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return fmt.Errorf("model: unk_token %q is not in the vocab", *m.UnkToken)
		}
		t.unk = int32(id)
	}

	t.merges = newMergeTable(len(m.Merges))
	t.cutWords = !t.byteLevel
	for rank, raw := range m.Merges {
		// A merge is "a b" in older files and ["a", "b"] in newer ones.
		var pair []string
		var line string
		if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
			// A string without escapes, as nearly all are: the JSON is
			// valid already, and json.Unmarshal for each of a hundred
			// thousand merges would double the time Load takes.
			pair = strings.Split(string(raw[1:n-1]), " ")
		} else if err := json.Unmarshal(raw, &line); err == nil {
			pair = strings.Split(line, " ")
		} else if err := json.Unmarshal(raw, &pair); err != nil {
			return fmt.Errorf("model: merge %d: not a string or a pair of strings: %s", rank, raw)
		}
		if len(pair) != 2 {
			return fmt.Errorf("model: merge %d: %s is not a pair", rank, raw)
		}
		a, okA := m.Vocab[pair[0]]
		b, okB := m.Vocab[pair[1]]
		ab, okAB := m.Vocab[pair[0]+pair[1]]
		if !okA || !okB || !okAB {
			return fmt.Errorf("model: merge %d: %q, %q or %q is not in the vocab", rank, pair[0], pair[1], pair[0]+pair[1])
		}
		t.merges.add(pairKey(int32(a), int32(b)), merge{rank: int32(rank), id: int32(ab)})
		if crossesWord(pair[0], pair[1]) {
			t.cutWords = false
		}
	}
	if _, ok := t.vocab[spaceMark]; !ok {
		t.cutWords = false
	}
	return nil
}

// byteToken is how a SentencePiece vocabulary writes the token of byte b
// for byte fallback: "<0x0A>", as tokenizers looks it up.
func byteToken(b byte) string { return fmt.Sprintf("<0x%02X>", b) }

func (t *Tokenizer) loadAdded(added []addedTokenJSON) error {
	for _, a := range added {
		switch {
		case a.ID == nil || *a.ID < 0 || *a.ID >= 1<<30:
			return fmt.Errorf("added token %q: missing or invalid id", a.Content)
		case a.Content == "":
			return fmt.Errorf("added token %d: empty content", *a.ID)
		case a.SingleWord || a.LStrip || a.RStrip:
			return fmt.Errorf("added token %q: single_word, lstrip and rstrip are not supported", a.Content)
		case a.Normalized:
			// tokenizers looks for these in the normalized text.
			return fmt.Errorf("added token %q: normalized added tokens are not supported", a.Content)
		}
		id := *a.ID
		if id >= len(t.tokens) {
			t.tokens = append(t.tokens, make([]token, id+1-len(t.tokens))...)
		}
		if tk := t.tokens[id]; tk.set && tk.text != a.Content {
			return fmt.Errorf("added token %q: id %d is already %q", a.Content, id, tk.text)
		}
		t.tokens[id] = token{set: true, text: a.Content, added: true, special: a.Special}
		t.added = append(t.added, addedToken{content: a.Content, id: int32(id)})
		t.addedFirst[a.Content[0]] = true
	}
	// Longest first, so that the first one found at a place is the longest.
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].content) > len(t.added[j].content) })
	return nil
}

// loadNormalizer reads the normalizer: NFC, Prepend, Replace of a string,
// or a Sequence of them.
func (t *Tokenizer) loadNormalizer(c *component) error {
	if c == nil {
		return nil
	}
	steps := []component{*c}
	if c.Type == "Sequence" {
		steps = c.Normalizers
	}
	for i, s := range steps {
		switch {
		case s.Type == "NFC":
			t.norm = append(t.norm, normStep{op: normNFC})
		case s.Type == "Prepend" && s.Prepend != "":
			t.norm = append(t.norm, normStep{op: normPrepend, to: s.Prepend})
		case s.Type == "Replace" && s.Pattern != nil && s.Pattern.String != nil && *s.Pattern.String != "":
			t.norm = append(t.norm, normStep{op: normReplace, from: *s.Pattern.String, to: s.Content})
		default:
			return fmt.Errorf("step %d: type %q is not supported (only NFC, Prepend, Replace of a string, or a Sequence of them)", i+1, s.Type)
		}
	}
	return nil
}

func (t *Tokenizer) loadPreTokenizer(c *component) error {
	if c == nil {
		return nil // the SentencePiece form
	}
	if c.Type != "Sequence" || len(c.Pretokenizers) != 2 {
		return fmt.Errorf("not supported: only a Sequence of Split and ByteLevel (the form of Qwen2 and Llama-3) or none (the SentencePiece form of Llama-2 and Mixtral)")
	}
	split, bl := &c.Pretokenizers[0], &c.Pretokenizers[1]
	if split.Type != "Split" || split.Pattern == nil || split.Pattern.Regex == nil {
		return fmt.Errorf("first step: want Split with a Regex pattern, have %q", split.Type)
	}
	if split.Behavior != "Isolated" || split.Invert {
		return fmt.Errorf("the Split step: behavior %q, invert %v are not supported (only Isolated, not inverted)", split.Behavior, split.Invert)
	}
	sp, ok := knownPatterns[*split.Pattern.Regex]
	if !ok {
		return fmt.Errorf("the Split step: unknown pattern %q (known: those of Qwen2 and Llama-3)", *split.Pattern.Regex)
	}
	if bl.Type != "ByteLevel" || bl.AddPrefixSpace || bl.UseRegex == nil || *bl.UseRegex {
		return fmt.Errorf("second step: want ByteLevel without add_prefix_space and use_regex")
	}
	t.split = &sp
	return nil
}

// loadPostProcessor reads the post-processor: ByteLevel, which only
// adjusts offsets (this package reports none), TemplateProcessing, which
// puts special tokens around the text's ids, or a Sequence of them.
func (t *Tokenizer) loadPostProcessor(c *component) error {
	if c == nil {
		return nil
	}
	steps := []component{*c}
	if c.Type == "Sequence" {
		steps = c.Processors
	}
	templates := 0
	for _, s := range steps {
		switch s.Type {
		case "ByteLevel":
		case "TemplateProcessing":
			if templates++; templates > 1 {
				return fmt.Errorf("more than one TemplateProcessing")
			}
			if err := t.loadTemplate(&s); err != nil {
				return fmt.Errorf("TemplateProcessing: %v", err)
			}
		default:
			return fmt.Errorf("type %q is not supported (only ByteLevel, TemplateProcessing or a Sequence of them)", s.Type)
		}
	}
	return nil
}

// loadTemplate reads the template for a single text ("single"); Encode
// never encodes pairs.
func (t *Tokenizer) loadTemplate(c *component) error {
	seen := false
	for i, p := range c.Single {
		switch {
		case p.Sequence != nil && p.SpecialToken == nil:
			if p.Sequence.ID != "A" || seen {
				return fmt.Errorf("single: piece %d: want one Sequence A, have Sequence %q", i+1, p.Sequence.ID)
			}
			seen = true
		case p.SpecialToken != nil && p.Sequence == nil:
			st, ok := c.SpecialTokens[p.SpecialToken.ID]
			if !ok {
				return fmt.Errorf("single: piece %d: special token %q is not in special_tokens", i+1, p.SpecialToken.ID)
			}
			for _, id := range st.IDs {
				if id < 0 || id >= len(t.tokens) || !t.tokens[id].set {
					return fmt.Errorf("special token %q: id %d is not in the vocabulary", p.SpecialToken.ID, id)
				}
			}
			if seen {
				t.suffix = append(t.suffix, st.IDs...)
			} else {
				t.prefix = append(t.prefix, st.IDs...)
			}
		default:
			return fmt.Errorf("single: piece %d is neither a Sequence nor a SpecialToken", i+1)
		}
	}
	if !seen {
		return fmt.Errorf("single: no Sequence A")
	}
	return nil
}

// loadDecoder reads the decoder: ByteLevel for a byte-level file; for a
// SentencePiece one, a Sequence of Replace steps, ByteFallback, Fuse and
// Strip at the start, in that order, each optional (Strip after Fuse), as
// Llama-2's and Mixtral's files write it.
func (t *Tokenizer) loadDecoder(c *component) error {
	if t.byteLevel {
		if c == nil || c.Type != "ByteLevel" {
			return fmt.Errorf("not supported with a byte-level pre-tokenizer: only ByteLevel")
		}
		return nil
	}
	switch {
	case c == nil:
		return fmt.Errorf("none: a file without a pre-tokenizer needs a decoder of Replace, ByteFallback, Fuse and Strip steps")
	case c.Type == "ByteLevel":
		return fmt.Errorf("ByteLevel needs the pre-tokenizer of a byte-level file (a Sequence of Split and ByteLevel), and this file has none")
	}
	steps := []component{*c}
	if c.Type == "Sequence" {
		steps = c.Decoders
	}
	// Each step's place in the order supported; only Replace repeats.
	const (
		atReplace = iota
		atByteFallback
		atFuse
		atStrip
	)
	at := -1
	order := func(i int, s *component, want int) error {
		if want < at || want == at && want != atReplace {
			return fmt.Errorf("step %d: %s out of order (the order supported is Replace, ByteFallback, Fuse, Strip)", i+1, s.Type)
		}
		at = want
		return nil
	}
	fused := false
	for i, s := range steps {
		var err error
		switch s.Type {
		case "Replace":
			if s.Pattern == nil || s.Pattern.String == nil || *s.Pattern.String == "" {
				return fmt.Errorf("step %d: Replace of a regex is not supported, only of a string", i+1)
			}
			err = order(i, &s, atReplace)
			t.dec.replace = append(t.dec.replace, [2]string{*s.Pattern.String, s.Content})
		case "ByteFallback":
			err = order(i, &s, atByteFallback)
			t.dec.byteFallback = true
		case "Fuse":
			err = order(i, &s, atFuse)
			fused = true
		case "Strip":
			r, n := utf8.DecodeRuneInString(s.Content)
			switch {
			case !fused:
				return fmt.Errorf("step %d: Strip before Fuse is not supported", i+1)
			case n == 0 || n != len(s.Content) || s.Start < 0:
				return fmt.Errorf("step %d: Strip: content %q, start %d: want one character and a start of 0 or more", i+1, s.Content, s.Start)
			case s.Stop != 0:
				return fmt.Errorf("step %d: Strip at the end (stop %d) is not supported", i+1, s.Stop)
			}
			err = order(i, &s, atStrip)
			t.dec.strip, t.dec.stripRune = s.Start, r
		default:
			return fmt.Errorf("step %d: type %q is not supported with no pre-tokenizer (only Replace, ByteFallback, Fuse, Strip)", i+1, s.Type)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// setDecoded works out what each token decodes to, once the model, the
// added tokens and the decoder are known.
func (t *Tokenizer) setDecoded() {
	for id := range t.tokens {
		tk := &t.tokens[id]
		if !tk.set {
			continue
		}
		if t.byteLevel {
			// Decoding runs an added token through the byte-level
			// decoder too, which keeps a token's own bytes when it has
			// a rune outside the alphabet.
			if b, ok := unByteLevel(tk.text); ok {
				tk.bytes = string(b)
			} else {
				tk.bytes = tk.text
			}
			continue
		}
		s := tk.text
		for _, r := range t.dec.replace {
			s = strings.ReplaceAll(s, r[0], r[1])
		}
		tk.bytes = s
		if t.dec.byteFallback {
			tk.isByte, tk.byteVal = parseByteToken(s)
		}
	}
}

// parseByteToken reports whether s is a byte-fallback token such as
// "<0x0A>", as tokenizers' ByteFallback decoder tells them: six bytes,
// "<0x", two hexadecimal digits read as Rust's u8::from_str_radix reads
// them (a leading "+" allowed), ">".
func parseByteToken(s string) (bool, byte) {
	if len(s) != 6 || !strings.HasPrefix(s, "<0x") || s[5] != '>' {
		return false, 0
	}
	digits := s[3:5]
	if digits[0] == '+' {
		digits = digits[1:]
	}
	var v byte
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			v = v<<4 | (c | 0x20 - 'a' + 10)
		default:
			return false, 0
		}
	}
	return true, v
}
