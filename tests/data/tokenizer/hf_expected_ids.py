#!/usr/bin/env python3
"""Expected ids for the tokenizer peer test, from Hugging Face `tokenizers` (the pinned wheel in the
project's .venv) on the same tokenizer.json.

Usage: hf_expected_ids.py TOKENIZER_JSON CORPUS OUT [BLOCK_LINES]

Each corpus line (without its newline) is one record; bytes that are not valid UTF-8 are replaced
the way bytes.decode("utf-8", "replace") does, since tokenizers only takes text. Then every block
of BLOCK_LINES consecutive lines (default 40) joined by newlines is a record too. OUT gets one
line per record: "L" or "B", then the ids separated by spaces (add_special_tokens=False).
"""
import sys

import tokenizers


def main():
    tok_path, corpus_path, out_path = sys.argv[1:4]
    block = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    tok = tokenizers.Tokenizer.from_file(tok_path)
    with open(corpus_path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    texts = [l.decode("utf-8", "replace") for l in lines]
    blocks = ["\n".join(texts[i:i + block]) for i in range(0, len(texts), block)]
    with open(out_path, "w") as out:
        out.write(f"# tokenizers {tokenizers.__version__} lines {len(texts)} blocks {len(blocks)} block {block}\n")
        for kind, batch in (("L", texts), ("B", blocks)):
            for enc in tok.encode_batch(batch, add_special_tokens=False):
                out.write(kind + " " + " ".join(map(str, enc.ids)) + "\n")


if __name__ == "__main__":
    main()
