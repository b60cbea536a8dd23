#include "dist/rendezvous.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>

#include "core/error.h"

namespace dsv4::dist {

namespace {

constexpr uint32_t kHelloMagic = 0x52345344;  // "DS4R"
constexpr uint32_t kReplyMagic = 0x54345344;  // "DS4T"
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxPayload = 1 << 20;
constexpr double kHelloSeconds = 2.0;  // a connection that sends no hello by then is dropped

// Little byte writer/reader for the hello and the table.
struct Writer {
  std::string bytes;
  template <typename T>
  void put(T v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put_string(const std::string& s) {
    put(static_cast<uint32_t>(s.size()));
    bytes += s;
  }
};

struct Hello {
  uint32_t magic = kHelloMagic;
  uint32_t version = kVersion;
  int32_t world_size = 0;
  int32_t rank = 0;
  uint32_t payload_bytes = 0;
};

struct ReplyHeader {
  uint32_t magic = kReplyMagic;
  uint32_t ok = 0;
  uint64_t token = 0;
  uint64_t bytes = 0;  // the table (ok) or the error message
};

Deadline earliest(Deadline a, Deadline b) { return a.at < b.at ? a : b; }

uint64_t random_token() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Sends a reply (best effort: a peer that is gone is ignored).
void send_reply(const Socket& s, bool ok, uint64_t token, const std::string& body) {
  ReplyHeader h;
  h.ok = ok ? 1 : 0;
  h.token = token;
  h.bytes = body.size();
  std::string frame(reinterpret_cast<const char*>(&h), sizeof h);
  frame += body;
  send_all(s, frame.data(), frame.size(), Deadline::in(1.0), nullptr);
}

bool read_string(const std::string& buf, size_t& pos, std::string* out) {
  uint32_t n = 0;
  if (pos + sizeof n > buf.size()) return false;
  std::memcpy(&n, buf.data() + pos, sizeof n);
  pos += sizeof n;
  if (pos + n > buf.size()) return false;
  out->assign(buf.data() + pos, n);
  pos += n;
  return true;
}

}  // namespace

std::string describe_rank(int rank, int world_size, int nnodes) {
  if (nnodes <= 1 || world_size % nnodes != 0) return fmt::format("rank {}", rank);
  return fmt::format("rank {} (node {})", rank, rank / (world_size / nnodes));
}

Rendezvous::Rendezvous(const RendezvousOptions& options) : o_(options), deadline_(Deadline::in(options.timeout_s)) {
  if (o_.world_size < 1 || o_.rank < 0 || o_.rank >= o_.world_size)
    fail("rendezvous: rank {} is not in a world of {}", o_.rank, o_.world_size);
  if (!(o_.timeout_s > 0)) fail("rendezvous: the timeout must be positive (got {} s)", o_.timeout_s);
  if (o_.rank == 0) {
    sock_ = o_.listener_fd >= 0 ? Socket(o_.listener_fd) : listen_tcp(o_.addr);
    o_.listener_fd = -1;  // owned now
    local_host_ = dist::local_host(sock_);
    if (local_host_ == "0.0.0.0") local_host_ = o_.addr.host;
  } else if (o_.world_size > 1) {
    sock_ = connect_tcp(o_.addr, deadline_, fmt::format("rank {}: rendezvous", o_.rank));
    local_host_ = dist::local_host(sock_);
  }
}

Rendezvous::~Rendezvous() = default;

int Rendezvous::port() const {
  if (o_.rank != 0) fail("rank {}: only rank 0 listens for the rendezvous", o_.rank);
  return local_port(sock_);
}

RendezvousResult Rendezvous::exchange(const std::string& payload) {
  if (payload.size() > kMaxPayload) fail("rank {}: rendezvous payload of {} bytes is too large", o_.rank, payload.size());
  if (o_.world_size == 1) return {random_token(), {local_host_.empty() ? "127.0.0.1" : local_host_}, {payload}};
  return o_.rank == 0 ? serve(payload) : join(payload);
}

RendezvousResult Rendezvous::serve(const std::string& payload) {
  struct Joined {
    Socket sock;
    std::string host, payload;
  };
  const int world = o_.world_size;
  std::vector<std::optional<Joined>> joined(static_cast<size_t>(world));
  int count = 1;
  const std::string where = fmt::format("rendezvous at {}:{}", o_.addr.host, port());
  auto fail_all = [&](const std::string& message, const Socket* also) {
    for (auto& j : joined)
      if (j) send_reply(j->sock, false, 0, message);
    if (also != nullptr) send_reply(*also, false, 0, message);
    throw Error(message);
  };
  while (count < world) {
    Socket conn = accept_tcp(sock_, deadline_);
    if (!conn.valid()) {
      std::string missing;
      for (int r = 1; r < world; ++r)
        if (!joined[static_cast<size_t>(r)]) {
          missing += fmt::format("{}{}", missing.empty() ? "" : ", ", describe_rank(r, world, o_.nnodes));
        }
      fail_all(fmt::format("{} timed out after {:.1f} s: {} of {} ranks joined; missing {}", where, o_.timeout_s,
                           count, world, missing),
               nullptr);
    }
    Hello h;
    const Deadline hello_deadline = earliest(deadline_, Deadline::in(kHelloSeconds));
    if (recv_all(conn, &h, sizeof h, hello_deadline, nullptr) != IoResult::ok || h.magic != kHelloMagic ||
        h.payload_bytes > kMaxPayload)
      continue;  // not a dsv4 rank: drop it
    const std::string from = peer_host(conn);
    if (h.version != kVersion)
      fail_all(fmt::format("{}: rank {} from {} speaks rendezvous version {}, rank 0 speaks {}", where, h.rank, from,
                           h.version, kVersion),
               &conn);
    if (h.world_size != world)
      fail_all(fmt::format("{}: rank {} from {} has world size {} but rank 0 has {}", where, h.rank, from,
                           h.world_size, world),
               &conn);
    if (h.rank <= 0 || h.rank >= world)
      fail_all(fmt::format("{}: a rank from {} says it is rank {}, not in 1..{}", where, from, h.rank, world - 1), &conn);
    if (joined[static_cast<size_t>(h.rank)])
      fail_all(fmt::format("{}: rank {} joined twice (from {} and {})", where, h.rank,
                           joined[static_cast<size_t>(h.rank)]->host, from),
               &conn);
    std::string their(h.payload_bytes, '\0');
    if (recv_all(conn, their.data(), their.size(), hello_deadline, nullptr) != IoResult::ok) continue;
    joined[static_cast<size_t>(h.rank)] = Joined{std::move(conn), from, std::move(their)};
    ++count;
  }
  RendezvousResult result;
  result.token = random_token();
  result.hosts.resize(static_cast<size_t>(world));
  result.payloads.resize(static_cast<size_t>(world));
  result.hosts[0] = local_host_;
  result.payloads[0] = payload;
  for (int r = 1; r < world; ++r) {
    result.hosts[static_cast<size_t>(r)] = joined[static_cast<size_t>(r)]->host;
    result.payloads[static_cast<size_t>(r)] = joined[static_cast<size_t>(r)]->payload;
  }
  Writer table;
  for (int r = 0; r < world; ++r) {
    table.put_string(result.hosts[static_cast<size_t>(r)]);
    table.put_string(result.payloads[static_cast<size_t>(r)]);
  }
  for (int r = 1; r < world; ++r) send_reply(joined[static_cast<size_t>(r)]->sock, true, result.token, table.bytes);
  return result;
}

RendezvousResult Rendezvous::join(const std::string& payload) {
  const std::string where = fmt::format("rank {}: rendezvous with rank 0 at {}", o_.rank, o_.addr.str());
  Hello h;
  h.world_size = o_.world_size;
  h.rank = o_.rank;
  h.payload_bytes = static_cast<uint32_t>(payload.size());
  std::string hello(reinterpret_cast<const char*>(&h), sizeof h);
  hello += payload;
  std::string why;
  if (send_all(sock_, hello.data(), hello.size(), deadline_, &why) != IoResult::ok)
    fail("{}: could not send the hello ({})", where, why.empty() ? "timed out" : why);
  // A little longer than our own deadline, so that rank 0's message naming the missing ranks
  // (sent at its deadline) arrives when it started at about the same time.
  const Deadline reply_deadline{deadline_.at + std::chrono::milliseconds(std::min(2000, int(o_.timeout_s * 500)))};
  ReplyHeader r;
  const IoResult got = recv_all(sock_, &r, sizeof r, reply_deadline, &why);
  if (got == IoResult::timeout)
    fail("{} did not complete within {:.1f} s: rank 0 is still waiting for other ranks", where, o_.timeout_s);
  if (got != IoResult::ok || r.magic != kReplyMagic)
    fail("{}: rank 0 closed the connection before the table was complete ({})", where, why);
  std::string body(r.bytes, '\0');
  if (recv_all(sock_, body.data(), body.size(), reply_deadline, &why) != IoResult::ok)
    fail("{}: the table from rank 0 was cut short ({})", where, why);
  if (r.ok == 0) fail("rank {}: {}", o_.rank, body);
  RendezvousResult result;
  result.token = r.token;
  size_t pos = 0;
  for (int k = 0; k < o_.world_size; ++k) {
    std::string host, pay;
    if (!read_string(body, pos, &host) || !read_string(body, pos, &pay)) fail("{}: malformed table", where);
    result.hosts.push_back(std::move(host));
    result.payloads.push_back(std::move(pay));
  }
  return result;
}

}  // namespace dsv4::dist
