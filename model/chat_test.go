package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

// TestTemplateChat recognises the formats by the chat templates of the
// families' tokenizer_config.json files, shortened to the parts that
// matter.
func TestTemplateChat(t *testing.T) {
	for _, c := range []struct {
		name, template string
		want           *Chat
	}{
		{"qwen2", "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}", &chatMLSystem},
		{"qwen3", "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}", &chatML},
		{"mixtral", "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}", &inst},
		{"llama3", "{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}", nil},
		{"empty", "", nil},
	} {
		ch, ok := TemplateChat(c.template)
		if ok != (c.want != nil) || ok && ch != *c.want {
			t.Errorf("%s: TemplateChat = %+v, %v; want %+v", c.name, ch, ok, c.want)
		}
	}
}

func TestReadChatTemplate(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, file, want, err string
		found                 bool
	}{
		{"string", `{"chat_template": "[INST]"}`, "[INST]", "", true},
		{"named", `{"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "[INST]"}]}`, "[INST]", "", true},
		{"none", `{"bos_token": "<s>"}`, "", "", false},
		{"null", `{"chat_template": null}`, "", "", false},
		{"no default", `{"chat_template": [{"name": "tool_use", "template": "x"}]}`, "", `has no template named "default"`, false},
		{"number", `{"chat_template": 3}`, "", "neither a string nor a list", false},
		{"not json", `{`, "", "unexpected end of JSON input", false},
	} {
		path := filepath.Join(dir, c.name+".json")
		if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		got, found, err := ReadChatTemplate(path)
		if got != c.want || found != c.found || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: ReadChatTemplate = %q, %v, %v; want %q, %v, error containing %q", c.name, got, found, err, c.want, c.found, c.err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("%s: error %q does not start with the file name", c.name, err)
		}
	}
	if _, found, err := ReadChatTemplate(filepath.Join(dir, "missing.json")); found || err != nil {
		t.Errorf("missing file: found %v, error %v; want neither", found, err)
	}
}
