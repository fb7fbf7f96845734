package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// streamDecode decodes ids through a StreamDecoder, checking that each
// call returns valid UTF-8.
func streamDecode(t *testing.T, tk *Tokenizer, ids []int) string {
	t.Helper()
	d := tk.NewStreamDecoder()
	var sb strings.Builder
	for _, id := range ids {
		s, err := d.Next(id)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(s) {
			t.Fatalf("Next(%d) = %q, not UTF-8", id, s)
		}
		sb.WriteString(s)
	}
	sb.WriteString(d.Flush())
	return sb.String()
}

func byteTokens(tk *Tokenizer, s string) []int {
	var ids []int
	for i := 0; i < len(s); i++ {
		ids = append(ids, int(tk.byteID[s[i]]))
	}
	return ids
}

func TestStreamDecoder(t *testing.T) {
	for _, tc := range tokenizers {
		tk := tc.load(t)
		for _, s := range corpus {
			ids := tk.Encode(s)
			want, err := tk.Decode(ids)
			if err != nil {
				t.Fatal(err)
			}
			if got := streamDecode(t, tk, ids); got != want {
				t.Errorf("%s: streamed %q, want %q", tc.name, got, want)
			}
		}
	}
	tk := loadQwen(t)
	// A character cut into its bytes comes out whole, once.
	d := tk.NewStreamDecoder()
	var outs []string
	for _, id := range byteTokens(tk, "你😀") {
		s, _ := d.Next(id)
		outs = append(outs, s)
	}
	if got, want := strings.Join(outs, "|"), "||你||||😀"; got != want {
		t.Errorf("byte by byte: %q, want %q", got, want)
	}
	if _, err := d.Next(-1); err == nil {
		t.Error("Next(-1): no error")
	}
}

// FuzzStreamDecoder checks that streaming the bytes of any string, one
// token per byte, gives what Decode gives.
func FuzzStreamDecoder(f *testing.F) {
	for _, s := range corpus {
		f.Add(s)
	}
	f.Add("\xe4\xbd\xf0\x9f\x98A\xed\xa0\x80\xc2")
	tk := loadQwen(f)
	f.Fuzz(func(t *testing.T, s string) {
		ids := byteTokens(tk, s)
		want, err := tk.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if got := streamDecode(t, tk, ids); got != want {
			t.Fatalf("streaming %q gives %q, Decode %q", s, got, want)
		}
	})
}
