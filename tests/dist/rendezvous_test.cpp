// The TCP rendezvous: the table every rank gets, and the failures that must name who is missing.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "core/error.h"
#include "dist/rendezvous.h"
#include "dist/socket.h"

namespace dsv4::dist {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct Joined {
  RendezvousResult result;
  std::string error;
};

// Runs the given ranks of a `world`-rank rendezvous as threads (the others never come).
std::vector<Joined> rendezvous_ranks(int world, const std::vector<int>& ranks, double timeout_s, int nnodes = 1,
                                     const std::vector<int>& claimed_world = {}) {
  Socket listener = listen_tcp({"127.0.0.1", 0});
  const int port = local_port(listener);
  const bool has_rank0 = std::find(ranks.begin(), ranks.end(), 0) != ranks.end();
  if (!has_rank0) listener.close();  // nobody listens: connections are refused
  const int fd = listener.release();
  std::vector<Joined> out(ranks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ranks.size(); ++i)
    threads.emplace_back([&, i] {
      RendezvousOptions o;
      o.addr = {"127.0.0.1", port};
      o.world_size = claimed_world.empty() ? world : claimed_world[i];
      o.rank = ranks[i];
      o.nnodes = nnodes;
      o.timeout_s = timeout_s;
      if (ranks[i] == 0) o.listener_fd = fd;
      try {
        Rendezvous r(o);
        std::string payload = "payload of rank " + std::to_string(ranks[i]);
        if (ranks[i] == 0) payload.assign(128, '\x7f');  // an ncclUniqueId-sized blob
        out[i].result = r.exchange(payload);
      } catch (const Error& e) {
        out[i].error = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return out;
}

TEST(Rendezvous, EveryRankGetsTheSameTable) {
  const auto out = rendezvous_ranks(4, {3, 1, 0, 2}, 5.0);
  for (const Joined& j : out) {
    ASSERT_EQ(j.error, "");
    ASSERT_EQ(j.result.payloads.size(), 4u);
    EXPECT_EQ(j.result.payloads[0], std::string(128, '\x7f'));
    for (int r = 1; r < 4; ++r) EXPECT_EQ(j.result.payloads[static_cast<size_t>(r)], "payload of rank " + std::to_string(r));
    for (const auto& h : j.result.hosts) EXPECT_EQ(h, "127.0.0.1");
    EXPECT_EQ(j.result.token, out[0].result.token);
  }
}

TEST(Rendezvous, MissingRankTimesOutNamingIt) {
  const auto out = rendezvous_ranks(3, {0, 1}, 1.0);
  EXPECT_TRUE(contains(out[0].error, "timed out after 1.0 s: 2 of 3 ranks joined; missing rank 2")) << out[0].error;
  EXPECT_TRUE(contains(out[1].error, "rank 1: rendezvous at 127.0.0.1:")) << out[1].error;
  EXPECT_TRUE(contains(out[1].error, "missing rank 2")) << out[1].error;
}

TEST(Rendezvous, MissingNodeIsNamed) {
  const auto out = rendezvous_ranks(4, {0, 1}, 1.0, /*nnodes=*/2);
  EXPECT_TRUE(contains(out[0].error, "2 of 4 ranks joined; missing rank 2 (node 1), rank 3 (node 1)")) << out[0].error;
}

TEST(Rendezvous, AbsentRankZeroIsReportedByTheOthers) {
  const auto out = rendezvous_ranks(2, {1}, 0.5);
  EXPECT_TRUE(contains(out[0].error, "rank 1: rendezvous: could not connect to 127.0.0.1:")) << out[0].error;
}

TEST(Rendezvous, DisagreeingWorldSizeFailsEveryone) {
  const auto out = rendezvous_ranks(2, {0, 1}, 3.0, 1, {2, 3});
  EXPECT_TRUE(contains(out[0].error, "rank 1 from 127.0.0.1 has world size 3 but rank 0 has 2")) << out[0].error;
  EXPECT_TRUE(contains(out[1].error, "has world size 3 but rank 0 has 2")) << out[1].error;
}

TEST(Rendezvous, HostPortParsing) {
  EXPECT_EQ(parse_host_port("10.0.0.1:29500").host, "10.0.0.1");
  EXPECT_EQ(parse_host_port("node0:29500").port, 29500);
  EXPECT_THROW(parse_host_port("10.0.0.1"), Error);
  EXPECT_THROW(parse_host_port("10.0.0.1:"), Error);
  EXPECT_THROW(parse_host_port(":80"), Error);
  EXPECT_THROW(parse_host_port("h:70000"), Error);
  EXPECT_THROW(parse_host_port("h:12a"), Error);
}

}  // namespace
}  // namespace dsv4::dist
