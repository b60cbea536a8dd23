#!/usr/bin/env bash
# The main job on the built-in default model (tiny shape, RANDOM weights: its output is noise):
# validate the checkpoint, then run a short prompt of token ids through the CPU reference forward
# pass and print the predicted next tokens and the time taken.
set -euo pipefail
DSV4=${1:-build/dsv4}
MODEL=${2:-build/models/default}
IDS=${DSV4_RUN_IDS:-0,17,42,1000,7,365,12,99}
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
