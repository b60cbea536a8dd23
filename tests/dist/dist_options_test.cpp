// The parallelism flags: vLLM's meanings, and every invalid combination reported clearly.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "dist/dist_options.h"

namespace dsv4::dist {
namespace {

DistOptions parse(const std::string& args) {
  CLI::App app("test");
  DistOptions o;
  add_dist_options(&app, o);
  app.parse(args, false);
  return o;
}

std::string error_of(const std::string& args) {
  try {
    resolve_dist_options(parse(args));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DistOptions, DefaultsAreOneRank) {
  const DistLayout l = resolve_dist_options(parse(""));
  EXPECT_EQ(l.world_size, 1);
  EXPECT_EQ(l.ep, 1);
  EXPECT_EQ(l.moe_tp, 1);
  EXPECT_EQ(l.ranks_per_node, 1);
  EXPECT_EQ(l.timeout_s, 60);
}

TEST(DistOptions, TensorTimesDataParallelIsTheWorld) {
  const DistLayout l = resolve_dist_options(parse("--tensor-parallel-size 4 --data-parallel-size 2"));
  EXPECT_EQ(l.world_size, 8);
  EXPECT_EQ(l.ep, 1);  // vLLM without the flag: the experts are tensor-parallel over tp x dp
  EXPECT_EQ(l.moe_tp, 8);
  EXPECT_EQ(l.tp_rank(5), 1);
  EXPECT_EQ(l.dp_rank(5), 1);
}

TEST(DistOptions, ExpertParallelSpreadsTheExpertsOverAllRanks) {
  const DistLayout l = resolve_dist_options(parse("--tensor-parallel-size 2 --data-parallel-size 4 --enable-expert-parallel"));
  EXPECT_EQ(l.ep, 8);
  EXPECT_EQ(l.moe_tp, 1);
  EXPECT_EQ(l.ep_rank(6), 6);
  const DistLayout same = resolve_dist_options(parse("--tensor-parallel-size 8 --expert-parallel-size 8 --enable-expert-parallel"));
  EXPECT_EQ(same.ep, 8);
}

TEST(DistOptions, ExpertParallelSizeGroupsTheExperts) {
  const DistLayout l = resolve_dist_options(parse("--tensor-parallel-size 8 --expert-parallel-size 2"));
  EXPECT_EQ(l.ep, 2);
  EXPECT_EQ(l.moe_tp, 4);
  EXPECT_EQ(l.ep_rank(5), 1);
  EXPECT_EQ(l.moe_tp_rank(5), 1);
}

TEST(DistOptions, NodesSplitTheRanks) {
  const DistLayout l = resolve_dist_options(
      parse("--tensor-parallel-size 8 --data-parallel-size 2 --nnodes 2 --node-rank 1 --dist-init-addr 10.1.2.3:29500 --dist-timeout 5"));
  EXPECT_EQ(l.ranks_per_node, 8);
  EXPECT_EQ(l.global_rank(3), 11);
  EXPECT_EQ(l.init_addr.host, "10.1.2.3");
  EXPECT_EQ(l.init_addr.port, 29500);
  EXPECT_EQ(l.timeout_s, 5);
}

TEST(DistOptions, InvalidLayoutsAreExplained) {
  EXPECT_NE(error_of("--tensor-parallel-size 0").find("--tensor-parallel-size must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("--tensor-parallel-size 4 --expert-parallel-size 3").find("--expert-parallel-size 3 must divide the world size tensor x data parallel = 4"), std::string::npos);
  EXPECT_NE(error_of("--tensor-parallel-size 4 --expert-parallel-size 2 --enable-expert-parallel").find("disagrees with --enable-expert-parallel"), std::string::npos);
  EXPECT_NE(error_of("--tensor-parallel-size 4 --nnodes 2").find("--dist-init-addr HOST:PORT is required with --nnodes 2"), std::string::npos);
  EXPECT_NE(error_of("--tensor-parallel-size 4 --nnodes 3 --dist-init-addr h:1").find("--nnodes 3 does not divide the world size"), std::string::npos);
  EXPECT_NE(error_of("--tensor-parallel-size 4 --nnodes 2 --node-rank 2 --dist-init-addr h:1").find("--node-rank 2 is not in 0..1"), std::string::npos);
  EXPECT_NE(error_of("--dist-init-addr nohost").find("'nohost' is not host:port"), std::string::npos);
  EXPECT_NE(error_of("--tensor-parallel-size 2 --nnodes 2 --dist-init-addr h:0").find("the port must be given"), std::string::npos);
  EXPECT_NE(error_of("--dist-timeout 0").find("--dist-timeout must be > 0"), std::string::npos);
  // Every problem at once.
  const std::string both = error_of("--data-parallel-size 0 --dist-timeout -1");
  EXPECT_NE(both.find("--data-parallel-size"), std::string::npos) << both;
  EXPECT_NE(both.find("--dist-timeout"), std::string::npos) << both;
}

}  // namespace
}  // namespace dsv4::dist
