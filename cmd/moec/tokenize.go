package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/text/unicode/norm"

	"github.com/moepolicy/moec/tokenizer"
)

var tokenizeCommand = &command{
	name:      "tokenize",
	usageLine: "-tokenizer file [-decode | -plain] [file]",
	short:     "turn text into token ids and back",
	long: `Tokenize encodes text into token ids with a Hugging Face tokenizer.json,
as the tokenizers library does, and prints them on standard output as one
JSON array on one line:

	moec tokenize -tokenizer tokenizer.json prompt.txt

The text is the named file, or standard input when the file is "-" or
left out. Every byte counts: a final newline is encoded too, and added
tokens written in the text, such as <|im_start|>, become their ids. The
special tokens that the tokenizer's post-processor adds come too, as
Hugging Face's encode adds them by default (Mixtral's <s> first); -plain
leaves them out (add_special_tokens=False), as for the text of a chat
template.

-tokenizer names the tokenizer.json, or a gzip-compressed copy whose name
ends in .gz. The tokenizers are the byte-level BPE of Qwen1.5, Qwen2,
Qwen3 and Llama-3, and the SentencePiece-style BPE with byte fallback of
Mixtral and Llama-2; a file of another form is refused, naming what it
lacks.

-decode reads a JSON array of token ids instead and prints their text,
exactly, with no newline added: special tokens are written out, and
bytes that do not form UTF-8 become U+FFFD, as Hugging Face's decode
writes them. So "moec tokenize -decode" gives back the text that "moec
tokenize" read, when that is UTF-8 in Unicode's NFC form, the form
Qwen's tokenizer normalizes text to (almost all text is in it). Mixtral's
tokenizer normalizes more: the decoded text has the <s> that encoding
added, and a space after each added token that text follows.

A tokenizer file or input that cannot be read, a malformed tokenizer
file or array, or an id outside the vocabulary is an error that names
the file, with exit status 1.`,
	run: runTokenize,
}

func runTokenize(e *env, c *command, args []string) int {
	fs := e.flagSet(c)
	file := fs.String("tokenizer", "", "the tokenizer.json `file` (or .json.gz)")
	decode := fs.Bool("decode", false, "read a JSON array of ids and print their text")
	plain := fs.Bool("plain", false, "leave out the special tokens the tokenizer's post-processor adds")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *file == "" || fs.NArg() > 1 || *plain && *decode {
		return e.usageError(c)
	}
	in := "-"
	if fs.NArg() == 1 {
		in = fs.Arg(0)
	}
	tk, err := loadTokenizer(*file)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	src, err := e.readInput(in)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if !*decode {
		encode := tk.Encode
		if *plain {
			encode = tk.EncodePlain
		}
		b, _ := json.Marshal(encode(string(src))) // a []int always marshals
		return e.printBytes(append(b, '\n'))
	}
	ids, err := parseIDArray(src)
	if err == nil {
		var text string
		if text, err = tk.Decode(ids); err == nil {
			return e.printBytes([]byte(text))
		}
	}
	e.errorf("%s: %v", inputName(in), err)
	return exitError
}

// printBytes writes b on standard output and returns the exit status.
func (e *env) printBytes(b []byte) int {
	if !e.writeAll(e.stdout, b) {
		return exitError
	}
	return exitOK
}

// loadTokenizer reads the tokenizer.json (or .json.gz) at name, with the
// NFC normalization that Qwen's files ask for, so that moec encodes
// decomposed text as Hugging Face does too.
func loadTokenizer(name string) (*tokenizer.Tokenizer, error) {
	return tokenizer.LoadFile(name, tokenizer.Options{Normalize: norm.NFC.String})
}

// parseIDArray reads a JSON array of token ids, such as tokenize prints.
func parseIDArray(src []byte) ([]int, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(src, &raw); err != nil || !bytes.HasPrefix(bytes.TrimSpace(src), []byte("[")) {
		return nil, errors.New("not a JSON array of token ids")
	}
	ids := make([]int, len(raw))
	for i, r := range raw {
		id, err := strconv.Atoi(string(r))
		if err != nil || id < 0 {
			return nil, fmt.Errorf("element %d, %s, is not a token id", i+1, r)
		}
		ids[i] = id
	}
	return ids, nil
}
