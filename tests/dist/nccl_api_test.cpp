// The NCCL loader on the CPU machine: where it looks, and the error when nothing loads. (The
// collectives themselves run in tests/cuda/nccl_test.cpp on a GPU.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "core/error.h"
#include "dist/nccl/nccl_api.h"
#include "dist/nccl/nccl_communicator.h"

namespace dsv4::dist::nccl {
namespace {

// Sets an environment variable for the scope, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(NcclLoader, SearchesLdLibraryPathThenTheLoaderThenWheels) {
  ScopedEnv none("DSV4_NCCL_LIBRARY", nullptr);
  ScopedEnv ld("LD_LIBRARY_PATH", "/opt/a::/opt/b/lib");
  const auto c = nccl_library_candidates();
  ASSERT_GE(c.size(), 3u);
  EXPECT_EQ(c[0], "/opt/a/libnccl.so.2");
  EXPECT_EQ(c[1], "/opt/b/lib/libnccl.so.2");
  EXPECT_EQ(c[2], "libnccl.so.2");
}

TEST(NcclLoader, AnExplicitLibraryIsTheOnlyCandidate) {
  ScopedEnv only("DSV4_NCCL_LIBRARY", "/somewhere/libnccl.so.2");
  EXPECT_EQ(nccl_library_candidates(), std::vector<std::string>{"/somewhere/libnccl.so.2"});
}

TEST(NcclLoader, FailureNamesEveryPathTried) {
  try {
    load_nccl_api({"/nonexistent/a/libnccl.so.2", "/nonexistent/b/libnccl.so.2"});
    FAIL() << "loaded a library that does not exist";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cannot load NCCL (libnccl.so.2); tried:"), std::string::npos) << m;
    EXPECT_NE(m.find("/nonexistent/a/libnccl.so.2: "), std::string::npos) << m;
    EXPECT_NE(m.find("/nonexistent/b/libnccl.so.2: "), std::string::npos) << m;
    EXPECT_NE(m.find("DSV4_NCCL_LIBRARY"), std::string::npos) << m;
  }
}

TEST(NcclLoader, LoadsTheInstalledLibraryWhenThereIsOne) {
  std::string error;
  try {
    const NcclApi api = load_nccl_api(nccl_library_candidates());
    EXPECT_GE(api.version, 20900) << api.path;
    std::printf("[nccl] %s: version %d\n", api.path.c_str(), api.version);
  } catch (const Error& e) {
    GTEST_SKIP() << "no NCCL on this machine: " << e.what();
  }
}

#if !DSV4_HAVE_CUDA
TEST(NcclLoader, WithoutCudaTheFactoriesSaySo) {
  EXPECT_THROW(make_single_rank_nccl_communicator(0), Error);
}
#endif

}  // namespace
}  // namespace dsv4::dist::nccl
