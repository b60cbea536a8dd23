// The part of NCCL's C API that dsv4 uses, loaded at run time with dlopen: the binary never links
// NCCL, so it starts (and the CPU paths run) on machines without it.
//
// The types below restate nccl.h (2.x; the ABI has been stable since 2.0 for these calls); where
// nccl.h is installed, nccl_api.cpp checks them against it at compile time.
//
// Where libnccl.so.2 is looked for, in order (the first that loads wins):
//   1. $DSV4_NCCL_LIBRARY, when set (a file path; then nothing else is tried);
//   2. every directory of $LD_LIBRARY_PATH;
//   3. the dynamic loader's own search ("libnccl.so.2": rpath, ld.so.cache, /usr/lib...);
//   4. the pip wheels' folders (nvidia-nccl-cu12 / -cu13 put it in site-packages/nvidia/nccl/lib)
//      under $VIRTUAL_ENV, ~/.local, /usr/local/lib/python3*/ and /usr/lib/python3*/.
// When none loads, the error lists every path tried with dlerror()'s reason.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace dsv4::dist::nccl {

using ncclComm_t = struct ncclComm*;
using cudaStream_t = struct CUstream_st*;
constexpr size_t kUniqueIdBytes = 128;
struct ncclUniqueId {
  char internal[kUniqueIdBytes];
};
enum ncclResult_t : int { ncclSuccess = 0, ncclInProgress = 7 };
enum ncclDataType_t : int { ncclUint8 = 1, ncclInt32 = 2, ncclFloat32 = 7, ncclBfloat16 = 9 };
enum ncclRedOp_t : int { ncclSum = 0, ncclMax = 2 };

struct NcclApi {
  std::string path;  // the library that was loaded
  int version = 0;   // ncclGetVersion: major * 10000 + minor * 100 + patch (2.28.9 -> 22809)
  ncclResult_t (*GetVersion)(int*) = nullptr;
  const char* (*GetErrorString)(ncclResult_t) = nullptr;
  const char* (*GetLastError)(ncclComm_t) = nullptr;  // NCCL >= 2.13; may be null
  ncclResult_t (*GetUniqueId)(ncclUniqueId*) = nullptr;
  ncclResult_t (*CommInitRank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*CommDestroy)(ncclComm_t) = nullptr;
  ncclResult_t (*CommAbort)(ncclComm_t) = nullptr;
  ncclResult_t (*AllReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*AllGather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*ReduceScatter)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Send)(const void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Recv)(void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*GroupStart)() = nullptr;
  ncclResult_t (*GroupEnd)() = nullptr;
};

// The candidate paths above, in order, for this process's environment.
std::vector<std::string> nccl_library_candidates();
// Loads the first candidate that opens and has every symbol; throws dsv4::Error naming each
// path tried and why it failed.
NcclApi load_nccl_api(const std::vector<std::string>& candidates);
// nccl_library_candidates() loaded once per process (the error, too, is remembered).
const NcclApi& nccl_api();

}  // namespace dsv4::dist::nccl
