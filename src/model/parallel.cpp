#include "model/parallel.h"

#include "core/error.h"
#include "dist/communicator.h"
#include "dist/dist_options.h"

namespace dsv4 {

std::string Parallel::describe() const {
  return fmt::format("rank {} of {} (expert-parallel {} of {}, moe-tensor-parallel {} of {}, attention heads {} of {})",
                     rank, world, ep_rank, ep, tp_rank, tp, attn_rank, attn_tp);
}

ParallelLayout parallel_layout(const dist::DistLayout& l) {
  if (l.dp > 1)
    fail("parallel layout: data-parallel size {} is not supported by the model yet (tensor and expert parallelism "
         "only)",
         l.dp);
  return {l.ep, l.moe_tp, l.tp};
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
  if (int64_t(p.ep) * p.tp != p.world && int64_t(p.ep) * p.tp != 1)
    fail("parallel layout: expert-parallel size {} x moe-tensor-parallel size {} = {} ranks, but the group has {} (the "
         "routed experts are laid out over every rank, or replicated with 1 x 1)",
         p.ep, p.tp, int64_t(p.ep) * p.tp, p.world);
  if (p.rank < 0 || p.rank >= p.world) fail("parallel layout: rank {} outside a group of {}", p.rank, p.world);
  if (p.attn_tp != 1 && p.attn_tp != p.world)
    fail("parallel layout: attention tensor-parallel size {} must be 1 (replicated) or the group's {} ranks", p.attn_tp,
         p.world);
  if (p.attn_tp > 1) {
    const int64_t H = c.num_heads, G = c.o_groups;
    if (H % p.attn_tp != 0 || G % p.attn_tp != 0)
      fail("parallel layout: {} attention heads in {} output groups cannot be split evenly over attention "
           "tensor-parallel size {} (each rank takes whole groups)",
           H, G, p.attn_tp);
    if ((H / p.attn_tp * c.head_dim) % 128 != 0 || (G / p.attn_tp * c.o_lora_rank) % 128 != 0)
      fail("parallel layout: attention tensor-parallel size {} gives shares of wq_b ({} rows) or wo_a/wo_b ({} "
           "rows/columns) that split their FP8 128x128 scale blocks",
           p.attn_tp, H / p.attn_tp * c.head_dim, G / p.attn_tp * c.o_lora_rank);
  }
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
  p.attn_tp = layout.attention_tensor_parallel;
  p.attn_rank = p.attn_tp > 1 ? p.rank : 0;
  validate_parallel(p, config, format);
  return p;
}

WeightShare weight_share(const Parallel& p, const ModelConfig& c) {
  WeightShare s;
  if (p.ep > 1) {
    s.begin = p.expert_begin(c.n_routed_experts);
    s.count = p.expert_count(c.n_routed_experts);
  }
  if (p.tp > 1) {
    s.slice_begin = p.slice_begin(c.moe_intermediate_size);
    s.slice_size = p.slice_size(c.moe_intermediate_size);
  }
  if (p.attn_tp > 1) {
    s.head_begin = p.head_begin(c.num_heads);
    s.head_count = p.head_count(c.num_heads);
    s.group_begin = p.group_begin(c.o_groups);
    s.group_count = p.group_count(c.o_groups);
  }
  return s;
}

void combine_attention(const Parallel& p, float* out, int64_t count, void* stream) {
  if (!p.distributed() || p.attn_tp == 1) return;
  p.comm->all_reduce(out, out, size_t(count), DType::F32, dist::ReduceOp::sum, stream);
}

void combine_routed(const Parallel& p, float* y, int64_t count, void* stream) {
  if (!p.distributed() || p.ep * p.tp == 1) return;
  p.comm->all_reduce(y, y, size_t(count), DType::F32, dist::ReduceOp::sum, stream);
}

}  // namespace dsv4
