// Compressor pooling (spec §7.3): per channel, a softmax over the window's slots of gate + ape
// weighting the kv values. Overlapping windows (ratio 4) use the A-halves of window w-1 and the
// B-halves of window w (8 slots); window 0 has no A-slots.
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/error.h"

namespace dsv4 {

void CpuOps::compress_pool(const float* kv, const float* gate, const float* ape, int64_t S, int ratio, int64_t Dc,
                           bool overlap, float* E) {
  if (ratio <= 0) fail("compress_pool: ratio {} must be positive", ratio);
  const int64_t c = ratio;
  const int64_t width = overlap ? 2 * Dc : Dc;
  const int64_t entries = S / c;
  parallel_rows(entries, 1, [&](int64_t w0, int64_t w1) {
    const int64_t slots = overlap ? 2 * c : c;
    std::vector<float> logit(static_cast<size_t>(slots)), value(static_cast<size_t>(slots));
    for (int64_t w = w0; w < w1; ++w) {
      for (int64_t ch = 0; ch < Dc; ++ch) {
        int64_t used = 0;
        if (overlap && w > 0) {  // A-halves of the previous window
          for (int64_t s = 0; s < c; ++s) {
            const int64_t t = (w - 1) * c + s;
            logit[size_t(used)] = gate[t * width + ch] + ape[s * width + ch];
            value[size_t(used)] = kv[t * width + ch];
            ++used;
          }
        }
        const int64_t half = overlap ? Dc : 0;  // B-halves (or the whole vector without overlap)
        for (int64_t s = 0; s < c; ++s) {
          const int64_t t = w * c + s;
          logit[size_t(used)] = gate[t * width + half + ch] + ape[s * width + half + ch];
          value[size_t(used)] = kv[t * width + half + ch];
          ++used;
        }
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < used; ++i) mx = std::max(mx, logit[size_t(i)]);
        float den = 0.0f, num = 0.0f;
        for (int64_t i = 0; i < used; ++i) {
          const float e = std::exp(logit[size_t(i)] - mx);
          den += e;
          num += e * value[size_t(i)];
        }
        E[w * Dc + ch] = num / den;
      }
    }
  });
}

}  // namespace dsv4
