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
	Pattern        *struct{ Regex, String *string }
	Behavior       string `json:"behavior"`
	Invert         bool   `json:"invert"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	UseRegex       *bool  `json:"use_regex"`
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
	t := &Tokenizer{normalize: opts.Normalize}
	if err := t.loadModel(f.Model); err != nil {
		return nil, err
	}
	if err := t.loadAdded(f.AddedTokens); err != nil {
		return nil, err
	}
	for _, part := range []struct {
		name string
		raw  json.RawMessage
		load func(*component) error
	}{
		{"normalizer", f.Normalizer, t.loadNormalizer},
		{"pre_tokenizer", f.PreTokenizer, t.loadPreTokenizer},
		{"post_processor", f.PostProcessor, checkByteLevel},
		{"decoder", f.Decoder, checkByteLevelDecoder},
	} {
		var c *component
		if err := json.Unmarshal(orNull(part.raw), &c); err != nil {
			return nil, fmt.Errorf("%s: %v", part.name, err)
		}
		if err := part.load(c); err != nil {
			return nil, fmt.Errorf("%s: %v", part.name, err)
		}
	}
	if isSet(f.Truncation) || isSet(f.Padding) {
		return nil, fmt.Errorf("truncation and padding are not supported")
	}
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
	case m.ByteFallback:
		return fmt.Errorf("model: byte_fallback BPE (the SentencePiece form) is not supported yet")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "",
		m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return fmt.Errorf("model: continuing_subword_prefix and end_of_word_suffix are not supported")
	case len(m.Vocab) == 0:
		return fmt.Errorf("model: empty vocab")
	}
	t.ignoreMerges = m.IgnoreMerges

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
		b, ok := unByteLevel(tok)
		if !ok {
			return fmt.Errorf("model: token %q is not written in the byte-level alphabet", tok)
		}
		if t.tokens[id].set {
			return fmt.Errorf("model: id %d is given to both %q and %q", id, t.tokens[id].text, tok)
		}
		t.tokens[id] = token{set: true, text: tok, bytes: string(b)}
		if _, dup := t.vocab[string(b)]; dup {
			return fmt.Errorf("model: token %q appears twice", tok)
		}
		t.vocab[string(b)] = int32(id)
	}
	for b := 0; b < 256; b++ {
		id, ok := t.vocab[string([]byte{byte(b)})]
		if !ok {
			return fmt.Errorf("model: vocab lacks the token for byte 0x%02x (%q)", b, string(byteRune[b]))
		}
		t.byteID[b] = id
	}

	t.merges = make(map[uint64]merge, len(m.Merges))
	for rank, raw := range m.Merges {
		// A merge is "a b" in older files and ["a", "b"] in newer ones.
		var pair []string
		var line string
		if err := json.Unmarshal(raw, &line); err == nil {
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
		k := pairKey(int32(a), int32(b))
		if _, dup := t.merges[k]; !dup { // the first of duplicate merges counts, as in tokenizers
			t.merges[k] = merge{rank: int32(rank), id: int32(ab)}
		}
	}
	return nil
}

func (t *Tokenizer) loadAdded(added []addedTokenJSON) error {
	for _, a := range added {
		switch {
		case a.ID == nil || *a.ID < 0 || *a.ID >= 1<<30:
			return fmt.Errorf("added token %q: missing or invalid id", a.Content)
		case a.Content == "":
			return fmt.Errorf("added token %d: empty content", *a.ID)
		case a.SingleWord || a.LStrip || a.RStrip:
			return fmt.Errorf("added token %q: single_word, lstrip and rstrip are not supported", a.Content)
		}
		id := *a.ID
		if id >= len(t.tokens) {
			t.tokens = append(t.tokens, make([]token, id+1-len(t.tokens))...)
		}
		if tk := t.tokens[id]; tk.set && tk.text != a.Content {
			return fmt.Errorf("added token %q: id %d is already %q", a.Content, id, tk.text)
		}
		// Decoding runs an added token through the byte-level decoder
		// too, which keeps a token's own bytes when it has a rune outside
		// the alphabet.
		b, ok := unByteLevel(a.Content)
		if !ok {
			b = []byte(a.Content)
		}
		t.tokens[id] = token{set: true, text: a.Content, bytes: string(b), added: true, special: a.Special}
		t.added = append(t.added, addedToken{content: a.Content, id: int32(id)})
		t.addedFirst[a.Content[0]] = true
	}
	// Longest first, so that the first one found at a place is the longest.
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].content) > len(t.added[j].content) })
	return nil
}

func (t *Tokenizer) loadNormalizer(c *component) error {
	switch {
	case c == nil:
		return nil
	case c.Type == "NFC":
		t.nfc = true
		return nil
	case c.Type == "Sequence" && len(c.Normalizers) == 0:
		return nil
	}
	return fmt.Errorf("type %q is not supported (only NFC or none)", c.Type)
}

func (t *Tokenizer) loadPreTokenizer(c *component) error {
	if c == nil || c.Type != "Sequence" || len(c.Pretokenizers) != 2 {
		return fmt.Errorf("not supported: only a Sequence of Split and ByteLevel (the form of Qwen2 and Llama-3)")
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

// checkByteLevel accepts a ByteLevel post-processor or decoder, or none. As a
// post-processor ByteLevel only adjusts offsets, which this package does not
// report; as a decoder it is what Decode does.
func checkByteLevel(c *component) error {
	if c == nil || c.Type == "ByteLevel" {
		return nil
	}
	return fmt.Errorf("type %q is not supported (only ByteLevel)", c.Type)
}

func checkByteLevelDecoder(c *component) error {
	if c == nil || c.Type != "ByteLevel" {
		return fmt.Errorf("not supported: only ByteLevel")
	}
	return nil
}
