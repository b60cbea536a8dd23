#!/usr/bin/env bash
# Tokenizer encode throughput, dsv4 next to Hugging Face tokenizers, on the peer-test corpus.
# Usage: bench/tokenizer/run.sh [REPEATS]   (after scripts/setup.sh; builds dsv4_engine in build/)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEATS=${1:-5}
TOK_DIR=.cache/tokenizer/deepseek-v4
CORPUS=tests/data/tokenizer/corpus.txt
[ -f $TOK_DIR/tokenizer.json ] || { echo "run scripts/setup.sh first (no $TOK_DIR/tokenizer.json)" >&2; exit 1; }
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target dsv4_engine -j"$(nproc)" >/dev/null
g++ -std=c++20 -O2 -DNDEBUG -Isrc bench/tokenizer/bench_tokenizer.cpp build/libdsv4_engine.a \
  $(pkg-config --libs libpcre2-8) -lfmt -lpthread -o build/bench_tokenizer
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "commit: $(git rev-parse --short HEAD)"
build/bench_tokenizer $TOK_DIR $CORPUS "$REPEATS"
.venv/bin/python bench/tokenizer/bench_hf.py $TOK_DIR/tokenizer.json $CORPUS "$REPEATS"
