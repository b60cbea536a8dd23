#include "dist/tcp_communicator.h"

#include <cstring>

#include "core/error.h"
#include "dist/host_reduce.h"
#include "dist/tcp_mesh.h"

namespace dsv4::dist {

struct TcpCommunicator::Call {
  RoundTag tag;
  Deadline deadline;
};

namespace {

// Slice starts for `count` elements over `world` ranks: rank p owns [b[p], b[p+1]).
std::vector<size_t> slice_starts(size_t count, int world) {
  std::vector<size_t> b(static_cast<size_t>(world) + 1);
  for (int p = 0; p <= world; ++p) b[static_cast<size_t>(p)] = count / static_cast<size_t>(world) * static_cast<size_t>(p) +
      std::min(count % static_cast<size_t>(world), static_cast<size_t>(p));
  return b;
}

void copy_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes > 0 && dst != src) std::memmove(dst, src, bytes);
}

}  // namespace

TcpCommunicator::TcpCommunicator(int rank, int size, std::vector<Socket> peers, double timeout_s)
    : links_(rank, size, std::move(peers)), timeout_s_(timeout_s) {
  if (!(timeout_s > 0)) fail("rank {}: the communicator timeout must be positive (got {} s)", rank, timeout_s);
}

TcpCommunicator::Call TcpCommunicator::begin(CollectiveKind kind) {
  links_.check_usable();
  Call c;
  c.tag.kind = kind;
  c.tag.call = calls_++;
  c.tag.round = 0;
  c.deadline = Deadline::in(timeout_s_);
  return c;
}

void TcpCommunicator::round(Call& call, std::vector<Transfer>& transfers) {
  links_.exchange(transfers, call.tag, call.deadline, timeout_s_);
  ++call.tag.round;
}

void TcpCommunicator::reduce_slices(Call& call, const uint8_t* send, uint8_t* out, const std::vector<size_t>& b,
                                    DType type, ReduceOp op) {
  const int me = rank(), world = size();
  const size_t elem = dtype_size(type);
  const size_t mine = b[static_cast<size_t>(me) + 1] - b[static_cast<size_t>(me)];
  std::vector<uint8_t> theirs(static_cast<size_t>(world) * mine * elem);
  std::vector<Transfer> t;
  for (int p = 0; p < world; ++p) {
    if (p == me) continue;
    const size_t pb = b[static_cast<size_t>(p)], pn = b[static_cast<size_t>(p) + 1] - pb;
    t.push_back({p, true, send + pb * elem, pn * elem, true, theirs.data() + static_cast<size_t>(p) * mine * elem, mine * elem});
  }
  round(call, t);
  std::vector<const void*> inputs(static_cast<size_t>(world));
  for (int p = 0; p < world; ++p)
    inputs[static_cast<size_t>(p)] = p == me ? static_cast<const void*>(send + b[static_cast<size_t>(me)] * elem)
                                             : theirs.data() + static_cast<size_t>(p) * mine * elem;
  reduce_in_rank_order(inputs, out, mine, type, op);
}

void TcpCommunicator::gather_slices(Call& call, uint8_t* buf, const std::vector<size_t>& b, size_t elem) {
  const int me = rank(), world = size();
  const size_t mb = b[static_cast<size_t>(me)], mn = b[static_cast<size_t>(me) + 1] - mb;
  std::vector<Transfer> t;
  for (int p = 0; p < world; ++p) {
    if (p == me) continue;
    const size_t pb = b[static_cast<size_t>(p)], pn = b[static_cast<size_t>(p) + 1] - pb;
    t.push_back({p, true, buf + mb * elem, mn * elem, true, buf + pb * elem, pn * elem});
  }
  round(call, t);
}

void TcpCommunicator::do_all_reduce(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream) {
  Call call = begin(CollectiveKind::all_reduce);
  if (size() == 1) {
    // Same path as every slice owner: one rounding of the (single) contribution.
    const void* in[] = {send};
    reduce_in_rank_order(in, recv, count, type, op);
    return;
  }
  const std::vector<size_t> b = slice_starts(count, size());
  const size_t elem = dtype_size(type);
  auto* out = static_cast<uint8_t*>(recv);
  reduce_slices(call, static_cast<const uint8_t*>(send), out + b[static_cast<size_t>(rank())] * elem, b, type, op);
  gather_slices(call, out, b, elem);
}

void TcpCommunicator::do_reduce_scatter(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream) {
  Call call = begin(CollectiveKind::reduce_scatter);
  std::vector<size_t> b(static_cast<size_t>(size()) + 1);
  for (size_t p = 0; p < b.size(); ++p) b[p] = p * count;
  reduce_slices(call, static_cast<const uint8_t*>(send), static_cast<uint8_t*>(recv), b, type, op);
}

void TcpCommunicator::do_all_gather(const void* send, void* recv, size_t count, DType type, Stream) {
  Call call = begin(CollectiveKind::all_gather);
  const size_t elem = dtype_size(type);
  auto* out = static_cast<uint8_t*>(recv);
  copy_bytes(out + static_cast<size_t>(rank()) * count * elem, send, count * elem);
  if (size() == 1) return;
  std::vector<size_t> b(static_cast<size_t>(size()) + 1);
  for (size_t p = 0; p < b.size(); ++p) b[p] = p * count;
  gather_slices(call, out, b, elem);
}

void TcpCommunicator::do_all_to_all_v(const void* send, std::span<const size_t> send_counts,
                                      std::span<const size_t> send_displs, void* recv,
                                      std::span<const size_t> recv_counts, std::span<const size_t> recv_displs,
                                      DType type, Stream) {
  Call call = begin(CollectiveKind::all_to_all_v);
  const size_t elem = dtype_size(type);
  const auto* in = static_cast<const uint8_t*>(send);
  auto* out = static_cast<uint8_t*>(recv);
  const size_t me = static_cast<size_t>(rank());
  if (send_counts[me] > 0) copy_bytes(out + recv_displs[me] * elem, in + send_displs[me] * elem, send_counts[me] * elem);
  if (size() == 1) return;
  std::vector<Transfer> t;
  for (int p = 0; p < size(); ++p) {
    if (p == rank()) continue;
    const size_t q = static_cast<size_t>(p);
    t.push_back({p, true, in == nullptr ? nullptr : in + send_displs[q] * elem, send_counts[q] * elem, true,
                 out == nullptr ? nullptr : out + recv_displs[q] * elem, recv_counts[q] * elem});
  }
  round(call, t);
}

void TcpCommunicator::do_broadcast(void* buf, size_t count, DType type, int root, Stream) {
  Call call = begin(CollectiveKind::broadcast);
  if (size() == 1) return;
  const size_t bytes = count * dtype_size(type);
  std::vector<Transfer> t;
  if (rank() == root) {
    for (int p = 0; p < size(); ++p)
      if (p != root) t.push_back({p, true, buf, bytes, false, nullptr, 0});
  } else {
    t.push_back({root, false, nullptr, 0, true, buf, bytes});
  }
  round(call, t);
}

void TcpCommunicator::do_barrier(Stream) {
  Call call = begin(CollectiveKind::barrier);
  std::vector<Transfer> t;
  for (int p = 0; p < size(); ++p)
    if (p != rank()) t.push_back({p, true, nullptr, 0, true, nullptr, 0});
  round(call, t);
}

std::unique_ptr<TcpCommunicator> connect_tcp_communicator(const RendezvousOptions& options, double timeout_s) {
  Rendezvous rdv(options);
  const int world = options.world_size, rank = options.rank;
  if (world == 1) {
    std::vector<Socket> none(1);
    return std::make_unique<TcpCommunicator>(0, 1, std::move(none), timeout_s);
  }
  Socket listener = listen_tcp({rdv.local_host(), 0});
  const RendezvousResult table = rdv.exchange(std::to_string(local_port(listener)));
  std::vector<HostPort> addresses;
  for (int p = 0; p < world; ++p)
    addresses.push_back({table.hosts[static_cast<size_t>(p)], std::stoi(table.payloads[static_cast<size_t>(p)])});
  std::vector<Socket> peers = connect_mesh(rank, addresses, listener, table.token, Deadline::in(options.timeout_s));
  return std::make_unique<TcpCommunicator>(rank, world, std::move(peers), timeout_s);
}

}  // namespace dsv4::dist
