// Package tokenizer reads a Hugging Face tokenizer.json and encodes text to
// token ids and decodes ids to text, as the Hugging Face tokenizers library
// does, for the byte-level BPE tokenizers of Qwen1.5/2/3 (and the same form
// with Llama-3's split pattern).
//
// Encoding runs the stages the file names, in the order the library runs
// them:
//
//  1. added tokens (special ones such as <|im_start|> and others such as
//     <think>) are cut out of the raw text, leftmost and longest first,
//     and become their own ids;
//  2. the normalizer runs on the text between them (see [Options.Normalize]
//     for NFC);
//  3. the Split pre-tokenizer cuts that text into pieces with the file's
//     pattern, which this package runs as hand-written code (split.go),
//     not through a regexp engine: Go's regexp has no (?!\S) lookahead;
//  4. each piece's bytes are merged by BPE, lowest merge rank first, into
//     vocabulary ids.
//
// Decoding maps ids back to their bytes (the byte-level alphabet undone) and
// turns bytes that are not valid UTF-8 into U+FFFD the way Rust's
// String::from_utf8_lossy does, as the library does.
//
// A file whose model, normalizer, pre-tokenizer, post-processor or decoder
// this package does not implement is refused by [Load] with an error that
// names the part, rather than encoded differently from Hugging Face.
package tokenizer
