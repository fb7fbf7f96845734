// Package tokenizer reads a Hugging Face tokenizer.json and encodes text to
// token ids and decodes ids to text, as the Hugging Face tokenizers library
// does, for the two forms of BPE that MoE checkpoints ship:
//
//   - byte-level BPE, as Qwen1.5/2/3 and Llama-3 use: a split pattern cuts
//     the text into pieces and BPE merges each piece's bytes;
//   - the SentencePiece form, as Mixtral and Llama-2 use: spaces become
//     "▁", there is no pre-tokenizer, and BPE merges characters, with the
//     bytes of a character outside the vocabulary as <0xNN> tokens
//     (byte_fallback).
//
// Encoding runs the stages the file names, in the order the library runs
// them:
//
//  1. added tokens (special ones such as <|im_start|> or </s> and others
//     such as <think>) are cut out of the raw text, leftmost and longest
//     first, and become their own ids;
//  2. the normalizer runs on each run of text between them: NFC (see
//     [Options.Normalize]), Prepend, Replace, or a Sequence of them;
//  3. in a byte-level file, the Split pre-tokenizer cuts that text into
//     pieces with the file's pattern, which this package runs as
//     hand-written code (split.go), one function for each pattern it
//     knows, not through a regexp engine: Go's regexp has no (?!\S)
//     lookahead;
//  4. BPE merges the adjacent pair of lowest merge rank first, leftmost
//     among equals, until no pair merges;
//  5. [Tokenizer.Encode] puts the special tokens of the post-processor's
//     TemplateProcessing around the ids (<s> first for Mixtral), as
//     encode does with add_special_tokens; [Tokenizer.EncodePlain] does
//     not.
//
// Decoding maps ids back to their text. A byte-level file's bytes that are
// not valid UTF-8 become U+FFFD the way Rust's String::from_utf8_lossy
// writes them; a SentencePiece file's decoder (Replace "▁" with a space,
// ByteFallback, Fuse, Strip) is run as the file orders it.
//
// A file whose model, normalizer, pre-tokenizer, split pattern,
// post-processor or decoder this package does not implement is refused by
// [Load] with an error that names the part, rather than encoded
// differently from Hugging Face.
package tokenizer
