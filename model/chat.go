package model

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
