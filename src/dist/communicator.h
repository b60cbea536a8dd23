// The communicator: collectives among the `size()` ranks of one parallel group, over buffers in
// the backend's memory (host memory for the CPU communicator, device memory for NCCL).
//
// Every rank calls the same collectives in the same order with matching arguments (as with MPI
// and NCCL). Counts are in elements of `type`. Reductions take F32, BF16 or I32; the data
// movements (all_gather, all_to_all_v, broadcast) take any DType (they move bytes).
//
// `stream` is the backend's queue: a cudaStream_t for NCCL, where the call only enqueues (so a
// step can be captured in a CUDA graph); the CPU communicator ignores it and is synchronous.
//
// Failures throw dsv4::Error naming this rank, the collective and the peer, e.g.
// "rank 2: peer rank 3 disconnected during all_reduce #17". After a failure a communicator is
// unusable: every later call fails at once with the first error.
//
// A communicator is used by one thread at a time (each rank's own).
//
// The public entry points validate their arguments once, here, and then call the backend's
// do_* implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/dtype.h"

namespace dsv4::dist {

enum class ReduceOp : uint8_t { sum, max };
const char* reduce_op_name(ReduceOp op);

using Stream = void*;  // cudaStream_t for the NCCL communicator; ignored by the CPU one

// The collectives, for messages and frame checks.
enum class CollectiveKind : uint8_t { all_reduce, all_gather, reduce_scatter, all_to_all_v, broadcast, barrier };
const char* collective_name(CollectiveKind kind);

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* name() const = 0;  // "tcp", "nccl"

  // recv[i] = send_0[i] op send_1[i] op ... (the CPU communicator reduces in rank order, in fp32
  // for BF16 with one rounding at the end, so every rank gets bit-identical results).
  // [count] -> [count]; send == recv is allowed (in place).
  void all_reduce(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream = nullptr);

  // recv[r * count + i] = send_r[i]. send [count] -> recv [size() * count]; in place when
  // send == recv + rank() * count.
  void all_gather(const void* send, void* recv, size_t count, DType type, Stream stream = nullptr);

  // recv[i] = op over ranks r of send_r[rank() * count + i]. send [size() * count] -> recv
  // [count]; in place when recv == send + rank() * count.
  void reduce_scatter(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream = nullptr);

  // Variable all-to-all (MPI_Alltoallv): to every peer p this rank sends send_counts[p] elements
  // from send + send_displs[p] and receives recv_counts[p] elements into recv + recv_displs[p];
  // all spans have size() entries, and recv_counts[p] here must equal send_counts[rank()] on p.
  // Zero counts are allowed; send and recv must not overlap.
  void all_to_all_v(const void* send, std::span<const size_t> send_counts, std::span<const size_t> send_displs,
                    void* recv, std::span<const size_t> recv_counts, std::span<const size_t> recv_displs,
                    DType type, Stream stream = nullptr);

  // buf [count] on `root` is copied into buf on every rank.
  void broadcast(void* buf, size_t count, DType type, int root, Stream stream = nullptr);

  // Returns on each rank once every rank has entered it (NCCL: also waits for `stream`).
  void barrier(Stream stream = nullptr);

 protected:
  Communicator() = default;

  virtual void do_all_reduce(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream) = 0;
  virtual void do_all_gather(const void* send, void* recv, size_t count, DType type, Stream stream) = 0;
  virtual void do_reduce_scatter(const void* send, void* recv, size_t count, DType type, ReduceOp op,
                                 Stream stream) = 0;
  virtual void do_all_to_all_v(const void* send, std::span<const size_t> send_counts,
                               std::span<const size_t> send_displs, void* recv, std::span<const size_t> recv_counts,
                               std::span<const size_t> recv_displs, DType type, Stream stream) = 0;
  virtual void do_broadcast(void* buf, size_t count, DType type, int root, Stream stream) = 0;
  virtual void do_barrier(Stream stream) = 0;
};

// Whether `type` can be reduced (F32, BF16, I32).
bool reducible(DType type);

}  // namespace dsv4::dist
