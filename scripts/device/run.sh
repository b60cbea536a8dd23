#!/usr/bin/env bash
# Runs on the lent GPU machine, from the stage that scripts/device/build.sh makes (this file is
# copied into it): the CUDA tests, the dequantization benchmark and the PyTorch baseline, in that
# order, each log written to $OUT (./device-out when OUT is unset). Stops at the first failure,
# unless KEEP_GOING=1 (then it runs all three and exits with the first failure's status).
set -uo pipefail
STAGE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-device-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$STAGE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONUNBUFFERED=1
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
  nvidia-smi
  echo "== missing libraries:"; ldd "$STAGE/bin/test_cuda" "$STAGE/bin/bench_dequant" | grep "not found" || echo none
} 2>&1 | tee "$OUT/gpu.txt"

echo "== test_cuda"
"$STAGE/bin/test_cuda" --gtest_color=no 2>&1 | tee "$OUT/test_cuda.log"
step_done test_cuda "${PIPESTATUS[0]}"

echo "== bench_dequant"
"$STAGE/bin/bench_dequant" 2>&1 | tee "$OUT/bench_dequant.log"
step_done bench_dequant "${PIPESTATUS[0]}"

for b in bench_gemm bench_moe; do
  echo "== $b"
  "$STAGE/bin/$b" 2>&1 | tee "$OUT/$b.log"
  step_done "$b" "${PIPESTATUS[0]}"
done

echo "== gemm_baseline"
python3 "$STAGE/gemm_baseline.py" 2>&1 | tee "$OUT/gemm_baseline.log"
step_done gemm_baseline "${PIPESTATUS[0]}"

echo "== torch_baseline"
python3 "$STAGE/torch_baseline.py" 2>&1 | tee "$OUT/torch_baseline.log"
step_done torch_baseline "${PIPESTATUS[0]}"
exit "$first_rc"
