package model

import "testing"

// TestChatWrap checks each family's wrapping of a user turn against what
// its chat template (apply_chat_template with add_generation_prompt)
// writes for the one message "Hi".
func TestChatWrap(t *testing.T) {
	for _, c := range []struct {
		typ, want, end string
	}{
		{"qwen2_moe", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>"},
		{"qwen3_moe", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>"},
		{"mixtral", "<s>[INST] Hi [/INST]", "</s>"},
	} {
		cfg := &Config{Type: c.typ, family: families[c.typ]}
		ch, ok := cfg.Chat()
		if !ok {
			t.Errorf("%s: no chat format", c.typ)
			continue
		}
		if got := ch.Wrap("Hi"); got != c.want || ch.EndOfTurn != c.end {
			t.Errorf("%s: Wrap(\"Hi\") = %q, end %q; want %q, end %q", c.typ, got, ch.EndOfTurn, c.want, c.end)
		}
	}
	for _, typ := range []string{"olmoe", "deepseek_v3"} {
		if ch, ok := (&Config{Type: typ, family: families[typ]}).Chat(); ok {
			t.Errorf("%s: chat format %+v, want none", typ, ch)
		}
	}
}
