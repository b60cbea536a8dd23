#include "dist/communicator.h"

#include "core/error.h"

namespace dsv4::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::max: return "max";
  }
  return "?";
}

const char* collective_name(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::all_reduce: return "all_reduce";
    case CollectiveKind::all_gather: return "all_gather";
    case CollectiveKind::reduce_scatter: return "reduce_scatter";
    case CollectiveKind::all_to_all_v: return "all_to_all_v";
    case CollectiveKind::broadcast: return "broadcast";
    case CollectiveKind::barrier: return "barrier";
  }
  return "?";
}

bool reducible(DType type) { return type == DType::F32 || type == DType::BF16 || type == DType::I32; }

namespace {

void check_buffers(const Communicator& c, const char* op, const void* send, const void* recv, size_t count) {
  if (count > 0 && (send == nullptr || recv == nullptr))
    fail("rank {}: {}: null buffer for {} elements", c.rank(), op, count);
}

void check_reducible(const Communicator& c, const char* op, DType type) {
  if (!reducible(type)) fail("rank {}: {}: cannot reduce {} (F32, BF16 or I32)", c.rank(), op, dtype_name(type));
}

}  // namespace

void Communicator::all_reduce(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream) {
  check_buffers(*this, "all_reduce", send, recv, count);
  check_reducible(*this, "all_reduce", type);
  do_all_reduce(send, recv, count, type, op, stream);
}

void Communicator::all_gather(const void* send, void* recv, size_t count, DType type, Stream stream) {
  check_buffers(*this, "all_gather", send, recv, count);
  do_all_gather(send, recv, count, type, stream);
}

void Communicator::reduce_scatter(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream) {
  check_buffers(*this, "reduce_scatter", send, recv, count);
  check_reducible(*this, "reduce_scatter", type);
  do_reduce_scatter(send, recv, count, type, op, stream);
}

void Communicator::all_to_all_v(const void* send, std::span<const size_t> send_counts,
                                std::span<const size_t> send_displs, void* recv, std::span<const size_t> recv_counts,
                                std::span<const size_t> recv_displs, DType type, Stream stream) {
  const size_t n = static_cast<size_t>(size());
  if (send_counts.size() != n || send_displs.size() != n || recv_counts.size() != n || recv_displs.size() != n)
    fail("rank {}: all_to_all_v: counts and displacements need {} entries each (got {}, {}, {}, {})", rank(), n,
         send_counts.size(), send_displs.size(), recv_counts.size(), recv_displs.size());
  size_t sent = 0, received = 0;
  for (size_t p = 0; p < n; ++p) {
    sent += send_counts[p];
    received += recv_counts[p];
  }
  if ((sent > 0 && send == nullptr) || (received > 0 && recv == nullptr))
    fail("rank {}: all_to_all_v: null buffer for {} elements sent, {} received", rank(), sent, received);
  const size_t self = static_cast<size_t>(rank());
  if (send_counts[self] != recv_counts[self])
    fail("rank {}: all_to_all_v: sends {} elements to itself but expects {}", rank(), send_counts[self],
         recv_counts[self]);
  do_all_to_all_v(send, send_counts, send_displs, recv, recv_counts, recv_displs, type, stream);
}

void Communicator::broadcast(void* buf, size_t count, DType type, int root, Stream stream) {
  if (root < 0 || root >= size()) fail("rank {}: broadcast: root {} is not a rank of {}", rank(), root, size());
  check_buffers(*this, "broadcast", buf, buf, count);
  do_broadcast(buf, count, type, root, stream);
}

void Communicator::barrier(Stream stream) { do_barrier(stream); }

}  // namespace dsv4::dist
