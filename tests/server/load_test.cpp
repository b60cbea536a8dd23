// A loopback load test of `dsv4 serve` on the built-in default model (bounded: well under 60 s):
// 64 concurrent streaming clients while 500 idle / slow clients hold connections open (some
// connected and silent, some stuck half-way through their request headers). Every streamed
// response must be complete and well-formed, the server healthy afterwards, and every cache
// block back in its pool. The server runs as its own process (cpp-httplib 0.11 uses select(),
// so client and server sockets must not share one process's descriptor range).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/http_client.h"
#include "server/sse.h"
#include "support/test_support.h"

extern char** environ;

namespace dsv4::server {
namespace {

using Clock = std::chrono::steady_clock;

int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  close(s);
  return ntohs(a.sin_port);
}

int connect_loopback(int port) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

std::map<std::string, int> cache_blocks_used(HttpClient& c) {
  std::map<std::string, int> used;
  const HttpResult r = c.get("/metrics");
  size_t pos = 0;
  const std::string key = "dsv4:cache_blocks_used{";
  while ((pos = r.body.find(key, pos)) != std::string::npos) {
    const size_t p = r.body.find("pool=\"", pos) + 6;
    const size_t q = r.body.find('"', p);
    const size_t sp = r.body.find(' ', q);
    used[r.body.substr(p, q - p)] = std::stoi(r.body.substr(sp + 1));
    pos = sp;
  }
  return used;
}

TEST(ServeLoad, ManyStreamsWhileHundredsOfIdleConnectionsWait) {
  const Clock::time_point t0 = Clock::now();
  const int port = free_port();
  const std::string log = test::make_temp_dir("dsv4-load") + "/serve.log";
  const std::string cli = test::cli_path(), model = test::binary_dir() + "/models/default", port_s = std::to_string(port);
  std::vector<std::string> args = {cli, "serve", model, "--port", port_s, "--max-num-seqs", "64",
                                   "--http-threads", "700", "--max-queued-requests", "256", "--disable-log-requests"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, cli.c_str(), &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);

  HttpClient probe("127.0.0.1", port, 10);
  bool healthy = false;
  while (!healthy && Clock::now() - t0 < std::chrono::seconds(30)) {
    healthy = probe.get("/health").status == 200;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(healthy) << "dsv4 serve did not become healthy; log: " << log;
  const std::map<std::string, int> idle_blocks = cache_blocks_used(probe);
  ASSERT_FALSE(idle_blocks.empty());

  // 500 idle / slow connections: half silent, half stuck inside their request headers.
  std::vector<int> idle;
  for (int i = 0; i < 500; ++i) {
    const int s = connect_loopback(port);
    if (s < 0) continue;
    if (i % 2) {
      const char partial[] = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n";
      (void)!write(s, partial, sizeof partial - 1);
    }
    idle.push_back(s);
  }
  EXPECT_EQ(idle.size(), 500u);

  // 64 streaming clients at once.
  constexpr int kClients = 64, kTokens = 12;
  std::atomic<int> complete{0};
  std::vector<std::string> problems(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      HttpClient client("127.0.0.1", port, 50);
      nlohmann::json body{{"messages", {{{"role", "user"}, {"content", "Client " + std::to_string(c) + " says hi"}}}},
                          {"max_tokens", kTokens}, {"ignore_eos", true}, {"stream", true},
                          {"stream_options", {{"include_usage", true}}}, {"thinking", c % 2 == 0}};
      SseParser parser;
      std::vector<SseEvent> events;
      const HttpResult r = client.post("/v1/chat/completions", body.dump(), {}, [&](std::string_view bytes) {
        for (SseEvent& e : parser.feed(bytes)) events.push_back(std::move(e));
        return true;
      });
      std::string& why = problems[size_t(c)];
      if (r.status != 200) {
        why = "status " + std::to_string(r.status) + " " + r.error + " " + r.body.substr(0, 200);
        return;
      }
      if (!parser.idle() || events.empty() || events.back().data != "[DONE]") {
        why = "the stream did not end with [DONE]";
        return;
      }
      int finishes = 0;
      int64_t usage_tokens = -1;
      for (size_t i = 0; i + 1 < events.size(); ++i) {
        const nlohmann::json j = nlohmann::json::parse(events[i].data, nullptr, false);
        if (j.is_discarded() || j.value("object", "") != "chat.completion.chunk") {
          why = "bad chunk: " + events[i].data;
          return;
        }
        if (!j["choices"].empty() && !j["choices"][0]["finish_reason"].is_null()) ++finishes;
        if (j["usage"].is_object()) usage_tokens = j["usage"]["completion_tokens"].get<int64_t>();
      }
      if (finishes != 1 || usage_tokens != kTokens) {
        why = "finishes " + std::to_string(finishes) + ", usage " + std::to_string(usage_tokens);
        return;
      }
      ++complete;
    });
  for (std::thread& t : clients) t.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(problems[size_t(c)], "") << "client " << c;
  EXPECT_EQ(complete.load(), kClients);

  for (int s : idle) close(s);
  EXPECT_EQ(probe.get("/health").status, 200);
  std::map<std::string, int> after = cache_blocks_used(probe);
  while (after != idle_blocks && Clock::now() - t0 < std::chrono::seconds(55)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = cache_blocks_used(probe);
  }
  EXPECT_EQ(after, idle_blocks);

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "; log: " << log;
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("[load] %d streams + %zu idle connections: %.1f s\n", kClients, idle.size(), seconds);
  EXPECT_LT(seconds, 60.0);
}

}  // namespace
}  // namespace dsv4::server
