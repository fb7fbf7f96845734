package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// A Chat is a family's chat format for one user turn, as its chat
// template in tokenizer_config.json writes it for a single user message
// with the generation prompt added.
type Chat struct {
	// Name says the format: "ChatML", "[INST]".
	Name string
	// Before and After surround the user's text.
	Before, After string
	// EndOfTurn is the token that ends the model's answer; generation
	// stops there.
	EndOfTurn string
}

// Wrap returns prompt as one user turn followed by the start of the
// model's answer.
func (ch Chat) Wrap(prompt string) string { return ch.Before + prompt + ch.After }

// The formats, as the families' templates write a lone user message.
var (
	// chatML is Qwen3's template: no system turn unless one is given.
	chatML = Chat{Name: "ChatML", Before: "<|im_start|>user\n", After: "<|im_end|>\n<|im_start|>assistant\n", EndOfTurn: "<|im_end|>"}
	// chatMLSystem is Qwen1.5's and Qwen2's, which open with a default
	// system turn when the messages have none.
	chatMLSystem = Chat{Name: "ChatML", Before: "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" + chatML.Before,
		After: chatML.After, EndOfTurn: chatML.EndOfTurn}
	// inst is Mixtral-Instruct's: the BOS token, then [INST] ... [/INST].
	inst = Chat{Name: "[INST]", Before: "<s>[INST] ", After: " [/INST]", EndOfTurn: "</s>"}
)

// Chat returns the chat format of c's family, and false for a family
// moec knows none for.
func (c *Config) Chat() (Chat, bool) {
	if c.family == nil || c.family.chat == nil {
		return Chat{}, false
	}
	return *c.family.chat, true
}

// TemplateChat returns the chat format that a chat template (the Jinja
// chat_template of tokenizer_config.json) writes, recognised by the marks
// that only that format uses rather than by running the template:
// "<|im_start|>" for ChatML, with the default system turn of Qwen1.5 and
// Qwen2 when the template writes it, and "[INST]" for Mixtral's and
// Llama-2's format. It returns false for any other template, such as
// Llama-3's headers.
func TemplateChat(template string) (Chat, bool) {
	switch {
	case strings.Contains(template, "<|im_start|>"):
		if strings.Contains(template, "You are a helpful assistant.") {
			return chatMLSystem, true
		}
		return chatML, true
	case strings.Contains(template, "[INST]"):
		return inst, true
	}
	return Chat{}, false
}

// TokenizerConfigName is the file beside tokenizer.json that holds a
// checkpoint's chat template.
const TokenizerConfigName = "tokenizer_config.json"

// ReadChatTemplate returns the chat_template of the tokenizer_config.json
// at path, and false if the file or the field is absent. Newer files may
// hold a list of named templates; the one named "default" is the one a
// chat takes. Errors name the file.
func ReadChatTemplate(path string) (string, bool, error) {
	data, err := readBounded(path, maxTokenizerConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	var f struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return "", false, fmt.Errorf("%s: %v", path, err)
	}
	if len(f.ChatTemplate) == 0 || string(f.ChatTemplate) == "null" {
		return "", false, nil
	}
	var one string
	if err := json.Unmarshal(f.ChatTemplate, &one); err == nil {
		return one, true, nil
	}
	var named []struct{ Name, Template string }
	if err := json.Unmarshal(f.ChatTemplate, &named); err != nil {
		return "", false, fmt.Errorf("%s: chat_template is neither a string nor a list of named templates", path)
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, true, nil
		}
	}
	return "", false, fmt.Errorf("%s: chat_template has no template named \"default\"", path)
}

// maxTokenizerConfigBytes bounds what ReadChatTemplate reads: Llama-3's
// file, with its 256 added tokens, is 51 KB.
const maxTokenizerConfigBytes = 16 << 20
