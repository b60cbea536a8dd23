#!/usr/bin/env python3
"""Encode throughput of Hugging Face tokenizers (Rust) on the same corpus, single-threaded:
the whole file as one text (one encode call), and line by line (encode_batch with parallelism off).
Usage: bench_hf.py TOKENIZER_JSON CORPUS [REPEATS]"""
import os
import sys
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"
import tokenizers  # noqa: E402


def main():
    path, corpus = sys.argv[1], sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    t0 = time.perf_counter()
    tok = tokenizers.Tokenizer.from_file(path)
    load = time.perf_counter() - t0
    data = open(corpus, "rb").read()
    text = data.decode("utf-8", "replace")
    lines = [l + "\n" for l in text.split("\n")]
    if lines and lines[-1] == "\n":
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    mb = len(data) / 1e6
    whole, per_line = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n_whole = len(tok.encode(text, add_special_tokens=False).ids)
        whole.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        n_lines = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
        per_line.append(time.perf_counter() - t0)
    first = whole[0]
    whole.sort()
    per_line.sort()
    print(f"HF tokenizers {tokenizers.__version__}: load {load:.2f} s; corpus {mb:.2f} MB, {len(lines)} lines")
    print(f"HF whole text : {n_whole} ids, first run {first:.3f} s = {mb / first:.2f} MB/s, "
          f"median {whole[len(whole) // 2]:.3f} s = {mb / whole[len(whole) // 2]:.2f} MB/s")
    print(f"HF line by line: {n_lines} ids, median {per_line[len(per_line) // 2]:.3f} s = "
          f"{mb / per_line[len(per_line) // 2]:.2f} MB/s (encode_batch, 1 thread)")


if __name__ == "__main__":
    main()
