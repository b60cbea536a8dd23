#include "model/expert.h"

namespace dsv4 {

void expert_forward(const ForwardContext& ctx, const ExpertWeights& e, const float* x, int64_t M,
                    const float* row_weight, float* y) {
  const int64_t I = e.w1.out;
  Floats g(size_t(M * I)), u(size_t(M * I));
  project(ctx, x, M, e.w1, g.data());
  project(ctx, x, M, e.w3, u.data());
  ctx.ops.swiglu(g.data(), u.data(), M, I, float(ctx.config.swiglu_limit), row_weight, g.data());
  project(ctx, g.data(), M, e.w2, y);
}

}  // namespace dsv4
