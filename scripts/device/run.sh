#!/usr/bin/env bash
# Runs on the lent GPU machine, from the stage that scripts/device/build.sh makes (this file is
# copied into it), each log written to $OUT (./device-out when OUT is unset):
#   1. test_cuda: every CUDA op against the CPU op, and the whole model end to end on golden-a
#      (GPU vs the official reference and vs the CPU backend); FILTER=<gtest filter> narrows it;
#   2. dsv4 logits / generate on golden-a with --device cuda (what a user runs);
#   3. the benchmarks that were staged, then the PyTorch baselines (when the scripts are there).
# Stops at the first failure, unless KEEP_GOING=1 (then it runs everything and exits with the
# first failure's status).
set -uo pipefail
STAGE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-device-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$STAGE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONUNBUFFERED=1
export DSV4_SHARED_DIR=$STAGE/shared
GOLDEN=$STAGE/shared/golden/golden-a
first_rc=0
step_done() {  # $1 = step name, $2 = its exit status
  echo "== $1 exit $2"
  [ "$2" -eq 0 ] && return 0
  [ "$first_rc" -eq 0 ] && first_rc=$2
  [ "${KEEP_GOING:-0}" = 1 ] || exit "$2"
}

{
  echo "== built from commit: $(cat "$STAGE/COMMIT" 2>/dev/null | tr '\n' ' ')"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  echo "== missing libraries:"; ldd "$STAGE"/bin/* | grep "not found" || echo none
} 2>&1 | tee "$OUT/gpu.txt"

echo "== test_cuda ${FILTER:-}"
"$STAGE/bin/test_cuda" --gtest_color=no ${FILTER:+--gtest_filter=$FILTER} 2>&1 | tee "$OUT/test_cuda.log" |
  grep -E "^\[  (FAILED|PASSED|SKIPPED) |^\[==========\]|\[gpu golden\]|Failure|error" | head -150
step_done test_cuda "${PIPESTATUS[0]}"

if [ -d "$GOLDEN" ]; then
  IDS=$(python3 -c "import json;print(','.join(map(str,json.load(open('$GOLDEN/expected.json'))['prompts'][1]['token_ids'])))")
  for numerics in exact official; do
    echo "== dsv4 logits golden-a p1 --device cuda --numerics $numerics"
    "$STAGE/bin/dsv4" logits "$GOLDEN" --ids "$IDS" --device cuda --numerics $numerics 2>&1 | tee -a "$OUT/cli.log" | tail -3
    step_done "logits $numerics" "${PIPESTATUS[0]}"
  done
  echo "== dsv4 generate golden-a --device cuda (greedy, 64 tokens)"
  "$STAGE/bin/dsv4" generate "$GOLDEN" --ids "$IDS" --device cuda --max-tokens 64 --temperature 0 --ignore-eos --json \
    2>&1 | tee -a "$OUT/cli.log" | tail -2
  step_done generate "${PIPESTATUS[0]}"
fi

# bench_skinny dlopens cuBLAS for its reference column: the one PyTorch's wheels bring, if any.
if [ -z "${DSV4_CUBLAS:-}" ] && command -v python3 >/dev/null; then
  DSV4_CUBLAS=$(python3 - <<'PY' 2>/dev/null || true
import glob, os, site
dirs = site.getsitepackages() + [site.getusersitepackages()]
for d in dirs:
    for f in sorted(glob.glob(os.path.join(d, "nvidia", "**", "libcublas.so*"), recursive=True)):
        print(f)
        raise SystemExit
PY
  )
  [ -n "$DSV4_CUBLAS" ] && export DSV4_CUBLAS
fi
for b in "$STAGE"/bin/bench_*; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  echo "== $name"
  "$b" 2>&1 | tee "$OUT/$name.log" | tail -40
  step_done "$name" "${PIPESTATUS[0]}"
done
if [ -x "$STAGE/bin/bench_gemm" ]; then
  for py in gemm_baseline torch_baseline; do
    echo "== $py"
    python3 "$STAGE/$py.py" 2>&1 | tee "$OUT/$py.log" | tail -20
    step_done "$py" "${PIPESTATUS[0]}"
  done
fi
exit "$first_rc"
