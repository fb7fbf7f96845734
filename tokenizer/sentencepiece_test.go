package tokenizer

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// tinySPFile returns a small tokenizer.json in the SentencePiece form of
// Mixtral's file as a map to edit: <unk>, <s>, </s>, the 256 byte tokens,
// the characters "▁abc" and the given merges, each of which adds its
// result to the vocabulary.
func tinySPFile(merges ...string) map[string]any {
	vocab := map[string]any{"<unk>": 0, "<s>": 1, "</s>": 2}
	for b := 0; b < 256; b++ {
		vocab[byteToken(byte(b))] = len(vocab)
	}
	for _, c := range []string{"▁", "a", "b", "c"} {
		vocab[c] = len(vocab)
	}
	var ms []any
	for _, m := range merges {
		a, b, _ := strings.Cut(m, " ")
		if _, ok := vocab[a+b]; !ok {
			vocab[a+b] = len(vocab)
		}
		ms = append(ms, a+" "+b)
	}
	added := func(id int, content string) map[string]any {
		return map[string]any{"id": id, "content": content, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true}
	}
	return map[string]any{
		"version":      "1.0",
		"added_tokens": []any{added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
		}},
		"pre_tokenizer": nil,
		"post_processor": template([]any{special("<s>"), sequence("A")},
			map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{1}, "tokens": []string{"<s>"}}}),
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"},
			map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0},
		}},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": "<unk>", "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true,
			"vocab": vocab, "merges": ms,
		},
	}
}

func template(single []any, specials map[string]any) map[string]any {
	return map[string]any{"type": "TemplateProcessing", "single": single, "pair": []any{}, "special_tokens": specials}
}

func special(id string) map[string]any {
	return map[string]any{"SpecialToken": map[string]any{"id": id, "type_id": 0}}
}

func sequence(id string) map[string]any {
	return map[string]any{"Sequence": map[string]any{"id": id, "type_id": 0}}
}

// tokenIDs looks up tokens, as the file writes them, in tk.
func tokenIDs(t *testing.T, tk *Tokenizer, tokens []string) []int {
	t.Helper()
	var ids []int
	for _, tok := range tokens {
		id, ok := tk.TokenID(tok)
		if !ok {
			t.Fatalf("%q is not a token", tok)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestSentencePieceTiny(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(f map[string]any)
		merges []string
		text   string
		want   []string
	}{
		{"prepend and replace", nil, []string{"▁ a", "▁a b"}, "ab a", []string{"<s>", "▁ab", "▁a"}},
		{"each run between added tokens", nil, []string{"▁ a"}, "a<s>a", []string{"<s>", "▁a", "<s>", "▁a"}},
		{"empty", nil, nil, "", []string{"<s>"}},
		{"byte fallback", nil, nil, "aé", []string{"<s>", "▁", "a", "<0xC3>", "<0xA9>"}},
		{"invalid byte", nil, nil, "a\xff", []string{"<s>", "▁", "a", "<0xFF>"}},
		{"merge rank", nil, []string{"b c", "a b", "a bc"}, "abc", []string{"<s>", "▁", "abc"}},
		{"leading spaces", nil, []string{"▁ ▁", "▁ a"}, "  a", []string{"<s>", "▁▁", "▁a"}},
		{"unk fused", func(f map[string]any) { f["model"].(map[string]any)["byte_fallback"] = false },
			nil, "aéüb", []string{"<s>", "▁", "a", "<unk>", "b"}},
		{"unk not fused", func(f map[string]any) {
			f["model"].(map[string]any)["byte_fallback"] = false
			f["model"].(map[string]any)["fuse_unk"] = false
		}, nil, "éü", []string{"<s>", "▁", "<unk>", "<unk>"}},
		{"no unk", func(f map[string]any) {
			f["model"].(map[string]any)["byte_fallback"] = false
			f["model"].(map[string]any)["unk_token"] = nil
		}, nil, "aéb", []string{"<s>", "▁", "a", "b"}},
		// A merge that joins a rune to the "▁" after it: the text is
		// not cut into words, and "a▁" forms across the space.
		{"merge across words", nil, []string{"a ▁"}, "a b", []string{"<s>", "▁", "a▁", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tinySPFile(tc.merges...)
			if tc.edit != nil {
				tc.edit(f)
			}
			tk, err := loadMap(t, f)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tk.Encode(tc.text), tokenIDs(t, tk, tc.want); !slices.Equal(got, want) {
				t.Errorf("Encode(%q) = %v, want %v %q", tc.text, got, want, tc.want)
			}
			if tc.name == "merge across words" && tk.cutWords {
				t.Error("cutWords with a merge across words")
			}
		})
	}
}

func TestSentencePieceDecode(t *testing.T) {
	tk, err := loadMap(t, tinySPFile("▁ a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tokens []string
		want   string
	}{
		{[]string{"▁a", "▁a"}, "a a"},                                  // Strip takes the first space only
		{[]string{"▁", "▁a"}, " a"},                                    // one space, not all
		{[]string{"<s>", "▁a"}, "<s> a"},                               // added tokens go through the decoder too
		{[]string{"<0xC3>", "<0xA9>", "a"}, "éa"},                      // a valid run of byte tokens
		{[]string{"<0xC3>", "a", "<0xA9>"}, "\ufffda\ufffd"},           // runs cut short: U+FFFD each
		{[]string{"<0xC3>", "<0xA9>", "<0xC3>"}, "\ufffd\ufffd\ufffd"}, // one byte spoils its run
		{[]string{"<0x20>", "a"}, "a"},                                 // a space from a byte token is stripped too
		{nil, ""},
	} {
		ids := tokenIDs(t, tk, tc.tokens)
		got, err := tk.Decode(ids)
		if err != nil || got != tc.want {
			t.Errorf("Decode(%q) = %q, %v; want %q", tc.tokens, got, err, tc.want)
		}
		if got := streamDecode(t, tk, ids); got != tc.want {
			t.Errorf("streaming %q gives %q, want %q", tc.tokens, got, tc.want)
		}
	}
}

func TestSentencePieceLoadErrors(t *testing.T) {
	decoders := func(f map[string]any) map[string]any { return f["decoder"].(map[string]any) }
	steps := func(f map[string]any) []any { return decoders(f)["decoders"].([]any) }
	for _, tc := range []struct {
		name string
		edit func(f map[string]any)
		want string
	}{
		{"metaspace", func(f map[string]any) { f["pre_tokenizer"] = map[string]any{"type": "Metaspace"} }, "pre_tokenizer: not supported"},
		{"no decoder", func(f map[string]any) { f["decoder"] = nil }, "decoder: none: a file without a pre-tokenizer"},
		{"decoder order", func(f map[string]any) {
			s := steps(f)
			s[1], s[2] = s[2], s[1]
		}, "decoder: step 3: ByteFallback out of order"},
		{"strip before fuse", func(f map[string]any) { decoders(f)["decoders"] = []any{steps(f)[3]} }, "step 1: Strip before Fuse"},
		{"strip at end", func(f map[string]any) { steps(f)[3].(map[string]any)["stop"] = 1 }, "Strip at the end (stop 1)"},
		{"strip string", func(f map[string]any) { steps(f)[3].(map[string]any)["content"] = "ab" }, `content "ab"`},
		{"regex replace", func(f map[string]any) {
			steps(f)[0].(map[string]any)["pattern"] = map[string]any{"Regex": "▁+"}
		}, "step 1: Replace of a regex"},
		{"metaspace decoder", func(f map[string]any) { f["decoder"] = map[string]any{"type": "Metaspace"} }, `step 1: type "Metaspace" is not supported`},
		{"regex normalizer", func(f map[string]any) {
			f["normalizer"].(map[string]any)["normalizers"].([]any)[1].(map[string]any)["pattern"] = map[string]any{"Regex": " "}
		}, `normalizer: step 2: type "Replace" is not supported`},
		{"unknown unk", func(f map[string]any) { f["model"].(map[string]any)["unk_token"] = "<?>" }, `unk_token "<?>" is not in the vocab`},
		{"ignore merges", func(f map[string]any) { f["model"].(map[string]any)["ignore_merges"] = true }, "ignore_merges without a pre-tokenizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tinySPFile("▁ a")
			tc.edit(f)
			_, err := loadMap(t, f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestTemplateSequence checks the post-processor of Meta's Llama-3 files
// since 2024 (the npm file predates it): a Sequence of ByteLevel and a
// TemplateProcessing that puts <|begin_of_text|> first.
func TestTemplateSequence(t *testing.T) {
	f := tinyFile("a b")
	f["post_processor"] = map[string]any{"type": "Sequence", "processors": []any{
		map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		template([]any{special("<|end|>"), sequence("A"), special("<|end|>")},
			map[string]any{"<|end|>": map[string]any{"id": "<|end|>", "ids": []int{257}, "tokens": []string{"<|end|>"}}}),
	}}
	tk, err := loadMap(t, f)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := tk.TokenID("ab")
	if got, want := tk.Encode("ab"), []int{257, ab, 257}; !slices.Equal(got, want) {
		t.Errorf(`Encode("ab") = %v, want %v`, got, want)
	}
	if got, want := tk.EncodePlain("ab"), []int{ab}; !slices.Equal(got, want) {
		t.Errorf(`EncodePlain("ab") = %v, want %v`, got, want)
	}
}

// TestLlama2 checks encodings of Mixtral's file that follow from its
// vocabulary and merges alone, as TestEncodeExact does for Qwen's.
func TestLlama2(t *testing.T) {
	tk := loadLlama2(t)
	if got, want := tk.Encode("Hello world"), []int{1, 22557, 1526}; !slices.Equal(got, want) {
		t.Errorf(`Encode("Hello world") = %v, want %v ("<s>", "▁Hello", "▁world")`, got, want)
	}
	for _, tc := range []struct {
		text   string
		tokens []string
	}{
		{"[INST]", []string{"<s>", "▁[", "INST", "]"}},
		{"1234", []string{"<s>", "▁", "1", "2", "3", "4"}},                  // digits are single tokens
		{"𠀀", []string{"<s>", "▁", "<0xF0>", "<0xA0>", "<0x80>", "<0x80>"}}, // not in the vocabulary: its bytes
		{"\n", []string{"<s>", "▁", "<0x0A>"}},
		{"a</s>", []string{"<s>", "▁a", "</s>"}},
	} {
		if got, want := tk.Encode(tc.text), tokenIDs(t, tk, tc.tokens); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v %q", tc.text, got, want, tc.tokens)
		}
	}
	if got, err := tk.Decode([]int{1, 22557, 1526, 2}); err != nil || got != "<s> Hello world</s>" {
		t.Errorf("Decode = %q, %v; want %q", got, err, "<s> Hello world</s>")
	}
	if got, want := tk.VocabSize(), 32000; got != want {
		t.Errorf("VocabSize() = %d, want %d", got, want)
	}
	if !tk.cutWords {
		t.Error("Mixtral's file: no merge should join a rune to a following ▁")
	}
}

// TestLlama3 checks encodings of Llama-3's file: the pattern takes up to
// three digits a piece and contractions in any case.
func TestLlama3(t *testing.T) {
	tk := loadLlama3(t)
	for _, tc := range []struct {
		text   string
		tokens []string
	}{
		{"Hello world", []string{"Hello", "Ġworld"}},
		{"1234567", []string{"123", "456", "7"}},
		{"IT'S", []string{"IT", "'S"}},
		{"<|begin_of_text|>hi<|eot_id|>", []string{"<|begin_of_text|>", "hi", "<|eot_id|>"}},
	} {
		if got, want := tk.Encode(tc.text), tokenIDs(t, tk, tc.tokens); !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v %q", tc.text, got, want, tc.tokens)
		}
	}
	if got, want := tk.VocabSize(), 128256; got != want {
		t.Errorf("VocabSize() = %d, want %d", got, want)
	}
	if id, ok := tk.TokenID("<|begin_of_text|>"); !ok || id != 128000 || !tk.IsSpecial(id) {
		t.Errorf("<|begin_of_text|>: id %d, %v, special %v", id, ok, tk.IsSpecial(id))
	}
	if !tk.ignoreMerges {
		t.Error("Llama-3's file says ignore_merges")
	}
}

// loadSP loads tinySPFile with merges, for tests that do not edit it.
func loadSP(t *testing.T, merges ...string) *Tokenizer {
	t.Helper()
	data, _ := json.Marshal(tinySPFile(merges...))
	tk, err := Load(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestSentencePieceStream streams a byte run that waits for the token after
// it, and the first space that Strip takes.
func TestSentencePieceStream(t *testing.T) {
	tk := loadSP(t, "▁ a")
	d := tk.NewStreamDecoder()
	var outs []string
	for _, id := range tokenIDs(t, tk, []string{"▁a", "<0xC3>", "<0xA9>", "▁a", "<0xC3>"}) {
		s, err := d.Next(id)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, s)
	}
	outs = append(outs, d.Flush())
	if got, want := strings.Join(outs, "|"), "a|||é a||\ufffd"; got != want {
		t.Errorf("streamed %q, want %q", got, want)
	}
}

// FuzzSentencePieceTiny checks that small SentencePiece files, with byte
// fallback or unk tokens, fused or not, or neither, encode as tokenizers
// does, merging each run between added tokens whole (encodeWhole), and
// decode without error.
func FuzzSentencePieceTiny(f *testing.F) {
	for _, s := range []string{"ab ab", "a  b\tc", "aéüb c", "é a<s>b ", "▁a▁ b", "\xffa b\xe4", ""} {
		f.Add(s)
	}
	var tks []*Tokenizer
	for _, edit := range []func(m map[string]any){
		func(m map[string]any) {},
		func(m map[string]any) { m["byte_fallback"] = false },
		func(m map[string]any) { m["byte_fallback"], m["fuse_unk"] = false, false },
		func(m map[string]any) { m["byte_fallback"], m["unk_token"] = false, nil },
	} {
		for _, merges := range [][]string{{"▁ a", "a b", "▁a b", "b c"}, {"▁ a", "b ▁", "b▁ c", "▁ ▁"}} {
			file := tinySPFile(merges...)
			edit(file["model"].(map[string]any))
			data, _ := json.Marshal(file)
			tk, err := Load(data, Options{})
			if err != nil {
				f.Fatal(err)
			}
			tks = append(tks, tk)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, tk := range tks {
			if got, want := tk.EncodePlain(s), encodeWhole(tk, s); !slices.Equal(got, want) {
				t.Fatalf("tokenizer %d: EncodePlain(%q) = %v, merged whole %v", i, s, got, want)
			}
			if _, err := tk.Decode(tk.Encode(s)); err != nil {
				t.Fatalf("tokenizer %d: %v", i, err)
			}
		}
	})
}
