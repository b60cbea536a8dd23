// The parallelism flags, with vLLM's meanings (and SGLang's / torchrun's for the nodes), and the
// layout they describe once validated. The commands add them with add_dist_options().
//
//   --tensor-parallel-size T   attention heads (and the dense layers) split over T ranks
//   --data-parallel-size D     D groups of T ranks, each serving its own sequences
//   --enable-expert-parallel   routed experts split over all T x D ranks (expert parallelism)
//                              instead of tensor-parallel experts (vLLM: without the flag the
//                              MoE layers are tensor-parallel over the T x D ranks)
//   --expert-parallel-size E   (SGLang) E groups of experts, each tensor-parallel over
//                              T x D / E ranks; E must divide T x D; the flag above means E = T x D
//   --nnodes N --node-rank R   the T x D ranks spread over N nodes, T x D / N per node (one per GPU)
//   --dist-init-addr HOST:PORT node 0's address for the rendezvous (needed with N > 1)
//   --dist-timeout S           seconds before a rendezvous or a collective gives up (default 60)
//
// Global ranks are node-major (rank = R x ranks_per_node + local rank); within the world the
// tensor-parallel rank is the fastest-moving (rank = dp_rank x T + tp_rank), as in vLLM.
#pragma once

#include <string>

#include "dist/socket.h"

namespace CLI {
class App;
}

namespace dsv4::dist {

struct DistOptions {
  int tensor_parallel_size = 1;
  int data_parallel_size = 1;
  int expert_parallel_size = 0;  // 0: not given
  bool enable_expert_parallel = false;
  int nnodes = 1;
  int node_rank = 0;
  std::string dist_init_addr;    // empty: 127.0.0.1, port chosen at launch (one node only)
  double dist_timeout_s = 60;
};

struct DistLayout {
  int world_size = 1;      // tp x dp
  int tp = 1, dp = 1;      // attention / dense layers
  int ep = 1, moe_tp = 1;  // routed experts: ep x moe_tp == world_size
  int nnodes = 1, node_rank = 0, ranks_per_node = 1;
  HostPort init_addr{"127.0.0.1", 0};
  double timeout_s = 60;

  int global_rank(int local_rank) const { return node_rank * ranks_per_node + local_rank; }
  int tp_rank(int rank) const { return rank % tp; }
  int dp_rank(int rank) const { return rank / tp; }
  int moe_tp_rank(int rank) const { return rank % moe_tp; }
  int ep_rank(int rank) const { return rank / moe_tp; }
};

// Validates the flags; throws dsv4::Error listing every problem at once.
DistLayout resolve_dist_options(const DistOptions& options);

// Adds the flags above to a command.
void add_dist_options(CLI::App* cmd, DistOptions& options);

}  // namespace dsv4::dist
