// y = x · Wᵀ over weights kept in their checkpoint format: each job dequantizes a tile of
// kTileRows weight rows (dequantize_rows, exact) into a thread-local fp32 buffer and multiplies
// it with a chunk of input rows. Resident memory stays at the checkpoint plus one tile per thread.
#include <algorithm>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/gemm_kernel.h"
#include "core/error.h"

namespace dsv4 {

namespace {

constexpr int64_t kTileRows = 16;

}  // namespace

void CpuOps::linear(const float* x, int64_t M, int64_t ldx, const LinearWeight& w, int64_t row0, int64_t N,
                    float* y, int64_t ldy) {
  const int64_t K = w.in;
  if (row0 < 0 || N < 0 || row0 + N > w.out)
    fail("linear {}: rows [{}, {}) outside the weight's {} rows", w.name, row0, row0 + N, w.out);
  if (ldx < K || ldy < N) fail("linear {}: row strides ldx={} ldy={} too small (K={}, N={})", w.name, ldx, ldy, K, N);
  if (M == 0 || N == 0) return;

  const cpu::DotBlockFn kernel = cpu::dot_block_4x2();
  const int64_t tiles = (N + kTileRows - 1) / kTileRows;
  const int64_t want_jobs = int64_t(pool_.threads()) * 3;
  int64_t m_chunks = std::max<int64_t>(1, (want_jobs + tiles - 1) / tiles);
  m_chunks = std::min(m_chunks, std::max<int64_t>(1, M / 32));
  const int64_t m_step = (M + m_chunks - 1) / m_chunks;
  m_chunks = (M + m_step - 1) / m_step;

  pool_.parallel_for(size_t(tiles * m_chunks), [&](size_t job) {
    const int64_t tile = int64_t(job) / m_chunks;
    const int64_t mc = int64_t(job) % m_chunks;
    const int64_t n0 = tile * kTileRows;
    const int64_t nt = std::min(kTileRows, N - n0);
    const int64_t m0 = mc * m_step;
    const int64_t m1 = std::min(M, m0 + m_step);
    thread_local std::vector<float> wtile;
    wtile.resize(size_t(nt * K));
    dequantize_rows(w, row0 + n0, nt, wtile.data());
    const float* wt = wtile.data();
    for (int64_t m = m0; m < m1; m += 4) {
      const float* xs[4];
      for (int r = 0; r < 4; ++r) xs[r] = x + std::min(m + r, m1 - 1) * ldx;  // pad by repeating
      for (int64_t j = 0; j < nt; j += 2) {
        const float* ws[2] = {wt + j * K, wt + std::min(j + 1, nt - 1) * K};
        float out[8];
        kernel(xs, ws, K, out);
        for (int r = 0; r < 4 && m + r < m1; ++r)
          for (int c = 0; c < 2 && j + c < nt; ++c) y[(m + r) * ldy + n0 + j + c] = out[r * 2 + c];
      }
    }
  });
}

}  // namespace dsv4
