// The NCCL communicator: one rank per GPU, collectives enqueued on the caller's CUDA stream (so a
// step that calls them can be captured in a CUDA graph), buffers in device memory.
//
//   all_reduce / reduce_scatter   ncclAllReduce / ncclReduceScatter (F32, BF16, I32; sum, max)
//   all_gather / broadcast        ncclAllGather / ncclBroadcast, moved as bytes (any DType)
//   all_to_all_v                  one ncclGroupStart/End of ncclSend/ncclRecv per peer with a
//                                 non-zero count; this rank's own block is a cudaMemcpyAsync
//   barrier                       an all_reduce of one int, then a wait for the stream (host-side:
//                                 not for graph capture)
// NCCL reduces in its own order (rings, trees): unlike the CPU communicator, sums are not
// rank-ordered, though every rank still gets the same bits.
//
// NCCL_NVLS_ENABLE is set to 0 before the communicator is made (NVLink SHARP / multicast objects
// must stay off on the lent machines; nothing here calls cuMulticastCreate). The library is
// loaded with dlopen on first use (nccl_api.h). Errors name the rank, the op and, for send /
// recv, the peers. NCCL calls have no timeout of their own: a peer that dies mid-collective is
// detected by the process supervisor (the launcher), not here.
//
// Built with the CUDA backend only; without it the factories throw.
#pragma once

#include <array>
#include <memory>

#include "dist/communicator.h"
#include "dist/rendezvous.h"

namespace dsv4::dist {

using NcclId = std::array<char, 128>;  // an ncclUniqueId

// A fresh id (ncclGetUniqueId), made by rank 0 and handed to the others by the rendezvous.
NcclId nccl_unique_id();

// Joins the `size`-rank NCCL communicator `id` as `rank` on CUDA device `device`
// (ncclCommInitRank: blocks until every rank has joined).
std::unique_ptr<Communicator> make_nccl_communicator(int rank, int size, const NcclId& id, int device);

// One rank on `device` (the one-GPU machine's path: every collective is the identity).
std::unique_ptr<Communicator> make_single_rank_nccl_communicator(int device);

// Rendezvous (rank 0's payload is the id), then make_nccl_communicator.
std::unique_ptr<Communicator> connect_nccl_communicator(const RendezvousOptions& options, int device);

}  // namespace dsv4::dist
