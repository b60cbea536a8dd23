#include "dist/nccl/nccl_communicator.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "dist/nccl/nccl_api.h"

#if DSV4_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace dsv4::dist {

#if DSV4_HAVE_CUDA

namespace {

nccl::ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return nccl::ncclFloat32;
    case DType::BF16: return nccl::ncclBfloat16;
    case DType::I32: return nccl::ncclInt32;
    default: return nccl::ncclUint8;
  }
}

nccl::ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::sum ? nccl::ncclSum : nccl::ncclMax; }

nccl::cudaStream_t as_stream(Stream s) { return static_cast<nccl::cudaStream_t>(s); }

void cuda_check(cudaError_t err, int rank, const char* what) {
  if (err != cudaSuccess) fail("rank {}: {}: {}", rank, what, cudaGetErrorString(err));
}

// Makes `device` current for the scope of one call (restores the caller's).
class DeviceScope {
 public:
  DeviceScope(int device, int rank) {
    cuda_check(cudaGetDevice(&previous_), rank, "cudaGetDevice");
    if (previous_ != device) cuda_check(cudaSetDevice(device), rank, "cudaSetDevice");
  }
  ~DeviceScope() {
    int now = previous_;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(int rank, int size, const NcclId& id, int device)
      : api_(nccl::nccl_api()), rank_(rank), size_(size), device_(device) {
    if (rank < 0 || rank >= size) fail("nccl: rank {} is not in a world of {}", rank, size);
    setenv("NCCL_NVLS_ENABLE", "0", 1);  // NVLink multicast stays off (see the header)
    DeviceScope on(device_, rank_);
    nccl::ncclUniqueId uid;
    std::memcpy(uid.internal, id.data(), sizeof uid.internal);
    check(api_.CommInitRank(&comm_, size, uid, rank), "ncclCommInitRank", fmt::format(" ({} ranks, device {})", size, device));
    cuda_check(cudaMalloc(&scratch_, sizeof(int32_t)), rank_, "cudaMalloc (barrier scratch)");
  }

  ~NcclCommunicator() override {
    if (scratch_ != nullptr) cudaFree(scratch_);
    if (comm_ != nullptr) (failed_ ? api_.CommAbort : api_.CommDestroy)(comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* name() const override { return "nccl"; }

 protected:
  void do_all_reduce(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream) override {
    DeviceScope on(device_, rank_);
    check(api_.AllReduce(send, recv, count, nccl_type(type), nccl_op(op), comm_, as_stream(stream)), "all_reduce");
  }
  void do_all_gather(const void* send, void* recv, size_t count, DType type, Stream stream) override {
    DeviceScope on(device_, rank_);
    check(api_.AllGather(send, recv, count * dtype_size(type), nccl::ncclUint8, comm_, as_stream(stream)), "all_gather");
  }
  void do_reduce_scatter(const void* send, void* recv, size_t count, DType type, ReduceOp op, Stream stream) override {
    DeviceScope on(device_, rank_);
    check(api_.ReduceScatter(send, recv, count, nccl_type(type), nccl_op(op), comm_, as_stream(stream)), "reduce_scatter");
  }
  void do_all_to_all_v(const void* send, std::span<const size_t> send_counts, std::span<const size_t> send_displs,
                       void* recv, std::span<const size_t> recv_counts, std::span<const size_t> recv_displs, DType type,
                       Stream stream) override {
    DeviceScope on(device_, rank_);
    const size_t e = dtype_size(type);
    const auto* in = static_cast<const uint8_t*>(send);
    auto* out = static_cast<uint8_t*>(recv);
    const size_t me = static_cast<size_t>(rank_);
    if (send_counts[me] > 0)
      cuda_check(cudaMemcpyAsync(out + recv_displs[me] * e, in + send_displs[me] * e, send_counts[me] * e,
                                 cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)),
                 rank_, "all_to_all_v: cudaMemcpyAsync of this rank's own block");
    if (size_ == 1) return;
    check(api_.GroupStart(), "all_to_all_v (ncclGroupStart)");
    std::string peers;
    for (int p = 0; p < size_; ++p) {
      const size_t q = static_cast<size_t>(p);
      if (p == rank_) continue;
      if (send_counts[q] > 0) {
        const auto r = api_.Send(in + send_displs[q] * e, send_counts[q] * e, nccl::ncclUint8, p, comm_, as_stream(stream));
        if (r != nccl::ncclSuccess) {
          api_.GroupEnd();
          check(r, "all_to_all_v", fmt::format(" (ncclSend to peer rank {})", p));
        }
      }
      if (recv_counts[q] > 0) {
        const auto r = api_.Recv(out + recv_displs[q] * e, recv_counts[q] * e, nccl::ncclUint8, p, comm_, as_stream(stream));
        if (r != nccl::ncclSuccess) {
          api_.GroupEnd();
          check(r, "all_to_all_v", fmt::format(" (ncclRecv from peer rank {})", p));
        }
      }
      if (send_counts[q] > 0 || recv_counts[q] > 0) peers += fmt::format("{}{}", peers.empty() ? "" : ", ", p);
    }
    check(api_.GroupEnd(), "all_to_all_v", fmt::format(" (grouped send/recv with peer ranks {})", peers.empty() ? "none" : peers));
  }
  void do_broadcast(void* buf, size_t count, DType type, int root, Stream stream) override {
    DeviceScope on(device_, rank_);
    check(api_.Broadcast(buf, buf, count * dtype_size(type), nccl::ncclUint8, root, comm_, as_stream(stream)),
          "broadcast", fmt::format(" (root rank {})", root));
  }
  void do_barrier(Stream stream) override {
    DeviceScope on(device_, rank_);
    check(api_.AllReduce(scratch_, scratch_, 1, nccl::ncclInt32, nccl::ncclSum, comm_, as_stream(stream)), "barrier");
    cuda_check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), rank_, "barrier: cudaStreamSynchronize");
  }

 private:
  void check(nccl::ncclResult_t r, const char* op, const std::string& detail = "") {
    if (r == nccl::ncclSuccess) return;
    failed_ = true;
    const char* last = api_.GetLastError != nullptr ? api_.GetLastError(comm_) : nullptr;
    fail("rank {}: nccl {}{} failed: {}{}{}", rank_, op, detail, api_.GetErrorString(r),
         last != nullptr && *last != '\0' ? ": " : "", last != nullptr ? last : "");
  }

  const nccl::NcclApi& api_;
  int rank_, size_, device_;
  nccl::ncclComm_t comm_ = nullptr;
  void* scratch_ = nullptr;
  bool failed_ = false;
};

}  // namespace

NcclId nccl_unique_id() {
  const nccl::NcclApi& api = nccl::nccl_api();
  nccl::ncclUniqueId uid;
  const auto r = api.GetUniqueId(&uid);
  if (r != nccl::ncclSuccess) fail("ncclGetUniqueId failed: {}", api.GetErrorString(r));
  NcclId id;
  std::memcpy(id.data(), uid.internal, id.size());
  return id;
}

std::unique_ptr<Communicator> make_nccl_communicator(int rank, int size, const NcclId& id, int device) {
  return std::make_unique<NcclCommunicator>(rank, size, id, device);
}

#else  // no CUDA backend in this build

NcclId nccl_unique_id() { fail("this dsv4 was built without the CUDA backend: no NCCL"); }

std::unique_ptr<Communicator> make_nccl_communicator(int, int, const NcclId&, int) {
  fail("this dsv4 was built without the CUDA backend: no NCCL communicator");
}

#endif

std::unique_ptr<Communicator> make_single_rank_nccl_communicator(int device) {
  return make_nccl_communicator(0, 1, nccl_unique_id(), device);
}

std::unique_ptr<Communicator> connect_nccl_communicator(const RendezvousOptions& options, int device) {
  Rendezvous rdv(options);
  std::string payload;
  if (options.rank == 0) {
    const NcclId id = nccl_unique_id();
    payload.assign(id.data(), id.size());
  }
  const RendezvousResult table = rdv.exchange(payload);
  if (table.payloads[0].size() != sizeof(NcclId))
    fail("rank {}: rendezvous: rank 0 sent a {}-byte NCCL id, expected {}", options.rank, table.payloads[0].size(), sizeof(NcclId));
  NcclId id;
  std::memcpy(id.data(), table.payloads[0].data(), id.size());
  return make_nccl_communicator(options.rank, options.world_size, id, device);
}

}  // namespace dsv4::dist
