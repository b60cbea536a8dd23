#!/usr/bin/env bash
# Runs on the lent GPU machine, from the stage that scripts/device/build.sh makes (this file is
# copied into it): the CUDA tests, the dequantization benchmark and the PyTorch baseline, in that
# order, each log written to $OUT (./device-out when OUT is unset). Stops at the first failure.
set -uo pipefail
STAGE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-device-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$STAGE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONUNBUFFERED=1

{
  echo "== built from commit: $(cat "$STAGE/COMMIT" 2>/dev/null | tr '\n' ' ')"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  nvidia-smi
  echo "== missing libraries:"; ldd "$STAGE/bin/test_cuda" "$STAGE/bin/bench_dequant" | grep "not found" || echo none
} 2>&1 | tee "$OUT/gpu.txt"

echo "== test_cuda"
"$STAGE/bin/test_cuda" --gtest_color=no 2>&1 | tee "$OUT/test_cuda.log"
rc=${PIPESTATUS[0]}
echo "== test_cuda exit $rc"
[ "$rc" -eq 0 ] || exit "$rc"

echo "== bench_dequant"
"$STAGE/bin/bench_dequant" 2>&1 | tee "$OUT/bench_dequant.log"
rc=${PIPESTATUS[0]}
echo "== bench_dequant exit $rc"
[ "$rc" -eq 0 ] || exit "$rc"

echo "== torch_baseline"
python3 "$STAGE/torch_baseline.py" 2>&1 | tee "$OUT/torch_baseline.log"
rc=${PIPESTATUS[0]}
echo "== torch_baseline exit $rc"
exit "$rc"
