#include "dist/dist_options.h"

#include <algorithm>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/error.h"

namespace dsv4::dist {

DistLayout resolve_dist_options(const DistOptions& o) {
  std::vector<std::string> problems;
  DistLayout l;
  if (o.tensor_parallel_size < 1) problems.push_back(fmt::format("--tensor-parallel-size must be >= 1 (got {})", o.tensor_parallel_size));
  if (o.data_parallel_size < 1) problems.push_back(fmt::format("--data-parallel-size must be >= 1 (got {})", o.data_parallel_size));
  l.tp = std::max(1, o.tensor_parallel_size);
  l.dp = std::max(1, o.data_parallel_size);
  l.world_size = l.tp * l.dp;

  if (o.expert_parallel_size < 0 || (o.expert_parallel_size > 0 && l.world_size % o.expert_parallel_size != 0))
    problems.push_back(fmt::format("--expert-parallel-size {} must divide the world size tensor x data parallel = {}",
                                   o.expert_parallel_size, l.world_size));
  else if (o.enable_expert_parallel && o.expert_parallel_size > 0 && o.expert_parallel_size != l.world_size)
    problems.push_back(fmt::format("--expert-parallel-size {} disagrees with --enable-expert-parallel, which spreads the "
                                   "experts over all tensor x data parallel = {} ranks",
                                   o.expert_parallel_size, l.world_size));
  l.ep = o.enable_expert_parallel ? l.world_size : (o.expert_parallel_size > 0 && l.world_size % o.expert_parallel_size == 0 ? o.expert_parallel_size : 1);
  l.moe_tp = l.world_size / l.ep;

  if (o.nnodes < 1) problems.push_back(fmt::format("--nnodes must be >= 1 (got {})", o.nnodes));
  l.nnodes = std::max(1, o.nnodes);
  if (l.world_size % l.nnodes != 0)
    problems.push_back(fmt::format("--nnodes {} does not divide the world size tensor x data parallel = {} (every node "
                                   "runs the same number of ranks)",
                                   l.nnodes, l.world_size));
  l.ranks_per_node = std::max(1, l.world_size / l.nnodes);
  if (o.node_rank < 0 || o.node_rank >= l.nnodes)
    problems.push_back(fmt::format("--node-rank {} is not in 0..{} (--nnodes {})", o.node_rank, l.nnodes - 1, l.nnodes));
  l.node_rank = o.node_rank;

  if (!o.dist_init_addr.empty()) {
    try {
      l.init_addr = parse_host_port(o.dist_init_addr);
      if (l.init_addr.port == 0 && l.nnodes > 1)
        problems.push_back(fmt::format("--dist-init-addr {}: with --nnodes {} the port must be given (not 0)",
                                       o.dist_init_addr, l.nnodes));
    } catch (const Error& e) {
      problems.push_back(fmt::format("--dist-init-addr: {}", e.what()));
    }
  } else if (l.nnodes > 1) {
    problems.push_back(fmt::format("--dist-init-addr HOST:PORT is required with --nnodes {}: node 0's address, "
                                   "reachable from every node",
                                   l.nnodes));
  }
  if (!(o.dist_timeout_s > 0)) problems.push_back(fmt::format("--dist-timeout must be > 0 seconds (got {})", o.dist_timeout_s));
  l.timeout_s = o.dist_timeout_s;

  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    fail("invalid parallel layout: {}", all);
  }
  return l;
}

void add_dist_options(CLI::App* cmd, DistOptions& o) {
  cmd->add_option("--tensor-parallel-size", o.tensor_parallel_size,
                  "Ranks (GPUs) that split the attention heads and dense layers (default 1)");
  cmd->add_option("--data-parallel-size", o.data_parallel_size,
                  "Groups of tensor-parallel ranks, each serving its own sequences (default 1)");
  cmd->add_flag("--enable-expert-parallel", o.enable_expert_parallel,
                "Split the routed experts over all tensor x data parallel ranks (default: tensor-parallel experts)");
  cmd->add_option("--expert-parallel-size", o.expert_parallel_size,
                  "Groups the routed experts are split into, each tensor-parallel over the rest of the ranks; "
                  "must divide tensor x data parallel (default 1, or all ranks with --enable-expert-parallel)");
  cmd->add_option("--nnodes", o.nnodes, "Nodes the ranks are spread over (default 1)");
  cmd->add_option("--node-rank", o.node_rank, "This node's index, 0..nnodes-1 (default 0)");
  cmd->add_option("--dist-init-addr", o.dist_init_addr,
                  "HOST:PORT of node 0 for the rendezvous (required with --nnodes > 1)");
  cmd->add_option("--dist-timeout", o.dist_timeout_s,
                  "Seconds before the rendezvous or a collective gives up on a peer (default 60)");
}

}  // namespace dsv4::dist
