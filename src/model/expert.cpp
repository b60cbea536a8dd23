#include "model/expert.h"

namespace dsv4 {

void expert_forward(const ForwardContext& ctx, const ExpertWeights& e, const float* x, int64_t M,
                    const float* row_weight, float* y) {
  const int64_t I = e.w1.out;
  float* g = ctx.ws.floats(M * I);
  float* u = ctx.ws.floats(M * I);
  project(ctx, x, M, e.w1, g);
  project(ctx, x, M, e.w3, u);
  ctx.ops.swiglu(g, u, M, I, float(ctx.config.swiglu_limit), row_weight, g);
  project(ctx, g, M, e.w2, y);
}

}  // namespace dsv4
