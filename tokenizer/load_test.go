package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyFile returns a small tokenizer.json in Qwen's form as a map to edit:
// the 256 byte tokens (ids 0 to 255 in byte order) and the given merges,
// each of which adds its result to the vocabulary.
func tinyFile(merges ...string) map[string]any {
	vocab := map[string]any{}
	for b := 0; b < 256; b++ {
		vocab[string(byteRune[b])] = b
	}
	var ms []any
	for _, m := range merges {
		a, b, _ := strings.Cut(m, " ")
		if _, ok := vocab[a+b]; !ok {
			vocab[a+b] = len(vocab)
		}
		ms = append(ms, []any{a, b})
	}
	for pattern := range knownPatterns {
		if !strings.Contains(pattern, "{1,3}") {
			return map[string]any{
				"version": "1.0",
				"added_tokens": []any{map[string]any{
					"id": len(vocab), "content": "<|end|>", "single_word": false, "lstrip": false,
					"rstrip": false, "normalized": false, "special": true,
				}},
				"normalizer": map[string]any{"type": "NFC"},
				"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
					map[string]any{"type": "Split", "pattern": map[string]any{"Regex": pattern}, "behavior": "Isolated", "invert": false},
					map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
				}},
				"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
				"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
				"model": map[string]any{
					"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
					"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
					"vocab": vocab, "merges": ms,
				},
			}
		}
	}
	panic("no Qwen2 pattern")
}

func loadMap(t *testing.T, f map[string]any) (*Tokenizer, error) {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return Load(data, Options{})
}

// TestMergeOrder checks that BPE merges the pair of lowest rank first, and
// the leftmost of equal pairs.
func TestMergeOrder(t *testing.T) {
	for _, tc := range []struct {
		merges []string
		text   string
		want   []string
	}{
		{[]string{"a b", "b c", "ab c"}, "abc", []string{"abc"}},
		{[]string{"b c", "a b", "ab c"}, "abc", []string{"a", "bc"}}, // "b c" first leaves no "a b"
		{[]string{"a a"}, "aaa", []string{"aa", "a"}},                // leftmost first
		{[]string{"a a", "aa aa"}, "aaaaa", []string{"aaaa", "a"}},
		{[]string{"a a", "aa a"}, "aaaa", []string{"aa", "aa"}}, // both "a a" merge before "aa a" can
		{[]string{"Ġ a", "b Ġa"}, "b a", []string{"b", "Ġa"}},   // merges never cross pieces
	} {
		tk, err := loadMap(t, tinyFile(tc.merges...))
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for _, tok := range tc.want {
			id, ok := tk.TokenID(tok)
			if !ok {
				t.Fatalf("%q not in vocab", tok)
			}
			want = append(want, id)
		}
		if got := tk.Encode(tc.text); !slices.Equal(got, want) {
			t.Errorf("merges %q: Encode(%q) = %v, want %v %q", tc.merges, tc.text, got, want, tc.want)
		}
	}
}

func TestIgnoreMerges(t *testing.T) {
	f := tinyFile("b c", "a b", "ab c")
	f["model"].(map[string]any)["ignore_merges"] = true
	tk, err := loadMap(t, f)
	if err != nil {
		t.Fatal(err)
	}
	abc, _ := tk.TokenID("abc")
	if got := tk.Encode("abc"); !slices.Equal(got, []int{abc}) {
		t.Errorf(`with ignore_merges, Encode("abc") = %v, want [%d]`, got, abc)
	}
}

func TestLoadErrors(t *testing.T) {
	model := func(f map[string]any) map[string]any { return f["model"].(map[string]any) }
	for _, tc := range []struct {
		name string
		edit func(f map[string]any)
		want string
	}{
		{"no model", func(f map[string]any) { delete(f, "model") }, "no model"},
		{"wordpiece", func(f map[string]any) { model(f)["type"] = "WordPiece" }, `model type "WordPiece" is not supported`},
		{"dropout", func(f map[string]any) { model(f)["dropout"] = 0.1 }, "dropout"},
		{"missing byte", func(f map[string]any) { delete(model(f)["vocab"].(map[string]any), "Ġ") }, "lacks the token for byte 0x20"},
		{"not byte-level", func(f map[string]any) { model(f)["vocab"].(map[string]any)["▁x"] = 300 }, "byte-level alphabet"},
		{"shared id", func(f map[string]any) { model(f)["vocab"].(map[string]any)["ab"] = 97 }, "id 97 is given to both"},
		{"negative id", func(f map[string]any) { model(f)["vocab"].(map[string]any)["ab"] = -1 }, "out of range"},
		{"merge unknown", func(f map[string]any) { model(f)["merges"] = []any{"a zz"} }, `merge 0: "a", "zz" or "azz" is not in the vocab`},
		{"merge not pair", func(f map[string]any) { model(f)["merges"] = []any{"a b c"} }, "is not a pair"},
		{"merge number", func(f map[string]any) { model(f)["merges"] = []any{7} }, "not a string or a pair"},
		{"normalizer", func(f map[string]any) { f["normalizer"] = map[string]any{"type": "NFKC"} }, `normalizer: step 1: type "NFKC" is not supported`},
		{"unknown pattern", func(f map[string]any) {
			f["pre_tokenizer"].(map[string]any)["pretokenizers"].([]any)[0].(map[string]any)["pattern"] = map[string]any{"Regex": `\w+|\s+`}
		}, `unknown pattern "\\w+|\\s+"`},
		{"no pre-tokenizer", func(f map[string]any) { f["pre_tokenizer"] = nil }, "decoder: ByteLevel needs the pre-tokenizer of a byte-level file"},
		{"gpt-2 byte level", func(f map[string]any) {
			f["pre_tokenizer"] = map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}
		}, "pre_tokenizer: not supported"},
		{"decoder", func(f map[string]any) { f["decoder"] = map[string]any{"type": "Metaspace"} }, "decoder: not supported"},
		{"post-processor", func(f map[string]any) { f["post_processor"] = map[string]any{"type": "RobertaProcessing"} }, `post_processor: type "RobertaProcessing" is not supported`},
		{"template without text", func(f map[string]any) { f["post_processor"] = map[string]any{"type": "TemplateProcessing"} }, `post_processor: TemplateProcessing: single: no Sequence A`},
		{"template unknown token", func(f map[string]any) {
			f["post_processor"] = template([]any{special("<x>"), sequence("A")}, map[string]any{})
		}, `single: piece 1: special token "<x>" is not in special_tokens`},
		{"template bad id", func(f map[string]any) {
			f["post_processor"] = template([]any{special("<x>"), sequence("A")}, map[string]any{"<x>": map[string]any{"id": "<x>", "ids": []int{9999}}})
		}, `special token "<x>": id 9999 is not in the vocabulary`},
		{"template pair", func(f map[string]any) {
			f["post_processor"] = template([]any{sequence("A"), sequence("B")}, map[string]any{})
		}, `single: piece 2: want one Sequence A, have Sequence "B"`},
		{"byte fallback in byte-level", func(f map[string]any) { model(f)["byte_fallback"] = true }, "byte_fallback with a byte-level pre-tokenizer"},
		{"normalized added", func(f map[string]any) { f["added_tokens"].([]any)[0].(map[string]any)["normalized"] = true }, "normalized added tokens"},
		{"lstrip", func(f map[string]any) { f["added_tokens"].([]any)[0].(map[string]any)["lstrip"] = true }, "lstrip"},
		{"added id taken", func(f map[string]any) { f["added_tokens"].([]any)[0].(map[string]any)["id"] = 97 }, `id 97 is already "a"`},
		{"added no id", func(f map[string]any) { delete(f["added_tokens"].([]any)[0].(map[string]any), "id") }, "missing or invalid id"},
		{"padding", func(f map[string]any) { f["padding"] = map[string]any{"strategy": "BatchLongest"} }, "padding"},
		{"vocab not object", func(f map[string]any) { model(f)["vocab"] = []any{1} }, "not a tokenizer.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tinyFile("a b")
			tc.edit(f)
			_, err := loadMap(t, f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	for _, data := range []string{"", "{", "[]", "null", `{"model": 1}`} {
		if _, err := Load([]byte(data), Options{}); err == nil {
			t.Errorf("Load(%q): no error", data)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadFile(filepath.Join(dir, "missing.json"), Options{}); err == nil {
		t.Error("missing file: no error")
	}
	bad := filepath.Join(dir, "bad.json.gz")
	if err := os.WriteFile(bad, []byte("not gzip"), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad, Options{}); err == nil || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Errorf("bad gzip: error %v, want one starting with the file name", err)
	}
}

// TestNormalize checks that Options.Normalize runs on text between added
// tokens, and only on text that is not ASCII.
func TestNormalize(t *testing.T) {
	data, _ := json.Marshal(tinyFile())
	var seen []string
	tk, err := Load(data, Options{Normalize: func(s string) string {
		seen = append(seen, s)
		return strings.ReplaceAll(s, "e\u0301", "é")
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := must(Load(data, Options{})).Encode("é<|end|>")
	if got := tk.Encode("ascii<|end|>e\u0301<|end|>"); !slices.Equal(got[len(got)-len(want):], want) {
		t.Errorf("normalized encoding ends %v, want %v", got[len(got)-len(want):], want)
	}
	if !slices.Equal(seen, []string{"e\u0301"}) {
		t.Errorf("Normalize saw %q, want only the decomposed text", seen)
	}
}

func must(t *Tokenizer, err error) *Tokenizer {
	if err != nil {
		panic(err)
	}
	return t
}
