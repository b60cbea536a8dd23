// The full mesh of TCP connections among the ranks of a CPU communicator (fine for <= 8 ranks;
// n(n-1)/2 connections).
//
// Each rank listens before the rendezvous (its port is its rendezvous payload). Afterwards rank r
// connects to every lower rank and accepts one connection from every higher rank; a connection
// opens with {magic, session token, rank}, so a stray connection to the port, or one from another
// group, is dropped instead of taking a rank's place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dist/socket.h"

namespace dsv4::dist {

// Returns one connected socket per peer, indexed by rank ([rank] stays invalid).
// addresses[p] is where rank p listens. Throws dsv4::Error naming the ranks that did not connect.
std::vector<Socket> connect_mesh(int rank, const std::vector<HostPort>& addresses, const Socket& listener,
                                 uint64_t token, Deadline deadline);

}  // namespace dsv4::dist
