#include "model/parallel.h"

#include "core/error.h"
#include "dist/communicator.h"

namespace dsv4 {

std::string Parallel::describe() const {
  return fmt::format("rank {} of {} (expert-parallel {} of {}, moe-tensor-parallel {} of {})", rank, world, ep_rank,
                     ep, tp_rank, tp);
}

int64_t expert_slice_multiple(ExpertFormat format) {
  switch (format) {
    case ExpertFormat::FP8:
    case ExpertFormat::MXFP4: return 128;
    case ExpertFormat::NVFP4: return 16;
    case ExpertFormat::BF16: return 1;
  }
  return 1;
}

void validate_parallel(const Parallel& p, const ModelConfig& c, ExpertFormat format) {
  if (p.ep < 1 || p.tp < 1) fail("parallel layout: expert-parallel size {} and moe-tensor-parallel size {} must be >= 1", p.ep, p.tp);
  if (int64_t(p.ep) * p.tp != p.world)
    fail("parallel layout: expert-parallel size {} x moe-tensor-parallel size {} = {} ranks, but the group has {}", p.ep,
         p.tp, int64_t(p.ep) * p.tp, p.world);
  if (p.rank < 0 || p.rank >= p.world) fail("parallel layout: rank {} outside a group of {}", p.rank, p.world);
  const int64_t E = c.n_routed_experts, I = c.moe_intermediate_size;
  if (E % p.ep != 0)
    fail("parallel layout: {} routed experts cannot be split evenly over expert-parallel size {}", E, p.ep);
  if (I % p.tp != 0)
    fail("parallel layout: moe_intermediate_size {} cannot be split evenly over moe-tensor-parallel size {}", I, p.tp);
  const int64_t block = expert_slice_multiple(format);
  if (p.tp > 1 && (I / p.tp) % block != 0)
    fail("parallel layout: moe-tensor-parallel size {} gives {} experts an intermediate slice of {} (= {} / {}), "
         "not a multiple of their {}-wide scale/quantization blocks",
         p.tp, expert_format_name(format), I / p.tp, I, p.tp, block);
}

Parallel make_parallel(dist::Communicator* comm, const ParallelLayout& layout, const ModelConfig& config,
                       ExpertFormat format) {
  Parallel p;
  p.comm = comm;
  p.rank = comm != nullptr ? comm->rank() : 0;
  p.world = comm != nullptr ? comm->size() : 1;
  p.ep = layout.expert_parallel;
  p.tp = layout.moe_tensor_parallel;
  if (p.tp >= 1) {
    p.ep_rank = p.rank / p.tp;
    p.tp_rank = p.rank % p.tp;
  }
  validate_parallel(p, config, format);
  return p;
}

void combine_routed(const Parallel& p, float* y, int64_t count, void* stream) {
  if (!p.distributed()) return;
  p.comm->all_reduce(y, y, size_t(count), DType::F32, dist::ReduceOp::sum, stream);
}

}  // namespace dsv4
