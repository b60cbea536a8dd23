#include "backends/cuda/cuda_ops.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <map>
#include <mutex>
#include <vector>

#include "backends/cuda/sm90/gemm/linear.h"
#include "backends/cuda/sm90/layer_ops/layer_ops.h"
#include "backends/cuda/sm90/moe/moe_routed.h"
#include "backends/cuda/sm90/paged/compress_pool.h"
#include "backends/cuda/sm90/paged/gather_rows.h"
#include "backends/cuda/sm90/paged/indexer_topk.h"
#include "backends/cuda/sm90/paged/kv_store.h"
#include "backends/cuda/sm90/paged/paged_attention.h"
#include "backends/cuda/sm90/random/fill_random.h"
#include "backends/cuda/sm90/sample/sample.h"
#include "core/error.h"

namespace dsv4::cuda {

namespace {

void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("cuda: {}: {}", what, cudaGetErrorString(e));
}

// A device buffer that grows (scratch of the ops that need one). Growth happens in eager steps;
// a captured graph keeps pointing at the buffer it was captured with, so an outgrown buffer is
// retired, not freed, until the backend goes away.
class Scratch {
 public:
  ~Scratch() {
    for (void* p : retired_) cudaFree(p);
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  void* get(size_t bytes) {
    if (bytes <= size_) return ptr_;
    if (ptr_ != nullptr) retired_.push_back(ptr_);
    ptr_ = nullptr;
    const size_t want = std::max(bytes, size_ * 2);
    cuda_check(cudaMalloc(&ptr_, want), "scratch alloc");
    size_ = want;
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
  std::vector<void*> retired_;
};

cuda::ActQuant act_of(dsv4::ActQuant a) {
  switch (a) {
    case dsv4::ActQuant::Fp8Block128: return cuda::ActQuant::Fp8Block128;
    case dsv4::ActQuant::Nvfp4: return cuda::ActQuant::Nvfp4;
    default: return cuda::ActQuant::None;
  }
}

class CudaOps final : public Ops {
 public:
  CudaOps(int device, UploadProgress progress) : device_(device), progress_(std::move(progress)) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) fail("cuda: no usable CUDA device");
    if (device < 0 || device >= n) fail("cuda: device {} outside [0, {})", device, n);
    cuda_check(cudaSetDevice(device), "set device");
    cudaDeviceProp prop{};
    cuda_check(cudaGetDeviceProperties(&prop, device), "device properties");
    if (prop.major != 9) fail("cuda: device {} ({}) is sm_{}{}; this backend is built for Hopper (sm_90a)", device, prop.name, prop.major, prop.minor);
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
    // The skinny-fp32 act-none linears (2.1x faster batch-1 steps on the H200) at every M;
    // DSV4_CUDA_SKINNY=0 puts them back on simt-fp32 (an A/B switch for benchmarks).
    const char* skinny = std::getenv("DSV4_CUDA_SKINNY");
    skinny_ = !(skinny != nullptr && std::string(skinny) == "0");
  }
  ~CudaOps() override {
    for (cudaGraphExec_t g : graphs_)
      if (g != nullptr) cudaGraphExecDestroy(g);
    for (auto& [_, t] : expert_tables_) free_expert_table(&t);
    for (void* p : weights_) cudaFree(p);
    for (int i = 0; i < 2; ++i) {
      if (staging_[i] != nullptr) {
        cudaEventSynchronize(staged_[i]);
        cudaFreeHost(staging_[i]);
        cudaEventDestroy(staged_[i]);
      }
    }
    cudaStreamDestroy(stream_);
  }
  const char* name() const override { return "cuda"; }
  cudaStream_t stream() const { return stream_; }
  void* native_stream() const override { return stream_; }

  // ---- memory ----
  void* alloc(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 256 : bytes);
    if (e != cudaSuccess) fail("cuda: out of device memory allocating {} bytes: {}", bytes, cudaGetErrorString(e));
    return p;
  }
  void free(void* p) override {
    if (p != nullptr) cudaFree(p);
  }
  void upload(void* dst, const void* src, size_t bytes) override {
    if (bytes != 0) cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
  }
  void download(void* dst, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
    cuda_check(cudaStreamSynchronize(stream_), "download sync");
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    if (bytes != 0) cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
  }
  void fill_zero(void* dst, size_t bytes) override {
    if (bytes != 0) cuda_check(cudaMemsetAsync(dst, 0, bytes, stream_), "memset");
  }
  void synchronize() override {
    cuda_check(cudaStreamSynchronize(stream_), "synchronize");
    cuda_check(cudaGetLastError(), "last error");
  }
  bool host_memory() const override { return false; }
  MemoryInfo memory_info() const override {
    size_t free_bytes = 0, total_bytes = 0;
    cuda_check(cudaSetDevice(device_), "set device");
    cuda_check(cudaMemGetInfo(&free_bytes, &total_bytes), "memory info");
    return {free_bytes, total_bytes};
  }

  TensorView prepare_tensor(const TensorView& t) override {
    if (t.data == nullptr) return t;
    if (t.device == Device::Cuda) return t;
    TensorView d = t;
    void* p = alloc(t.nbytes());
    weights_.push_back(p);
    upload_overlapped(static_cast<uint8_t*>(p), static_cast<const uint8_t*>(t.data), t.nbytes());
    d.data = p;
    d.device = Device::Cuda;
    uploaded_bytes_ += t.nbytes();
    ++uploaded_tensors_;
    if (progress_) progress_(uploaded_bytes_, uploaded_tensors_);
    return d;
  }
  bool graphs_supported() const override { return true; }
  void graph_begin() override {
    cuda_check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "graph capture begin");
  }
  uint64_t graph_end() override {
    cudaGraph_t g = nullptr;
    cuda_check(cudaStreamEndCapture(stream_, &g), "graph capture end");
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    cuda_check(e, "graph instantiate");
    graphs_.push_back(exec);
    return uint64_t(graphs_.size() - 1);
  }
  void graph_replay(uint64_t id) override {
    if (id >= graphs_.size() || graphs_[id] == nullptr) fail("cuda: no graph {}", id);
    cuda_check(cudaGraphLaunch(graphs_[id], stream_), "graph launch");
  }
  void graph_release(uint64_t id) override {
    if (id < graphs_.size() && graphs_[id] != nullptr) {
      cudaGraphExecDestroy(graphs_[id]);
      graphs_[id] = nullptr;
    }
  }
  void fill_random(const RandomFillParams& p) override {
    if (p.kind == RandomFill::Mxfp4 && p.cols % 32 != 0) fail("fill_random: MXFP4 needs cols % 32 == 0, got {}", p.cols);
    cuda_check(launch_fill_random(p, stream_), "fill_random");
  }
  LinearWeight prepare_weight(const LinearWeight& w) override {
    LinearWeight d = w;
    d.weight = prepare_tensor(w.weight);
    d.scale = prepare_tensor(w.scale);
    return d;
  }

  // ---- GEMMs ----
  using Ops::linear;
  void linear(const LinearArgs& a) override {
    LinearParams p;
    p.skinny = skinny_;
    p.x = a.x;
    p.M = a.M;
    p.ldx = a.ldx;
    p.w = a.w;
    p.row0 = a.row0;
    p.N = a.N;
    p.y = a.y;
    p.ldy = a.ldy;
    p.alpha = a.alpha;
    p.accumulate = a.accumulate;
    p.act_quant = act_of(a.act);
    p.groups = a.groups;
    if (p.act_quant == cuda::ActQuant::Fp8Block128) {
      p.workspace_bytes = linear_workspace_bytes(a.M, a.w->in * a.groups);
      p.workspace = linear_scratch_.get(p.workspace_bytes);
    }
    check(cuda::linear(p, stream_), a.w != nullptr ? a.w->name.c_str() : "linear");
  }
  void moe_routed(const MoeArgs& a) override {
    MoeRoutedParams p;
    p.expert0 = a.expert0;  // expert parallelism: ids of other ranks' experts are skipped
    p.x = a.x;
    p.T = a.T;
    p.ids = a.ids;
    p.weights = a.weights;
    p.k = a.k;
    p.table = &expert_table(a.experts, a.E);
    p.swiglu_limit = a.swiglu_limit;
    p.official = a.act != dsv4::ActQuant::None;
    p.y = a.y;
    p.workspace_bytes = moe_workspace_bytes(a.T, a.k, a.d, p.table->I, a.E);
    p.workspace = moe_scratch_.get(p.workspace_bytes);
    check(cuda::moe_routed(p, stream_), "moe_routed");
  }
  void embed(const int64_t* ids, int64_t T, const TensorView& table, int n, float* X) override {
    if (table.dtype != DType::BF16 || table.ndim() != 2) fail("embed: table must be BF16 [vocab, d]");
    EmbedParams p;
    p.table = table.as<uint16_t>();
    p.ids = ids;
    p.X = X;
    p.T = T;
    p.vocab = table.dim(0);
    p.d = table.dim(1);
    p.n = n;
    check(cuda::embed(p, stream_), "embed");
  }
  void add(float* y, const float* x, int64_t n, float alpha) override {
    check(cuda::add(AddParams{y, x, n, alpha}, stream_), "add");
  }

  // ---- normalisation, RoPE, quantization points ----
  void rms_norm(const float* x, int64_t rows, int64_t n, int64_t ld, const float* weight, float eps,
                float* y) override {
    check(cuda::rms_norm(RmsNormParams{x, y, weight, rows, n, ld, eps}, stream_), "rms_norm");
  }
  void rope(float* x, int64_t rows, int64_t vecs, int64_t row_stride, int64_t vec_stride, int64_t offset,
            const int64_t* positions, const RopeTable& freqs, bool inverse) override {
    check(cuda::rope(RopeParams{x, positions, freqs.inv_freq, rows, vecs, row_stride, vec_stride, offset,
                                freqs.rope_dim, inverse},
                     stream_),
          "rope");
  }
  void fake_quant_fp8(float* x, int64_t rows, int64_t ld, int64_t c0, int64_t n, int64_t block,
                      bool bf16_out) override {
    check(cuda::fake_quant_fp8(FakeQuantFp8Params{x, rows, ld, c0, n, block, bf16_out}, stream_), "fake_quant_fp8");
  }
  void fake_quant_nvfp4(float* x, int64_t rows, int64_t n, float input_scale) override {
    check(cuda::fake_quant_nvfp4(FakeQuantNvfp4Params{x, rows, n, input_scale}, stream_), "fake_quant_nvfp4");
  }
  void hadamard_fp4(float* x, int64_t rows, int64_t n) override {
    check(cuda::hadamard_fp4(HadamardFp4Params{x, rows, n}, stream_), "hadamard_fp4");
  }

  // ---- mHC ----
  void hc_pre(const float* X, int64_t S, const HcShape& hc, const float* fn, const float* scale, const float* base,
              float* a_in, float* post, float* comb) override {
    HcPreParams p;
    p.X = X;
    p.fn = fn;
    p.scale = scale;
    p.base = base;
    p.a_in = a_in;
    p.post = post;
    p.comb = comb;
    p.workspace_bytes = hc_pre_workspace_bytes(S, hc.d);
    p.workspace = hc_scratch_.get(p.workspace_bytes);
    p.S = S;
    p.d = hc.d;
    p.n = hc.n;
    p.norm_eps = hc.norm_eps;
    p.hc_eps = hc.hc_eps;
    p.sinkhorn_iters = hc.sinkhorn_iters;
    check(cuda::hc_pre(p, stream_), "hc_pre");
  }
  void hc_post(const float* f, const float* X, const float* post, const float* comb, int64_t S, const HcShape& hc,
               float* Xout) override {
    check(cuda::hc_post(HcPostParams{f, X, post, comb, Xout, S, hc.d, hc.n}, stream_), "hc_post");
  }
  void hc_head(const float* X, int64_t S, const HcShape& hc, const float* fn, const float* scale, const float* base,
               float* y) override {
    HcHeadParams p;
    p.X = X;
    p.fn = fn;
    p.scale = scale;
    p.base = base;
    p.y = y;
    p.workspace_bytes = hc_head_workspace_bytes(S, hc.d);
    p.workspace = hc_scratch_.get(p.workspace_bytes);
    p.S = S;
    p.d = hc.d;
    p.n = hc.n;
    p.norm_eps = hc.norm_eps;
    p.hc_eps = hc.hc_eps;
    check(cuda::hc_head(p, stream_), "hc_head");
  }

  // ---- compressor, indexer, attention over contiguous keys ----
  void compress_pool(const float* kv, const float* gate, const float* ape, int64_t S, int ratio, int64_t Dc,
                     bool overlap, float* E) override {
    check(cuda::compress_pool(DenseCompressPoolParams{kv, gate, ape, E, S, Dc, ratio, overlap}, stream_),
          "compress_pool");
  }
  void indexer_scores(const float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, const int64_t*,
                      int, float*) override {
    fail("cuda: indexer_scores over contiguous keys is the CPU oracle's op; this backend runs indexer_topk over "
         "the paged keys");
  }
  void topk_indices(const float* score, int64_t S, int64_t Ne, int64_t k, int32_t* sel) override {
    TopkIndicesParams p;
    p.score = score;
    p.sel = sel;
    p.S = S;
    p.Ne = Ne;
    p.k = k;
    check(cuda::topk_indices(p, stream_), "topk_indices");
  }
  void sparse_attention(const float*, const float*, const int32_t*, const float*, int64_t, int64_t, int64_t,
                        int64_t, int64_t, float, float*) override {
    fail("cuda: sparse_attention over contiguous keys is the CPU oracle's op; this backend runs paged_attention");
  }

  // ---- MoE ----
  void route(const float* logits, int64_t S, int64_t E, int64_t k, const float* bias, const int64_t* tid2eid,
             const int64_t* token_ids, int64_t vocab, float route_scale, float* scores, int32_t* ids,
             float* weights) override {
    RouteParams p;
    p.logits = logits;
    p.bias = bias;
    p.tid2eid = tid2eid;
    p.token_ids = token_ids;
    p.vocab = vocab;
    p.S = S;
    p.E = E;
    p.k = k;
    p.route_scale = route_scale;
    p.scores = scores;
    p.ids = ids;
    p.weights = weights;
    check(cuda::route(p, stream_), "route");
  }
  void swiglu(const float* g, const float* u, int64_t M, int64_t I, float limit, const float* row_weight,
              float* h) override {
    check(cuda::swiglu(SwigluParams{g, u, row_weight, h, M, I, limit}, stream_), "swiglu");
  }

  // ---- the paged cache ----
  void kv_store(const KvStoreParams& p) override { check(cuda::kv_store(p, stream_), "kv_store"); }
  void key_store(const KeyStoreParams& p) override { check(cuda::key_store(p, stream_), "key_store"); }
  void kv_load(const KvLoadParams& p) override { check(cuda::kv_load(p, stream_), "kv_load"); }
  void key_load(const KeyLoadParams& p) override { check(cuda::key_load(p, stream_), "key_load"); }
  void compress_pool_paged(const CompressPoolParams& p) override {
    check(cuda::compress_pool_paged(p, stream_), "compress_pool_paged");
  }
  void ring_store(const RingStoreParams& p) override { check(cuda::ring_store(p, stream_), "ring_store"); }
  void gather_rows(const GatherRowsParams& p) override { check(cuda::gather_rows(p, stream_), "gather_rows"); }
  void indexer_topk(const IndexerTopkParams& p) override { check(cuda::indexer_topk(p, stream_), "indexer_topk"); }
  void paged_attention(const PagedAttentionParams& p) override {
    check(cuda::paged_attention(p, stream_), "paged_attention");
  }
  // ---- sampling ----
  void sample(const SampleArgs& a) override {
    const size_t bytes = cuda::sample_scratch_bytes(a.R, a.V);
    check(cuda::sample(a, bytes > 0 ? sample_scratch_.get(bytes) : nullptr, bytes, stream_), "sample");
  }
  size_t indexer_topk_scratch_bytes(int64_t T, int64_t max_visible) const override {
    return cuda::indexer_topk_scratch_bytes(T, max_visible);
  }
  size_t paged_attention_scratch_bytes(int64_t T, int64_t H, int64_t D, int64_t Wn, int64_t comp_stride) const override {
    return cuda::paged_attention_scratch_bytes(T, H, D, Wn, comp_stride);
  }

 private:
  // Host -> device through two pinned staging buffers: while one is copied to the device, the
  // next piece of the source (the mmapped checkpoint: this is where its pages are read) fills the
  // other, so reading the checkpoint overlaps the transfer.
  void upload_overlapped(uint8_t* dst, const uint8_t* src, size_t bytes) {
    constexpr size_t kPiece = size_t(32) << 20;
    if (staging_[0] == nullptr) {
      for (int i = 0; i < 2; ++i) {
        cuda_check(cudaMallocHost(&staging_[i], kPiece), "pinned staging buffer");
        cuda_check(cudaEventCreateWithFlags(&staged_[i], cudaEventDisableTiming), "staging event");
        cuda_check(cudaEventRecord(staged_[i], stream_), "staging event");
      }
    }
    for (size_t off = 0, i = 0; off < bytes; off += kPiece, i ^= 1) {
      const size_t n = std::min(kPiece, bytes - off);
      cuda_check(cudaEventSynchronize(staged_[i]), "staging wait");  // its previous copy is done
      std::memcpy(staging_[i], src + off, n);
      cuda_check(cudaMemcpyAsync(dst + off, staging_[i], n, cudaMemcpyHostToDevice, stream_), "weight upload");
      cuda_check(cudaEventRecord(staged_[i], stream_), "staging event");
    }
  }

  const ExpertTable& expert_table(const ExpertWeights* experts, int64_t E) {
    auto it = expert_tables_.find(experts);
    if (it != expert_tables_.end()) return it->second;
    std::vector<ExpertWeightsView> views(static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e) views[size_t(e)] = {&experts[e].w1, &experts[e].w3, &experts[e].w2};
    ExpertTable t;
    check(prepare_expert_table(views.data(), E, &t), "moe expert table");
    return expert_tables_.emplace(experts, t).first->second;
  }

  int device_;
  bool skinny_ = true;  // DSV4_CUDA_SKINNY=0 turns it off
  UploadProgress progress_;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> weights_;
  uint64_t uploaded_bytes_ = 0;
  int64_t uploaded_tensors_ = 0;
  std::map<const ExpertWeights*, ExpertTable> expert_tables_;
  std::vector<cudaGraphExec_t> graphs_;
  void* staging_[2] = {nullptr, nullptr};
  cudaEvent_t staged_[2] = {nullptr, nullptr};
  Scratch linear_scratch_, moe_scratch_, hc_scratch_, sample_scratch_;
};

}  // namespace

std::unique_ptr<Ops> make_cuda_ops(int device, UploadProgress progress) {
  return std::make_unique<CudaOps>(device, std::move(progress));
}

void* cuda_stream(Ops& ops) {
  auto* c = dynamic_cast<CudaOps*>(&ops);
  return c != nullptr ? static_cast<void*>(c->stream()) : nullptr;
}

}  // namespace dsv4::cuda
