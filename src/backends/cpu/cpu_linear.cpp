// y = x · Wᵀ over weights kept in their checkpoint format: each job dequantizes a tile of
// kTileRows weight rows (dequantize_rows, exact) into a thread-local fp32 buffer and multiplies
// it with a chunk of input rows. Resident memory stays at the checkpoint plus one tile per thread.
#include <algorithm>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/gemm_kernel.h"
#include "core/error.h"
#include "core/quant.h"

namespace dsv4 {

namespace {

constexpr int64_t kTileRows = 16;

}  // namespace

void CpuOps::plain_linear(const float* x, int64_t M, int64_t ldx, const LinearWeight& w, int64_t row0, int64_t N,
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

namespace dsv4 {

void CpuOps::linear(const LinearArgs& a) {
  if (a.w == nullptr) fail("linear: no weight");
  const LinearWeight& w = *a.w;
  const int64_t K = w.in, G = a.groups;
  if (G < 1 || (G > 1 && a.row0 != 0)) fail("linear {}: {} groups with row0 {}", w.name, G, a.row0);
  if (a.M == 0 || a.N == 0) return;
  // Official numerics: the activation quantization on a copy of x (spec §9.1).
  std::vector<float> xq;
  const float* x = a.x;
  int64_t ldx = a.ldx;
  if (a.act != ActQuant::None) {
    const int64_t width = G * K;
    xq.resize(size_t(a.M * width));
    for (int64_t m = 0; m < a.M; ++m) std::copy(a.x + m * a.ldx, a.x + m * a.ldx + width, xq.begin() + m * width);
    parallel_rows(a.M, 4, [&](int64_t m0, int64_t m1) {
      for (int64_t m = m0; m < m1; ++m) {
        float* row = xq.data() + m * width;
        if (a.act == ActQuant::Nvfp4)
          quant_dequant_nvfp4(row, size_t(width), w.input_scale);
        else
          quant_dequant_fp8(row, size_t(width), 128);
      }
    });
    x = xq.data();
    ldx = width;
  }
  const bool direct = a.alpha == 1.0f && !a.accumulate;
  std::vector<float> tmp;
  float* y = a.y;
  int64_t ldy = a.ldy;
  if (!direct) {
    tmp.resize(size_t(a.M * G * a.N));
    y = tmp.data();
    ldy = G * a.N;
  }
  for (int64_t g = 0; g < G; ++g) plain_linear(x + g * K, a.M, ldx, w, a.row0 + g * a.N, a.N, y + g * a.N, ldy);
  if (!direct)
    for (int64_t m = 0; m < a.M; ++m)
      for (int64_t j = 0; j < G * a.N; ++j) {
        const float v = a.alpha * tmp[size_t(m * G * a.N + j)];
        float& out = a.y[m * a.ldy + j];
        out = a.accumulate ? out + v : v;
      }
}

}  // namespace dsv4
