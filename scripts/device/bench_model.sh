#!/usr/bin/env bash
# Runs on the lent GPU machine from the stage (scripts/device/build.sh): `dsv4 bench` on a
# Flash-shaped model with random weights generated in device memory — all 43 layers, 64 of the 256
# routed experts per layer (one GPU's share of a 4-GPU expert-parallel deployment), everything else
# whole — at batch 1, 8 and 32 and 8K context (the issue-8 baseline), then `dsv4 generate` streaming
# text from the same model. Logs and JSON to $OUT. BATCHES / CONTEXT / LAYERS / EXPERTS override.
set -uo pipefail
STAGE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-device-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$STAGE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
MODEL=(--random-weights flash --layers "${LAYERS:-43}" --experts "${EXPERTS:-64}")
rc=0
for b in ${BATCHES:-1 8 32}; do
  echo "== dsv4 bench ${MODEL[*]} --device cuda --batch $b --context ${CONTEXT:-8192}"
  "$STAGE/bin/dsv4" bench "${MODEL[@]}" --device cuda --numerics official --batch "$b" --context "${CONTEXT:-8192}" \
    --prompt-len "${PROMPT_LEN:-2048}" --steps 8 2>&1 | tee "$OUT/bench_flash_b$b.log" | grep -v "^  linear\|^  [a-z_]* " | head -12
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  grep -E "^  " "$OUT/bench_flash_b$b.log" | head -12
done
if [ -f "$STAGE/tokenizer/tokenizer.json" ]; then
  echo "== dsv4 generate ${MODEL[*]} --device cuda --prompt ... (random weights: the text is noise)"
  "$STAGE/bin/dsv4" generate "${MODEL[@]}" --device cuda --numerics official --tokenizer "$STAGE/tokenizer" \
    --prompt "The capital of France is" --max-tokens 24 --temperature 0 --ignore-eos 2>&1 | tee "$OUT/generate_flash.log" | tail -5
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
fi
exit $rc
