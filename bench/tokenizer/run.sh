#!/usr/bin/env bash
# Tokenizer encode throughput, dsv4 next to Hugging Face tokenizers, on the peer-test corpus.
# Usage: bench/tokenizer/run.sh [REPEATS]   (after scripts/setup.sh; builds bench_tokenizer in $BUILD_DIR, default build/)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEATS=${1:-5}
TOK_DIR=.cache/tokenizer/deepseek-v4
CORPUS=tests/data/tokenizer/corpus.txt
[ -f $TOK_DIR/tokenizer.json ] || { echo "run scripts/setup.sh first (no $TOK_DIR/tokenizer.json)" >&2; exit 1; }
BUILD=${BUILD_DIR:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target bench_tokenizer -j"$(nproc)" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "commit: $(git rev-parse --short HEAD)"
"$BUILD"/bench/tokenizer/bench_tokenizer $TOK_DIR $CORPUS "$REPEATS"
.venv/bin/python bench/tokenizer/bench_hf.py $TOK_DIR/tokenizer.json $CORPUS "$REPEATS"
