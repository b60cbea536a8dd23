// The reference CPU backend: plain fp32 loops, parallel over the default thread pool. Each group
// of entries lives in its own file (cpu_linear.cpp, cpu_norm_rope.cpp, cpu_quant.cpp,
// cpu_hyper_connection.cpp, cpu_compressor.cpp, cpu_attention.cpp, cpu_moe.cpp).
#pragma once

#include "backends/cpu/gemm_kernel.h"
#include "backends/ops.h"
#include "core/thread_pool.h"

namespace dsv4 {

class CpuOps final : public Ops {
 public:
  explicit CpuOps(ThreadPool& pool) : pool_(pool) {}
  const char* name() const override { return "cpu"; }
  ThreadPool& pool() { return pool_; }

  void* alloc(size_t bytes) override;
  void free(void* p) override;
  void upload(void* dst, const void* host_src, size_t bytes) override;
  void download(void* host_dst, const void* src, size_t bytes) override;
  void copy(void* dst, const void* src, size_t bytes) override;
  void fill_zero(void* dst, size_t bytes) override;
  void gather_rows(const GatherRowsParams& p) override;
  void synchronize() override {}
  bool host_memory() const override { return true; }
  LinearWeight prepare_weight(const LinearWeight& w) override { return w; }
  TensorView prepare_tensor(const TensorView& t) override { return t; }
  void fill_random(const RandomFillParams& p) override;

  using Ops::linear;
  void linear(const LinearArgs& a) override;
  void moe_routed(const MoeArgs& a) override;
  void embed(const int64_t* ids, int64_t T, const TensorView& table, int n, float* X) override;
  void add(float* y, const float* x, int64_t n, float alpha) override;
  void rms_norm(const float* x, int64_t rows, int64_t n, int64_t ld, const float* weight, float eps,
                float* y) override;
  void rope(float* x, int64_t rows, int64_t vecs, int64_t row_stride, int64_t vec_stride, int64_t offset,
            const int64_t* positions, const RopeTable& freqs, bool inverse) override;
  void fake_quant_fp8(float* x, int64_t rows, int64_t ld, int64_t c0, int64_t n, int64_t block,
                      bool bf16_out) override;
  void fake_quant_nvfp4(float* x, int64_t rows, int64_t n, float input_scale) override;
  void hadamard_fp4(float* x, int64_t rows, int64_t n) override;
  void hc_pre(const float* X, int64_t S, const HcShape& hc, const float* fn, const float* scale,
              const float* base, float* a_in, float* post, float* comb) override;
  void hc_post(const float* f, const float* X, const float* post, const float* comb, int64_t S,
               const HcShape& hc, float* Xout) override;
  void hc_head(const float* X, int64_t S, const HcShape& hc, const float* fn, const float* scale,
               const float* base, float* y) override;
  void compress_pool(const float* kv, const float* gate, const float* ape, int64_t S, int ratio,
                     int64_t Dc, bool overlap, float* E) override;
  void indexer_scores(const float* q, const float* wts, const float* keys, int64_t S, int64_t nh,
                      int64_t hd, int64_t Ne, const int64_t* positions, int ratio, float* score) override;
  void topk_indices(const float* score, int64_t S, int64_t Ne, int64_t k, int32_t* sel) override;
  void sparse_attention(const float* q, const float* keys, const int32_t* idx, const float* sink,
                        int64_t S, int64_t H, int64_t D, int64_t Nk, int64_t kw, float scale,
                        float* out) override;
  void route(const float* logits, int64_t S, int64_t E, int64_t k, const float* bias,
             const int64_t* tid2eid, const int64_t* token_ids, int64_t vocab, float route_scale, float* scores,
             int32_t* ids, float* weights) override;
  void swiglu(const float* g, const float* u, int64_t M, int64_t I, float limit, const float* row_weight,
              float* h) override;

  void kv_store(const KvStoreParams& p) override;
  void key_store(const KeyStoreParams& p) override;
  void kv_load(const KvLoadParams& p) override;
  void key_load(const KeyLoadParams& p) override;
  void compress_pool_paged(const CompressPoolParams& p) override;
  void ring_store(const RingStoreParams& p) override;
  void indexer_topk(const IndexerTopkParams& p) override;
  void paged_attention(const PagedAttentionParams& p) override;
  void sample(const SampleArgs& a) override;  // cpu_sample.cpp

  // Runs fn(begin, end) over [0, n) in chunks of at least `grain`, spread over the pool.
  void parallel_rows(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  // y[m, j] = Σ_k x[m, k] · W[row0 + j, k] over the exactly dequantized weight.
  void plain_linear(const float* x, int64_t M, int64_t ldx, const LinearWeight& w, int64_t row0, int64_t N, float* y,
                    int64_t ldy);
  ThreadPool& pool_;
};


}  // namespace dsv4
