// One rank's TCP connections to every peer (a full mesh) and the exchange that the CPU
// communicator's collectives are made of.
//
// An exchange moves, in one round, at most one message to and one message from each peer. All
// sends and receives of a round progress together under one poll() loop, so no order of calls
// can deadlock on full socket buffers. Every message is a frame: a 24-byte header (kind, the
// collective, its call number and round, the payload size) and the payload. The receiver checks
// the header against what it expects, so a peer in a different collective, or sending a
// different size, is reported at once instead of corrupting data.
//
// A failure (a peer that closes or dies, a deadline that passes, a mismatched frame) aborts the
// links: each peer whose stream is at a frame boundary gets an abort frame carrying the reason,
// every socket is shut down for writing (the peers see it at once instead of waiting for their
// deadline), and every later exchange fails with the first error. Hosts are assumed to share
// byte order (headers are native-endian).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "dist/socket.h"

namespace dsv4::dist {

// What one round moves between this rank and `peer` (either side may be absent).
struct Transfer {
  int peer = -1;
  bool sends = false;
  const void* send = nullptr;
  size_t send_bytes = 0;
  bool receives = false;
  void* recv = nullptr;
  size_t recv_bytes = 0;
};

// Which collective call and round a frame belongs to.
struct RoundTag {
  CollectiveKind kind = CollectiveKind::barrier;
  uint64_t call = 0;  // the communicator's collective counter (the same on every rank)
  uint8_t round = 0;  // rounds within one collective
};

class PeerLinks {
 public:
  // peers[p] is connected to rank p; peers[rank] is unused.
  PeerLinks(int rank, int size, std::vector<Socket> peers);
  ~PeerLinks();
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Throws the first failure again when the links were aborted.
  void check_usable() const;

  // Runs one round; throws dsv4::Error (after aborting the links) on any failure.
  // `timeout_s` is only for the message: the wait ends at `deadline`.
  void exchange(std::span<Transfer> transfers, const RoundTag& tag, Deadline deadline, double timeout_s);

  // Tells the peers (best effort) and shuts every connection down for writing.
  void abort(const std::string& reason);

 private:
  struct Progress;
  [[noreturn]] void fail_round(const std::string& message);
  void step_recv(Progress& p, const RoundTag& tag);
  void step_send(Progress& p, const RoundTag& tag);
  // After a send to p's peer failed: the reason in the abort frame the peer left, if any (still
  // readable after the connection was reset).
  std::optional<std::string> pending_abort(const Progress& p);

  int rank_;
  int size_;
  std::vector<Socket> peers_;
  std::vector<uint8_t> mid_frame_;  // per peer: a frame is partly written
  std::string broken_;              // the first failure, once aborted
};

}  // namespace dsv4::dist
