// The CPU communicator when things go wrong: a rank killed (SIGKILL) mid-collective, a rank that
// hangs, ranks that call different collectives or sizes, a communicator used after a failure.
// Every surviving rank must fail with a message naming the op and the peer, well within the
// timeout, and never hang.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "core/error.h"
#include "dist/communicator.h"
#include "rank_runner.h"

namespace dsv4::dist {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(PeerLoss, KilledRankMakesEveryOtherRankFailFast) {
  constexpr double kTimeout = 5.0;
  const auto out = test::run_in_processes(4, kTimeout, 20.0, [](Communicator& c) {
    std::vector<float> v(10000, float(c.rank()));
    for (int k = 0; k < 3; ++k) c.all_reduce(v.data(), v.data(), v.size(), DType::F32, ReduceOp::sum);
    if (c.rank() == 3)  // dies while it is inside the next all_reduce, waiting for rank 0
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        kill(getpid(), SIGKILL);
      }).detach();
    if (c.rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    c.all_reduce(v.data(), v.data(), v.size(), DType::F32, ReduceOp::sum);
  });
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[3].signal, SIGKILL) << out[3].message;
  for (int r = 0; r < 3; ++r) {
    const auto& o = out[static_cast<size_t>(r)];
    SCOPED_TRACE(::testing::Message() << "rank " << r << ": " << o.message);
    EXPECT_EQ(o.signal, 0);
    EXPECT_EQ(o.exit_code, 1);  // the body threw
    EXPECT_TRUE(contains(o.message, "rank " + std::to_string(r) + ": peer rank ")) << o.message;
    EXPECT_TRUE(contains(o.message, "during all_reduce #3")) << o.message;
    EXPECT_TRUE(contains(o.message, "disconnected") || contains(o.message, "aborted")) << o.message;
    EXPECT_TRUE(contains(o.message, "peer rank 3 disconnected")) << o.message;  // directly or in an abort's reason
    EXPECT_LT(o.seconds, kTimeout) << "detected only after the timeout";
  }
}

TEST(PeerLoss, HungRankMakesTheOthersTimeOutNamingIt) {
  constexpr double kTimeout = 1.5;
  const auto out = test::run_in_processes(3, kTimeout, 20.0, [](Communicator& c) {
    int32_t v = 1;
    c.all_reduce(&v, &v, 1, DType::I32, ReduceOp::sum);
    if (c.rank() == 2) {  // stops taking part, but keeps its connections open
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      return;
    }
    c.all_reduce(&v, &v, 1, DType::I32, ReduceOp::sum);
  });
  ASSERT_EQ(out.size(), 3u);
  for (int r = 0; r < 2; ++r) {
    const auto& o = out[static_cast<size_t>(r)];
    SCOPED_TRACE(::testing::Message() << "rank " << r << ": " << o.message);
    EXPECT_EQ(o.exit_code, 1);
    EXPECT_TRUE(contains(o.message, "timed out after 1.5 s during all_reduce #1 waiting for peer rank 2")) << o.message;
    EXPECT_GT(o.seconds, kTimeout * 0.9);
    EXPECT_LT(o.seconds, kTimeout + 2.5);
  }
}

TEST(Mismatch, DifferentCollectivesAreReported) {
  const auto errors = test::run_in_threads(2, 3.0, [](Communicator& c) {
    float x[4] = {1, 2, 3, 4};
    if (c.rank() == 0) c.broadcast(x, 4, DType::F32, 0);
    else c.all_reduce(x, x, 4, DType::F32, ReduceOp::sum);
  });
  // Rank 1 reads rank 0's broadcast frame where it expects an all_reduce one (rank 0, the root,
  // only sends, so it may finish before it notices).
  EXPECT_TRUE(contains(errors[1], "rank 1: peer rank 0 is in broadcast #0 (round 0) while this rank is in all_reduce #0"))
      << errors[1];
}

TEST(Mismatch, AllToAllCountsThatDisagreeAreReported) {
  const auto errors = test::run_in_threads(2, 3.0, [](Communicator& c) {
    std::vector<int32_t> send(8, c.rank()), recv(8, -1);
    const std::vector<size_t> zero = {0, 0};
    // rank 0 sends 3 elements to rank 1, which expects 4.
    const std::vector<size_t> sc = c.rank() == 0 ? std::vector<size_t>{0, 3} : std::vector<size_t>{0, 0};
    const std::vector<size_t> rc = c.rank() == 1 ? std::vector<size_t>{4, 0} : std::vector<size_t>{0, 0};
    c.all_to_all_v(send.data(), sc, zero, recv.data(), rc, zero, DType::I32);
  });
  EXPECT_TRUE(contains(errors[1], "rank 1: peer rank 0 sends 12 bytes in all_to_all_v #0 but this rank expects 16"))
      << errors[1];
}

TEST(Mismatch, CommunicatorIsUnusableAfterAFailure) {
  const auto errors = test::run_in_threads(2, 3.0, [](Communicator& c) {
    float x = 1;
    try {
      if (c.rank() == 0) c.broadcast(&x, 1, DType::F32, 0);
      else c.all_reduce(&x, &x, 1, DType::F32, ReduceOp::sum);
    } catch (const Error&) {
    }
    c.barrier();  // rank 1 aborted; rank 0 then reads its abort frame (or finds it closed)
  });
  EXPECT_TRUE(contains(errors[1], "rank 1: the communicator failed earlier and cannot be used: rank 1: peer rank 0 is in broadcast"))
      << errors[1];
  // Rank 0 meets, in its barrier, rank 1's all_reduce frame (sent before rank 1 failed), or its
  // abort frame, or its closed socket.
  EXPECT_TRUE(contains(errors[0], "rank 0: peer rank 1 is in all_reduce #0 (round 0) while this rank is in barrier #1") ||
              contains(errors[0], "rank 0: peer rank 1 aborted during barrier #1: rank 1: peer rank 0 is in broadcast") ||
              contains(errors[0], "rank 0: peer rank 1 disconnected during barrier #1"))
      << errors[0];
}

TEST(Arguments, BadCallsFailBeforeAnyTraffic) {
  const auto errors = test::run_in_threads(1, 3.0, [](Communicator& c) {
    uint8_t b[4] = {};
    EXPECT_THROW(c.all_reduce(b, b, 4, DType::U8, ReduceOp::sum), Error);
    EXPECT_THROW(c.broadcast(b, 4, DType::U8, 1), Error);
    const std::vector<size_t> two = {0, 0}, one = {1};
    EXPECT_THROW(c.all_to_all_v(b, two, two, b, two, two, DType::U8), Error);
    const std::vector<size_t> other = {2};
    EXPECT_THROW(c.all_to_all_v(b, one, std::vector<size_t>{0}, b + 2, other, std::vector<size_t>{0}, DType::U8), Error);
    EXPECT_THROW(c.all_reduce(nullptr, b, 1, DType::F32, ReduceOp::sum), Error);
    c.all_reduce(nullptr, nullptr, 0, DType::F32, ReduceOp::sum);  // empty: fine
  });
  EXPECT_EQ(errors[0], "");
}

}  // namespace
}  // namespace dsv4::dist
