// The CPU communicator: one process (or thread) per rank, a full mesh of loopback or LAN TCP
// connections, synchronous collectives over host memory. CI runs every parallel layout on it.
//
// Results do not depend on timing: all_reduce is a reduce-scatter (each rank reduces its slice of
// the buffer, in rank order, see host_reduce.h) followed by an all-gather of the slices, so every
// rank gets the same bits. Every wait ends at a deadline `timeout_s` after the collective began;
// a peer that closes or dies, or that does not answer in time, makes the collective throw on
// this rank, and the communicator aborts its connections so that every other rank fails fast too.
#pragma once

#include <memory>
#include <vector>

#include "dist/communicator.h"
#include "dist/peer_links.h"
#include "dist/rendezvous.h"

namespace dsv4::dist {

class TcpCommunicator final : public Communicator {
 public:
  // peers[p]: connected to rank p ([rank] unused); timeout_s bounds every collective.
  TcpCommunicator(int rank, int size, std::vector<Socket> peers, double timeout_s);

  int rank() const override { return links_.rank(); }
  int size() const override { return links_.size(); }
  const char* name() const override { return "tcp"; }
  double timeout_s() const { return timeout_s_; }

 protected:
  void do_all_reduce(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream) override;
  void do_all_gather(const void* send, void* recv, size_t count, DType type, Stream stream) override;
  void do_reduce_scatter(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream) override;
  void do_all_to_all_v(const void* send, std::span<const size_t> send_counts, std::span<const size_t> send_displs,
                       void* recv, std::span<const size_t> recv_counts, std::span<const size_t> recv_displs,
                       DType type, Stream stream) override;
  void do_broadcast(void* buf, size_t count, DType type, int root, Stream stream) override;
  void do_barrier(Stream stream) override;

 private:
  struct Call;
  Call begin(CollectiveKind kind);
  // Round `round` of `call`: moves `transfers` (one per peer that takes part).
  void round(Call& call, std::vector<Transfer>& transfers);
  // Each rank's slice [begin(p), begin(p+1)) of `count` elements is reduced by rank p.
  void reduce_slices(Call& call, const uint8_t* send, uint8_t* out, const std::vector<size_t>& begin, DType type,
                     ReduceOp op);
  void gather_slices(Call& call, uint8_t* buf, const std::vector<size_t>& begin, size_t elem);

  PeerLinks links_;
  double timeout_s_;
  uint64_t calls_ = 0;
};

// The whole set-up of one rank: listen on the interface that faces rank 0, rendezvous (the
// listening ports are the payloads), build the mesh. `timeout_s` bounds every later collective;
// the rendezvous and the mesh use options.timeout_s.
std::unique_ptr<TcpCommunicator> connect_tcp_communicator(const RendezvousOptions& options, double timeout_s);

}  // namespace dsv4::dist
