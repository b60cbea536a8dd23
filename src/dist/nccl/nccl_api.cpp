#include "dist/nccl/nccl_api.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>
#include <mutex>
#include <optional>

#include "core/error.h"

#if DSV4_HAVE_CUDA && __has_include(<nccl.h>)  // nccl.h includes the CUDA runtime headers
#include <nccl.h>
// The restated ABI must match the installed header.
static_assert(sizeof(ncclUniqueId) == dsv4::dist::nccl::kUniqueIdBytes);
static_assert(static_cast<int>(::ncclUint8) == dsv4::dist::nccl::ncclUint8 && static_cast<int>(::ncclInt32) == dsv4::dist::nccl::ncclInt32 &&
              static_cast<int>(::ncclFloat32) == dsv4::dist::nccl::ncclFloat32 && static_cast<int>(::ncclBfloat16) == dsv4::dist::nccl::ncclBfloat16);
static_assert(static_cast<int>(::ncclSum) == dsv4::dist::nccl::ncclSum && static_cast<int>(::ncclMax) == dsv4::dist::nccl::ncclMax);
static_assert(static_cast<int>(::ncclSuccess) == dsv4::dist::nccl::ncclSuccess && static_cast<int>(::ncclInProgress) == dsv4::dist::nccl::ncclInProgress);
#endif

namespace dsv4::dist::nccl {

namespace {

constexpr const char* kLibrary = "libnccl.so.2";

void add_glob(const std::string& pattern, std::vector<std::string>& out) {
  glob_t g{};
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  globfree(&g);
}

template <typename Fn>
bool bind(void* lib, const char* name, Fn*& fn, std::string* missing) {
  fn = reinterpret_cast<Fn*>(dlsym(lib, name));
  if (fn == nullptr) *missing += (missing->empty() ? "" : ", ") + std::string(name);
  return fn != nullptr;
}

}  // namespace

std::vector<std::string> nccl_library_candidates() {
  std::vector<std::string> out;
  if (const char* explicit_path = std::getenv("DSV4_NCCL_LIBRARY"); explicit_path != nullptr && *explicit_path != '\0')
    return {explicit_path};
  if (const char* ld = std::getenv("LD_LIBRARY_PATH")) {
    std::string dirs = ld;
    size_t start = 0;
    while (start <= dirs.size()) {
      const size_t end = std::min(dirs.find(':', start), dirs.size());
      if (end > start) out.push_back(dirs.substr(start, end - start) + "/" + kLibrary);
      start = end + 1;
    }
  }
  out.emplace_back(kLibrary);
  const std::string wheel = std::string("/nvidia/nccl/lib/") + kLibrary;
  if (const char* venv = std::getenv("VIRTUAL_ENV")) add_glob(std::string(venv) + "/lib/python3*/site-packages" + wheel, out);
  if (const char* home = std::getenv("HOME")) add_glob(std::string(home) + "/.local/lib/python3*/site-packages" + wheel, out);
  for (const char* root : {"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
                           "/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages", "/opt/conda/lib/python3*/site-packages"})
    add_glob(std::string(root) + wheel, out);
  return out;
}

NcclApi load_nccl_api(const std::vector<std::string>& candidates) {
  std::string tried;
  for (const std::string& path : candidates) {
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = dlerror();
      tried += fmt::format("\n  {}: {}", path, why != nullptr ? why : "cannot open");
      continue;
    }
    NcclApi api;
    api.path = path;
    std::string missing;
    bind(lib, "ncclGetVersion", api.GetVersion, &missing);
    bind(lib, "ncclGetErrorString", api.GetErrorString, &missing);
    bind(lib, "ncclGetUniqueId", api.GetUniqueId, &missing);
    bind(lib, "ncclCommInitRank", api.CommInitRank, &missing);
    bind(lib, "ncclCommDestroy", api.CommDestroy, &missing);
    bind(lib, "ncclCommAbort", api.CommAbort, &missing);
    bind(lib, "ncclAllReduce", api.AllReduce, &missing);
    bind(lib, "ncclAllGather", api.AllGather, &missing);
    bind(lib, "ncclReduceScatter", api.ReduceScatter, &missing);
    bind(lib, "ncclBroadcast", api.Broadcast, &missing);
    bind(lib, "ncclSend", api.Send, &missing);
    bind(lib, "ncclRecv", api.Recv, &missing);
    bind(lib, "ncclGroupStart", api.GroupStart, &missing);
    bind(lib, "ncclGroupEnd", api.GroupEnd, &missing);
    api.GetLastError = reinterpret_cast<const char* (*)(ncclComm_t)>(dlsym(lib, "ncclGetLastError"));
    if (!missing.empty()) {
      tried += fmt::format("\n  {}: loaded, but lacks {}", path, missing);
      dlclose(lib);
      continue;
    }
    if (api.GetVersion(&api.version) != ncclSuccess || api.version < 20900) {
      tried += fmt::format("\n  {}: NCCL version {} is older than 2.9 (grouped send/recv in CUDA graphs)", path, api.version);
      dlclose(lib);
      continue;
    }
    return api;  // the handle stays open for the life of the process
  }
  fail("cannot load NCCL ({}); tried:{}\nInstall NCCL (e.g. pip install nvidia-nccl-cu13) and put its lib folder on "
       "LD_LIBRARY_PATH, or set DSV4_NCCL_LIBRARY to the file",
       kLibrary, tried.empty() ? " nothing" : tried);
}

const NcclApi& nccl_api() {
  static std::once_flag once;
  static std::optional<NcclApi> api;
  static std::string error;
  std::call_once(once, [] {
    try {
      api = load_nccl_api(nccl_library_candidates());
    } catch (const Error& e) {
      error = e.what();
    }
  });
  if (!api) throw Error(error);
  return *api;
}

}  // namespace dsv4::dist::nccl
