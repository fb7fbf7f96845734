#!/usr/bin/env python3
"""tokenizer-goldens.py writes tokenizer/testdata/goldens.jsonl, the ids and
texts that Hugging Face tokenizers gives, for TestGoldens in package
tokenizer to compare with. Run it where tokenizers is installed (the GPU
machine has 0.23), from anywhere:

    python3 scripts/tokenizer-goldens.py

Each line is a JSON object:

    {"text": T, "ids": I}     encode(T).ids is I (and decoding I gives T)
    {"ids": I, "decoded": D}  decode(I, skip_special_tokens=False) is D, for
                              id lists whose bytes are not valid UTF-8

The texts are those of tokenizer/testdata/corpus.jsonl, one JSON string a
line.
"""
import gzip
import json
import os

from tokenizers import Tokenizer, __version__

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tokenizer", "testdata")
with gzip.open(os.path.join(root, "qwen3-tokenizer.json.gz"), "rt", encoding="utf-8") as f:
    tok = Tokenizer.from_str(f.read())


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


runes = byte_alphabet()


def byte_ids(data):
    return [tok.token_to_id(runes[b]) for b in data]


lines = []
with open(os.path.join(root, "corpus.jsonl"), encoding="utf-8") as f:
    for line in f:
        text = json.loads(line)
        lines.append({"text": text, "ids": tok.encode(text).ids})

for data in [b"\xe4\xbd", b"\xe4\xbdA", b"\xbd\xa0", b"\xf0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
             b"a\xf1\x80\x80\xe1\x80\xc2b\x80c\x80\xbfd", b"\xf0\x9f\x98"]:
    ids = byte_ids(data)
    lines.append({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
ids = [tok.token_to_id("<|im_start|>")] + byte_ids(b"\xe4") + [tok.token_to_id("<|im_end|>")]
lines.append({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})

out = os.path.join(root, "goldens.jsonl")
with open(out, "w", encoding="utf-8") as f:
    for obj in lines:
        f.write(json.dumps(obj, ensure_ascii=False) + "\n")
print(f"wrote {len(lines)} goldens to {out} with tokenizers {__version__}")
