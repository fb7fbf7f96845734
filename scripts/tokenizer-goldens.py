#!/usr/bin/env python3
"""tokenizer-goldens.py writes tokenizer/testdata/goldens-NAME.jsonl, the ids
and texts that Hugging Face tokenizers gives, for TestGoldens in package
tokenizer to compare with, for each tokenizer file NAME-tokenizer.json.gz
there (qwen3, llama3, llama2). Run it where tokenizers is installed (the GPU
machine has 0.23), from the repository root or anywhere:

    python3 scripts/tokenizer-goldens.py

It prints one line for each tokenizer. Each line of a goldens file is a JSON
object:

    {"text": T, "ids": I, "plain": P, "decoded": D, "decoded_plain": E}
        encode(T).ids is I (add_special_tokens=True, so the post-processor
        runs), encode(T, add_special_tokens=False).ids is P, and
        decode(I, skip_special_tokens=False) is D, decode(P, ...) is E
    {"ids": I, "decoded": D}
        decode(I, skip_special_tokens=False) is D, for id lists made of byte
        tokens whose bytes are not always valid UTF-8, and of other tokens
        around them

The texts are those of tokenizer/testdata/corpus.jsonl, one JSON string a
line.
"""
import gzip
import json
import os
import sys

from tokenizers import Tokenizer, __version__

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tokenizer", "testdata")

# The tokenizers, and two special tokens of each to put around byte tokens.
TOKENIZERS = [
    ("qwen3", "<|im_start|>", "<|im_end|>"),
    ("llama3", "<|begin_of_text|>", "<|end_of_text|>"),
    ("llama2", "<s>", "</s>"),
]

# Byte sequences to decode, as byte tokens: cut characters, invalid bytes,
# Unicode's table 3-8, and whole characters for contrast.
BYTES = [
    b"\xe4\xbd", b"\xe4\xbdA", b"\xbd\xa0", b"\xf0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
    b"a\xf1\x80\x80\xe1\x80\xc2b\x80c\x80\xbfd", b"\xf0\x9f\x98", b"\xe4\xbd\xa0", b"\xf0\x9f\xa6\xa9",
    b" ", b"\n", b"  x",
]


def byte_alphabet():
    """GPT-2's bytes_to_unicode: the rune that stands for each byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    runes, n = {}, 0
    for b in range(256):
        if b in printable:
            runes[b] = chr(b)
        else:
            runes[b] = chr(256 + n)
            n += 1
    return runes


RUNES = byte_alphabet()


def token_id(tok, text):
    i = tok.token_to_id(text)
    if i is None:
        sys.exit(f"tokenizer-goldens.py: no token {text!r}")
    return i


def goldens(name, first, last):
    with gzip.open(os.path.join(root, name + "-tokenizer.json.gz"), "rt", encoding="utf-8") as f:
        raw = f.read()
    tok = Tokenizer.from_str(raw)
    byte_level = json.loads(raw)["pre_tokenizer"] is not None

    def byte_ids(data):
        if byte_level:
            return [token_id(tok, RUNES[b]) for b in data]
        return [token_id(tok, f"<0x{b:02X}>") for b in data]

    def decoded(ids):
        return {"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}

    lines = []
    with open(os.path.join(root, "corpus.jsonl"), encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)
            ids = tok.encode(text).ids
            plain = tok.encode(text, add_special_tokens=False).ids
            lines.append({"text": text, "ids": ids, "plain": plain,
                          "decoded": tok.decode(ids, skip_special_tokens=False),
                          "decoded_plain": tok.decode(plain, skip_special_tokens=False)})
    for data in BYTES:
        lines.append(decoded(byte_ids(data)))
    a, b = token_id(tok, first), token_id(tok, last)
    lines.append(decoded([a] + byte_ids(b"\xe4") + [b]))
    # Byte tokens between other tokens: a run that is whole, and one that
    # is not, after a word and before one.
    word = tok.encode(" hello", add_special_tokens=False).ids
    lines.append(decoded(word + byte_ids("你".encode()) + word))
    lines.append(decoded(word + byte_ids(b"\xe4\xbd") + word + byte_ids(b"\xa0")))
    lines.append(decoded(byte_ids(b" ") + word))
    lines.append(decoded([a] + word + [b] + word))

    out = os.path.join(root, f"goldens-{name}.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for obj in lines:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    texts = sum("text" in obj for obj in lines)
    print(f"{name}: wrote {len(lines)} goldens ({texts} texts) to {os.path.relpath(out)} with tokenizers {__version__}")


for name, first, last in TOKENIZERS:
    goldens(name, first, last)
