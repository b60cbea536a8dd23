// y = x · Wᵀ over weights kept in their checkpoint format: each job dequantizes a tile of
// kTileRows weight rows (dequantize_rows, exact) into a thread-local fp32 buffer and multiplies
// it with a chunk of input rows. Resident memory stays at the checkpoint plus one tile per thread.
#include <algorithm>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/error.h"

namespace dsv4 {

namespace {

constexpr int64_t kTileRows = 16;

// Four input rows against one weight row: out[r] = x_r · w.
void dot4(const float* x0, const float* x1, const float* x2, const float* x3, const float* w, int64_t K,
          float out[4]) {
  float a0[8] = {}, a1[8] = {}, a2[8] = {}, a3[8] = {};
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    for (int l = 0; l < 8; ++l) {
      const float wv = w[k + l];
      a0[l] += x0[k + l] * wv;
      a1[l] += x1[k + l] * wv;
      a2[l] += x2[k + l] * wv;
      a3[l] += x3[k + l] * wv;
    }
  }
  float* accs[4] = {a0, a1, a2, a3};
  const float* xs[4] = {x0, x1, x2, x3};
  for (int r = 0; r < 4; ++r) {
    const float* a = accs[r];
    float tail = 0.0f;
    for (int64_t kk = k; kk < K; ++kk) tail += xs[r][kk] * w[kk];
    out[r] = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail;
  }
}

}  // namespace

void CpuOps::linear(const float* x, int64_t M, int64_t ldx, const LinearWeight& w, int64_t row0, int64_t N,
                    float* y, int64_t ldy) {
  const int64_t K = w.in;
  if (row0 < 0 || N < 0 || row0 + N > w.out)
    fail("linear {}: rows [{}, {}) outside the weight's {} rows", w.name, row0, row0 + N, w.out);
  if (ldx < K || ldy < N) fail("linear {}: row strides ldx={} ldy={} too small (K={}, N={})", w.name, ldx, ldy, K, N);
  if (M == 0 || N == 0) return;

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
    int64_t m = m0;
    for (; m + 4 <= m1; m += 4) {
      const float* xr = x + m * ldx;
      for (int64_t j = 0; j < nt; ++j) {
        float out[4];
        dot4(xr, xr + ldx, xr + 2 * ldx, xr + 3 * ldx, wtile.data() + j * K, K, out);
        for (int r = 0; r < 4; ++r) y[(m + r) * ldy + n0 + j] = out[r];
      }
    }
    for (; m < m1; ++m)
      for (int64_t j = 0; j < nt; ++j) y[m * ldy + n0 + j] = cpu::dot(x + m * ldx, wtile.data() + j * K, K);
  });
}

}  // namespace dsv4
