#!/usr/bin/env bash
# The main job on the built-in default model (tiny shape, RANDOM weights: its output is noise):
# validate the checkpoint, run a short prompt of token ids through the CPU reference forward pass
# (next-token logits), then generate from it through the decode cache, without and with MTP
# speculative decoding (random weights: the MTP's drafts are rarely accepted).
set -euo pipefail
DSV4=${1:-build/dsv4}
MODEL=${2:-build/models/default}
IDS=${DSV4_RUN_IDS:-0,17,42,1000,7,365,12,99}
TOKENS=${DSV4_RUN_TOKENS:-32}
echo "== dsv4 inspect $MODEL (built-in default model: tiny shape, random weights) =="
"$DSV4" inspect "$MODEL"
echo
echo "== dsv4 logits $MODEL --ids $IDS (CPU reference backend, exact numerics) =="
OUT=$(mktemp -d)/logits.safetensors
start=$(date +%s%N)
"$DSV4" logits "$MODEL" --ids "$IDS" --out "$OUT"
end=$(date +%s%N)
echo "total wall time (load + forward + write): $(( (end - start) / 1000000 )) ms"
rm -rf "$(dirname "$OUT")"
echo
echo "== dsv4 generate $MODEL --ids $IDS --max-tokens $TOKENS --temperature 0 (greedy, random weights) =="
"$DSV4" generate "$MODEL" --ids "$IDS" --max-tokens "$TOKENS" --temperature 0 --ignore-eos
echo
echo "== the same with --speculative mtp --draft-tokens 2 (must print the same tokens) =="
"$DSV4" generate "$MODEL" --ids "$IDS" --max-tokens "$TOKENS" --temperature 0 --ignore-eos --speculative mtp --draft-tokens 2
echo
echo "== text in, text out: dsv4 generate $MODEL --prompt ... (the real DeepSeek-V4 tokenizer; random weights, so the text is noise) =="
"$DSV4" generate "$MODEL" --prompt "The capital of France is" --max-tokens 16 --temperature 0 --ignore-eos
echo
echo "== one chat turn: echo 'Hello!' | dsv4 chat $MODEL --chat =="
echo "Hello!" | "$DSV4" chat "$MODEL" --chat --max-tokens 16 --temperature 0.7 --seed 1
