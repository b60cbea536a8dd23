#include "backends/cpu/gemm_kernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DSV4_HAVE_X86_KERNEL 1
#endif

namespace dsv4::cpu {

namespace {

void dot_block_portable(const float* const* xs, const float* const* ws, int64_t K, float* out) {
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 2; ++c) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int l = 0; l < 8; ++l) acc[l] += xs[r][k + l] * ws[c][k + l];
      float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
      for (; k < K; ++k) s += xs[r][k] * ws[c][k];
      out[r * 2 + c] = s;
    }
}

#ifdef DSV4_HAVE_X86_KERNEL
__attribute__((target("avx2,fma"))) float hsum256(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) void dot_block_avx2(const float* const* xs, const float* const* ws, int64_t K,
                                                       float* out) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    const __m256 w0 = _mm256_loadu_ps(ws[0] + k), w1 = _mm256_loadu_ps(ws[1] + k);
    __m256 x = _mm256_loadu_ps(xs[0] + k);
    a00 = _mm256_fmadd_ps(x, w0, a00);
    a01 = _mm256_fmadd_ps(x, w1, a01);
    x = _mm256_loadu_ps(xs[1] + k);
    a10 = _mm256_fmadd_ps(x, w0, a10);
    a11 = _mm256_fmadd_ps(x, w1, a11);
    x = _mm256_loadu_ps(xs[2] + k);
    a20 = _mm256_fmadd_ps(x, w0, a20);
    a21 = _mm256_fmadd_ps(x, w1, a21);
    x = _mm256_loadu_ps(xs[3] + k);
    a30 = _mm256_fmadd_ps(x, w0, a30);
    a31 = _mm256_fmadd_ps(x, w1, a31);
  }
  const __m256 acc[8] = {a00, a01, a10, a11, a20, a21, a30, a31};
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 2; ++c) {
      float s = hsum256(acc[r * 2 + c]);
      for (int64_t kk = k; kk < K; ++kk) s += xs[r][kk] * ws[c][kk];
      out[r * 2 + c] = s;
    }
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum256(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) void axpy_avx2(float a, const float* x, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}
#endif

float dot_portable(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

bool have_avx2_fma() {
#ifdef DSV4_HAVE_X86_KERNEL
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return avx2;
#else
  return false;
#endif
}

}  // namespace

float dot(const float* a, const float* b, int64_t n) {
#ifdef DSV4_HAVE_X86_KERNEL
  if (have_avx2_fma()) return dot_avx2(a, b, n);
#endif
  return dot_portable(a, b, n);
}

void axpy(float a, const float* x, float* y, int64_t n) {
#ifdef DSV4_HAVE_X86_KERNEL
  if (have_avx2_fma()) return axpy_avx2(a, x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

DotBlockFn dot_block_4x2() {
#ifdef DSV4_HAVE_X86_KERNEL
  if (have_avx2_fma()) return dot_block_avx2;
#endif
  return dot_block_portable;
}

}  // namespace dsv4::cpu
