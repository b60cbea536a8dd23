#!/usr/bin/env bash
# Builds the CUDA test and benchmark binaries HERE (this machine has the Debian dev packages and
# nvcc; the lent GPU machine has neither the packages nor a network) into build-device/, and
# stages what the GPU machine needs to run them into build-device/stage/:
#   stage/bin/{test_cuda,bench_dequant,bench_layer_ops}, stage/lib/<shared libraries a stock Ubuntu 24.04 + CUDA
#   image may lack, e.g. libfmt.so.9>, stage/run.sh, stage/torch_baseline.py, stage/COMMIT
# The stage is self-contained: run.sh finds everything relative to itself. build-device/ is
# ignored by git (/build*/). From the repository root:
#   scripts/device/build.sh [COPY_TO]
#   run tool: command "bash build-device/stage/run.sh", carry ["build-device/stage"]
# COPY_TO (optional): also copy the stage there, e.g. into an ignored folder (/build*/) of the
# checkout that the run tool sends, when that is not this one; carry that folder instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build-device}  # BUILD=<dir>: reuse another configured build tree
STAGE=$BUILD/stage
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
command -v nvcc >/dev/null || { echo "[device/build] nvcc not found: the CUDA backend cannot be built" >&2; exit 1; }

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDSV4_CUDA=ON -DDSV4_SANITIZER_TESTS=OFF >/dev/null
BENCHES=(bench_dequant bench_paged bench_layer_ops bench_gemm bench_moe)
cmake --build "$BUILD" --target dsv4 test_cuda "${BENCHES[@]}" -j "${JOBS:-2}"

rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/lib"
cp "$BUILD/dsv4" "$BUILD/tests/test_cuda" "$STAGE/bin/"
for b in "${BENCHES[@]}"; do cp "$BUILD/bench/cuda/$b" "$STAGE/bin/"; done
strip "$STAGE/bin/"*
# Shared libraries outside the C/C++ runtime and the CUDA driver: carry them along.
for bin in "$STAGE/bin/"*; do
  ldd "$bin" | awk '/=> \// {print $3}' |
    grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libdl|librt|libpthread|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$STAGE/lib/"; done
done
cp scripts/device/run.sh bench/cuda/torch_baseline.py bench/cuda/gemm_baseline.py "$STAGE/"
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
