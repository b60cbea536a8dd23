#!/usr/bin/env bash
# Builds the CUDA tests, the CLI and the benchmarks HERE (this machine has the Debian dev packages
# and nvcc; the lent GPU machine has neither the packages nor a network) and stages what the GPU
# machine needs into $BUILD/stage/ (default build-device/stage; /build*/ is ignored by git):
#   stage/bin/{dsv4,test_cuda,bench_*}, stage/lib/<shared libraries an Ubuntu + CUDA image may
#   lack, e.g. libfmt.so.9>, stage/golden-a (the golden model, for the end-to-end checks),
#   stage/run.sh, the Python baselines, stage/COMMIT.
# The stage is self-contained: run.sh finds everything relative to itself. From the repository root:
#   scripts/device/build.sh [COPY_TO]
#   run tool: command "bash build-device/stage/run.sh", carry ["build-device/stage"]
# COPY_TO (optional): also copy the stage there (an ignored /build*/ folder of the checkout the
# run tool sends, when that is not this one); carry that folder instead.
# BUILD=<dir> reuses a configured build tree; BENCHES="..." picks the benchmarks (empty: none,
# e.g. to stay under the run tool's 64 MiB when the golden model travels too); GOLDEN=0 leaves
# golden-a out (43 MB).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build-device}
STAGE=$BUILD/stage
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
command -v nvcc >/dev/null || { echo "[device/build] nvcc not found: the CUDA backend cannot be built" >&2; exit 1; }
read -r -a BENCH_LIST <<<"${BENCHES-bench_dequant bench_paged bench_layer_ops bench_gemm bench_moe bench_skinny}"

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDSV4_CUDA=ON >/dev/null
cmake --build "$BUILD" --target dsv4 test_cuda "${BENCH_LIST[@]}" -j "${JOBS:-2}"

rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/lib"
cp "$BUILD/dsv4" "$BUILD/tests/test_cuda" "$STAGE/bin/"
for b in "${BENCH_LIST[@]}"; do cp "$BUILD/bench/cuda/$b" "$STAGE/bin/"; done
strip "$STAGE/bin/"*
# Shared libraries outside the C/C++ runtime and the CUDA driver: carry them along.
for bin in "$STAGE/bin/"*; do
  ldd "$bin" | awk '/=> \// {print $3}' |
    grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libdl|librt|libpthread|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$STAGE/lib/"; done
done
if [ "${GOLDEN:-1}" = 1 ]; then
  mkdir -p "$STAGE/shared/golden"
  cp -r ../shared/golden/golden-a "$STAGE/shared/golden/"
  chmod -R u+w "$STAGE/shared"
fi
if [ -f .cache/tokenizer/deepseek-v4/tokenizer.json ]; then  # text prompts on random-weight models
  mkdir -p "$STAGE/tokenizer" && cp .cache/tokenizer/deepseek-v4/tokenizer.json "$STAGE/tokenizer/"
fi
cp scripts/device/run.sh scripts/device/bench_model.sh scripts/device/serve_smoke.sh bench/cuda/torch_baseline.py bench/cuda/gemm_baseline.py "$STAGE/"
{ git rev-parse HEAD; git status --porcelain --untracked-files=no | grep -q . && echo "(working tree modified)"; } \
  >"$STAGE/COMMIT" || true
if [ $# -ge 1 ]; then
  rm -rf "$1"
  mkdir -p "$1"
  cp -r "$STAGE/." "$1/"
  echo "[device/build] stage copied to $1"
fi
echo "[device/build] staged:"
(cd "$STAGE" && find . -type f -exec ls -l {} + | awk '{print "  " $5 "\t" $9}')
du -sh "$STAGE"
