#include "dist/tcp_mesh.h"

#include <algorithm>

#include "core/error.h"

namespace dsv4::dist {

namespace {

constexpr uint32_t kMeshMagic = 0x4d345344;  // "DS4M"
constexpr double kHandshakeSeconds = 2.0;

struct Handshake {
  uint32_t magic = kMeshMagic;
  int32_t rank = 0;
  uint64_t token = 0;
};

}  // namespace

std::vector<Socket> connect_mesh(int rank, const std::vector<HostPort>& addresses, const Socket& listener,
                                 uint64_t token, Deadline deadline) {
  const int world = static_cast<int>(addresses.size());
  std::vector<Socket> peers(static_cast<size_t>(world));
  for (int p = 0; p < rank; ++p) {
    Socket s = connect_tcp(addresses[static_cast<size_t>(p)], deadline, fmt::format("rank {}: connecting to rank {}", rank, p));
    Handshake h;
    h.rank = rank;
    h.token = token;
    std::string why;
    if (send_all(s, &h, sizeof h, deadline, &why) != IoResult::ok)
      fail("rank {}: peer rank {} disconnected while the mesh was built ({})", rank, p, why.empty() ? "timed out" : why);
    set_nodelay(s);
    peers[static_cast<size_t>(p)] = std::move(s);
  }
  int missing = world - 1 - rank;
  while (missing > 0) {
    Socket s = accept_tcp(listener, deadline);
    if (!s.valid()) {
      std::string who;
      for (int p = rank + 1; p < world; ++p)
        if (!peers[static_cast<size_t>(p)].valid()) who += fmt::format("{}{}", who.empty() ? "" : ", ", p);
      fail("rank {}: timed out building the connection mesh: no connection from rank{} {}", rank,
           missing > 1 ? "s" : "", who);
    }
    Handshake h;
    const Deadline hs_deadline{std::min(deadline.at, Deadline::in(kHandshakeSeconds).at)};
    if (recv_all(s, &h, sizeof h, hs_deadline, nullptr) != IoResult::ok || h.magic != kMeshMagic || h.token != token ||
        h.rank <= rank || h.rank >= world || peers[static_cast<size_t>(h.rank)].valid())
      continue;  // not one of ours: drop it
    set_nodelay(s);
    peers[static_cast<size_t>(h.rank)] = std::move(s);
    --missing;
  }
  return peers;
}

}  // namespace dsv4::dist
