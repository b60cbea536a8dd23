#include "dist/peer_links.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace dsv4::dist {

namespace {

constexpr uint32_t kFrameMagic = 0x46345344;  // "DS4F"
constexpr uint8_t kData = 0;
constexpr uint8_t kAbort = 1;
constexpr size_t kMaxAbortReason = 16384;
constexpr size_t kMaxPeek = 4 << 20;  // how far past a failed send we look for the peer's abort frame

struct FrameHeader {
  uint32_t magic = kFrameMagic;
  uint8_t kind = kData;
  uint8_t collective = 0;
  uint8_t round = 0;
  uint8_t pad = 0;
  uint64_t call = 0;
  uint64_t bytes = 0;
};
static_assert(sizeof(FrameHeader) == 24);

std::string describe(CollectiveKind kind, uint64_t call) { return fmt::format("{} #{}", collective_name(kind), call); }

}  // namespace

struct PeerLinks::Progress {
  Transfer t;
  FrameHeader out;      // header to send
  size_t sent = 0;      // bytes of header + payload written
  FrameHeader in;       // header received
  size_t got = 0;       // bytes of header + payload (or abort reason) read
  std::string reason;   // abort frame payload
  bool send_done() const { return !t.sends || sent == sizeof(FrameHeader) + t.send_bytes; }
  bool recv_done() const { return !t.receives || (got >= sizeof(FrameHeader) && in.kind == kData && got == sizeof(FrameHeader) + t.recv_bytes); }
};

PeerLinks::PeerLinks(int rank, int size, std::vector<Socket> peers)
    : rank_(rank), size_(size), peers_(std::move(peers)), mid_frame_(static_cast<size_t>(size), 0) {
  if (static_cast<int>(peers_.size()) != size) fail("rank {}: PeerLinks needs {} sockets, got {}", rank, size, peers_.size());
  for (int p = 0; p < size; ++p)
    if (p != rank) set_nonblocking(peers_[static_cast<size_t>(p)]);
}

PeerLinks::~PeerLinks() = default;

void PeerLinks::check_usable() const {
  if (!broken_.empty()) fail("rank {}: the communicator failed earlier and cannot be used: {}", rank_, broken_);
}

void PeerLinks::abort(const std::string& reason) {
  if (!broken_.empty()) return;
  broken_ = reason;
  const std::string text = reason.substr(0, kMaxAbortReason);
  for (int p = 0; p < size_; ++p) {
    Socket& s = peers_[static_cast<size_t>(p)];
    if (p == rank_ || !s.valid()) continue;
    if (!mid_frame_[static_cast<size_t>(p)]) {
      FrameHeader h;
      h.kind = kAbort;
      h.bytes = text.size();
      std::string frame(reinterpret_cast<const char*>(&h), sizeof h);
      frame += text;
      [[maybe_unused]] const ssize_t n = ::send(s.fd(), frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::shutdown(s.fd(), SHUT_WR);
  }
}

void PeerLinks::fail_round(const std::string& message) {
  abort(message);
  throw Error(message);
}

std::optional<std::string> PeerLinks::pending_abort(const Progress& p) {
  // Where the next frame starts in what is still unread: 0 at a frame boundary, the rest of the
  // data frame being read, or unknown (npos: this round's frame may or may not come first).
  constexpr size_t npos = static_cast<size_t>(-1);
  size_t at;
  if (!p.t.receives || p.recv_done()) at = 0;
  else if (p.got == 0) at = npos;
  else if (p.got >= sizeof(FrameHeader) && p.in.kind == kData) at = sizeof(FrameHeader) + p.t.recv_bytes - p.got;
  else return std::nullopt;
  const size_t want = std::min<size_t>(kMaxPeek, (at == npos ? sizeof(FrameHeader) + p.t.recv_bytes : at) +
                                                     sizeof(FrameHeader) + kMaxAbortReason);
  std::string buf(want, '\0');
  const ssize_t n = ::recv(peers_[static_cast<size_t>(p.t.peer)].fd(), buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n <= 0) return std::nullopt;
  buf.resize(static_cast<size_t>(n));
  auto header_at = [&](size_t pos) -> std::optional<FrameHeader> {
    FrameHeader h;
    if (pos + sizeof h > buf.size()) return std::nullopt;
    std::memcpy(&h, buf.data() + pos, sizeof h);
    if (h.magic != kFrameMagic) return std::nullopt;
    return h;
  };
  if (at == npos) {
    const auto first = header_at(0);
    if (!first) return std::nullopt;
    at = first->kind == kAbort ? 0 : sizeof(FrameHeader) + first->bytes;
  }
  const auto h = header_at(at);
  if (!h || h->kind != kAbort) return std::nullopt;
  const size_t from = at + sizeof(FrameHeader);
  return buf.substr(from, std::min<size_t>(h->bytes, buf.size() - from));
}

void PeerLinks::step_send(Progress& p, const RoundTag& tag) {
  const Socket& s = peers_[static_cast<size_t>(p.t.peer)];
  while (!p.send_done()) {
    const uint8_t* src;
    size_t left;
    if (p.sent < sizeof(FrameHeader)) {
      src = reinterpret_cast<const uint8_t*>(&p.out) + p.sent;
      left = sizeof(FrameHeader) - p.sent;
    } else {
      const size_t off = p.sent - sizeof(FrameHeader);
      src = static_cast<const uint8_t*>(p.t.send) + off;
      left = p.t.send_bytes - off;
    }
    const ssize_t n = ::send(s.fd(), src, left, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      mid_frame_[static_cast<size_t>(p.t.peer)] = 1;
      p.sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    const std::string why = std::strerror(errno);
    if (const auto reason = pending_abort(p))
      fail_round(fmt::format("rank {}: peer rank {} aborted during {}: {}", rank_, p.t.peer, describe(tag.kind, tag.call), *reason));
    fail_round(fmt::format("rank {}: peer rank {} disconnected during {} ({} while sending)", rank_, p.t.peer,
                           describe(tag.kind, tag.call), why));
  }
  mid_frame_[static_cast<size_t>(p.t.peer)] = 0;
}

void PeerLinks::step_recv(Progress& p, const RoundTag& tag) {
  const Socket& s = peers_[static_cast<size_t>(p.t.peer)];
  const std::string where = describe(tag.kind, tag.call);
  while (!p.recv_done()) {
    uint8_t* dst;
    size_t left;
    std::string chunk;
    const bool in_header = p.got < sizeof(FrameHeader);
    const bool in_abort = !in_header && p.in.kind == kAbort;
    if (in_header) {
      dst = reinterpret_cast<uint8_t*>(&p.in) + p.got;
      left = sizeof(FrameHeader) - p.got;
    } else if (in_abort) {
      chunk.resize(p.in.bytes - p.reason.size());
      dst = reinterpret_cast<uint8_t*>(chunk.data());
      left = chunk.size();
    } else {
      const size_t off = p.got - sizeof(FrameHeader);
      dst = static_cast<uint8_t*>(p.t.recv) + off;
      left = p.t.recv_bytes - off;
    }
    const ssize_t n = left == 0 ? 0 : ::recv(s.fd(), dst, left, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0 && left > 0) {
      const std::string why = n == 0 ? "connection closed" : std::strerror(errno);
      if (in_abort || (p.got >= sizeof(FrameHeader) && p.in.kind == kAbort))
        fail_round(fmt::format("rank {}: peer rank {} aborted during {}: {}", rank_, p.t.peer, where, p.reason));
      fail_round(fmt::format("rank {}: peer rank {} disconnected during {} ({})", rank_, p.t.peer, where, why));
    }
    if (in_abort) {
      p.reason.append(chunk.data(), static_cast<size_t>(n));
    }
    p.got += static_cast<size_t>(n);
    if (in_header && p.got == sizeof(FrameHeader)) {
      const FrameHeader& h = p.in;
      if (h.magic != kFrameMagic || (h.kind != kData && h.kind != kAbort))
        fail_round(fmt::format("rank {}: peer rank {} sent a malformed frame during {}", rank_, p.t.peer, where));
      if (h.kind == kAbort) {
        if (h.bytes > kMaxAbortReason)
          fail_round(fmt::format("rank {}: peer rank {} aborted during {}", rank_, p.t.peer, where));
        continue;
      }
      if (h.collective != static_cast<uint8_t>(tag.kind) || h.call != tag.call || h.round != tag.round)
        fail_round(fmt::format("rank {}: peer rank {} is in {} (round {}) while this rank is in {} (round {}): every "
                               "rank must call the same collectives in the same order",
                               rank_, p.t.peer, describe(static_cast<CollectiveKind>(h.collective), h.call), h.round,
                               where, tag.round));
      if (h.bytes != p.t.recv_bytes)
        fail_round(fmt::format("rank {}: peer rank {} sends {} bytes in {} but this rank expects {}", rank_, p.t.peer,
                               h.bytes, where, p.t.recv_bytes));
    }
    if (in_abort && p.reason.size() == p.in.bytes)
      fail_round(fmt::format("rank {}: peer rank {} aborted during {}: {}", rank_, p.t.peer, where, p.reason));
  }
}

void PeerLinks::exchange(std::span<Transfer> transfers, const RoundTag& tag, Deadline deadline, double timeout_s) {
  check_usable();
  std::vector<Progress> progress(transfers.size());
  for (size_t i = 0; i < transfers.size(); ++i) {
    Progress& p = progress[i];
    p.t = transfers[i];
    if (p.t.peer < 0 || p.t.peer >= size_ || p.t.peer == rank_)
      fail("rank {}: exchange with invalid peer {}", rank_, p.t.peer);
    p.out.collective = static_cast<uint8_t>(tag.kind);
    p.out.round = tag.round;
    p.out.call = tag.call;
    p.out.bytes = p.t.send_bytes;
  }
  std::vector<pollfd> fds;
  std::vector<size_t> which;
  for (;;) {
    fds.clear();
    which.clear();
    for (size_t i = 0; i < progress.size(); ++i) {
      const Progress& p = progress[i];
      short events = 0;
      if (!p.send_done()) events |= POLLOUT;
      if (!p.recv_done()) events |= POLLIN;
      if (events == 0) continue;
      fds.push_back({peers_[static_cast<size_t>(p.t.peer)].fd(), events, 0});
      which.push_back(i);
    }
    if (fds.empty()) return;
    const int rc = ::poll(fds.data(), fds.size(), deadline.poll_ms());
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) fail_round(fmt::format("rank {}: poll failed during {}: {}", rank_, describe(tag.kind, tag.call), std::strerror(errno)));
    if (rc == 0) {
      std::string waiting;
      for (size_t i : which) {
        const Progress& p = progress[i];
        waiting += fmt::format("{}{} ({})", waiting.empty() ? "" : ", ", p.t.peer,
                               !p.recv_done() ? (p.got == 0 ? "nothing received" : "partly received")
                                              : "its socket is not accepting data");
      }
      fail_round(fmt::format("rank {}: timed out after {:.1f} s during {} waiting for peer rank{} {}", rank_, timeout_s,
                             describe(tag.kind, tag.call), which.size() > 1 ? "s" : "", waiting));
    }
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Progress& p = progress[which[k]];
      if (!p.recv_done() && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) step_recv(p, tag);
      if (!p.send_done() && (fds[k].revents & (POLLOUT | POLLHUP | POLLERR))) step_send(p, tag);
    }
  }
}

}  // namespace dsv4::dist
