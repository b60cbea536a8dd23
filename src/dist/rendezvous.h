// The TCP rendezvous that starts a parallel group (torchrun's / SGLang's --dist-init-addr).
//
// Rank 0 (on node 0) listens on the init address; every other rank connects to it, retrying
// until the deadline (rank 0 may start later). Each rank sends a hello with the world size, its
// rank and an opaque payload (the CPU communicator's listening port; for NCCL, rank 0's is the
// 128-byte ncclUniqueId). When all have joined, rank 0 sends everyone the table: per rank the
// address rank 0 saw it connect from and its payload, and a random session token that the
// communicators' own connections must present. A rendezvous that does not complete before the
// deadline fails on every rank that joined, naming the ranks (and nodes) that never came; a
// world size that disagrees or a rank that joins twice fails it too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dist/socket.h"

namespace dsv4::dist {

struct RendezvousOptions {
  HostPort addr{"127.0.0.1", 0};  // node 0's address (--dist-init-addr); rank 0 listens here
  int world_size = 1;
  int rank = 0;
  int nnodes = 1;                 // for messages: rank r runs on node r / (world_size / nnodes)
  double timeout_s = 60;          // for the whole rendezvous, from construction
  int listener_fd = -1;           // rank 0: adopt this bound, listening socket (port 0 in tests,
                                  // or the one a launcher created and passed down)
};

struct RendezvousResult {
  uint64_t token = 0;                 // session id chosen by rank 0
  std::vector<std::string> hosts;     // per rank: where the others reach it (dotted quad)
  std::vector<std::string> payloads;  // per rank: what it sent
};

class Rendezvous {
 public:
  // Rank 0 binds (or adopts listener_fd); other ranks connect, retrying until the deadline.
  explicit Rendezvous(const RendezvousOptions& options);
  ~Rendezvous();
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;

  const RendezvousOptions& options() const { return o_; }
  const Deadline& deadline() const { return deadline_; }
  // The address the other ranks will reach this rank at (rank 0: its bound address; others:
  // the local end of the connection to rank 0, i.e. the interface that faces node 0).
  const std::string& local_host() const { return local_host_; }
  // Rank 0's listening port (the ephemeral one when addr.port was 0).
  int port() const;

  // Exchanges the payloads (once). Throws dsv4::Error on timeout or a bad join.
  RendezvousResult exchange(const std::string& payload);

 private:
  RendezvousResult serve(const std::string& payload);
  RendezvousResult join(const std::string& payload);

  RendezvousOptions o_;
  Deadline deadline_;
  Socket sock_;  // rank 0: the listener; others: the connection to rank 0
  std::string local_host_;
};

// "rank 3 (node 1)" when there are several nodes, "rank 3" otherwise.
std::string describe_rank(int rank, int world_size, int nnodes);

}  // namespace dsv4::dist
