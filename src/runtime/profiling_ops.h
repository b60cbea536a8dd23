// An Ops decorator that times every op of the backend it wraps (for `dsv4 bench`'s per-op
// breakdown): while enabled, each op is bracketed by synchronizations and its wall time added to
// its name's total; while disabled it only forwards. Memory entries are never timed. Linear ops
// are split by weight name (wq_a, wo_b, shared experts …), the rest by op.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "backends/ops.h"

namespace dsv4 {

class ProfilingOps final : public Ops {
 public:
  explicit ProfilingOps(Ops& inner) : in_(inner) {}
  struct Stat {
    int64_t calls = 0;
    double seconds = 0;
  };
  void enable(bool on) { on_ = on; }
  void reset() { stats_.clear(); }
  const std::map<std::string, Stat>& stats() const { return stats_; }
  Ops& inner() const { return in_; }

  const char* name() const override { return in_.name(); }
  void* alloc(size_t b) override { return in_.alloc(b); }
  void free(void* p) override { in_.free(p); }
  void upload(void* d, const void* s, size_t b) override { timed("upload", [&] { in_.upload(d, s, b); }); }
  void download(void* d, const void* s, size_t b) override { timed("download", [&] { in_.download(d, s, b); }); }
  void copy(void* d, const void* s, size_t b) override { timed("copy", [&] { in_.copy(d, s, b); }); }
  void fill_zero(void* d, size_t b) override { in_.fill_zero(d, b); }
  void gather_rows(const GatherRowsParams& p) override { timed("gather_rows", [&] { in_.gather_rows(p); }); }
  void synchronize() override { in_.synchronize(); }
  void* native_stream() const override { return in_.native_stream(); }
  bool host_memory() const override { return in_.host_memory(); }
  MemoryInfo memory_info() const override { return in_.memory_info(); }
  LinearWeight prepare_weight(const LinearWeight& w) override { return in_.prepare_weight(w); }
  TensorView prepare_tensor(const TensorView& t) override { return in_.prepare_tensor(t); }
  void fill_random(const RandomFillParams& p) override { in_.fill_random(p); }
  // Graphs only while not timing (a captured step cannot be timed op by op).
  bool graphs_supported() const override { return !on_ && in_.graphs_supported(); }
  void graph_begin() override { in_.graph_begin(); }
  uint64_t graph_end() override { return in_.graph_end(); }
  void graph_replay(uint64_t id) override { in_.graph_replay(id); }
  void graph_release(uint64_t id) override { in_.graph_release(id); }

  using Ops::linear;
  void linear(const LinearArgs& a) override;
  void moe_routed(const MoeArgs& a) override { timed("moe_routed", [&] { in_.moe_routed(a); }); }
  void embed(const int64_t* ids, int64_t T, const TensorView& t, int n, float* X) override {
    timed("embed", [&] { in_.embed(ids, T, t, n, X); });
  }
  void add(float* y, const float* x, int64_t n, float alpha) override { timed("add", [&] { in_.add(y, x, n, alpha); }); }
  void rms_norm(const float* x, int64_t rows, int64_t n, int64_t ld, const float* w, float eps, float* y) override {
    timed("rms_norm", [&] { in_.rms_norm(x, rows, n, ld, w, eps, y); });
  }
  void rope(float* x, int64_t rows, int64_t vecs, int64_t rs, int64_t vs, int64_t off, const int64_t* pos,
            const RopeTable& f, bool inv) override {
    timed("rope", [&] { in_.rope(x, rows, vecs, rs, vs, off, pos, f, inv); });
  }
  void fake_quant_fp8(float* x, int64_t rows, int64_t ld, int64_t c0, int64_t n, int64_t block, bool bf16) override {
    timed("fake_quant_fp8", [&] { in_.fake_quant_fp8(x, rows, ld, c0, n, block, bf16); });
  }
  void fake_quant_nvfp4(float* x, int64_t rows, int64_t n, float s) override {
    timed("fake_quant_nvfp4", [&] { in_.fake_quant_nvfp4(x, rows, n, s); });
  }
  void hadamard_fp4(float* x, int64_t rows, int64_t n) override { timed("hadamard_fp4", [&] { in_.hadamard_fp4(x, rows, n); }); }
  void hc_pre(const float* X, int64_t S, const HcShape& hc, const float* fn, const float* sc, const float* b, float* a,
              float* post, float* comb) override {
    timed("hc_pre", [&] { in_.hc_pre(X, S, hc, fn, sc, b, a, post, comb); });
  }
  void hc_post(const float* f, const float* X, const float* post, const float* comb, int64_t S, const HcShape& hc,
               float* Xo) override {
    timed("hc_post", [&] { in_.hc_post(f, X, post, comb, S, hc, Xo); });
  }
  void hc_head(const float* X, int64_t S, const HcShape& hc, const float* fn, const float* sc, const float* b,
               float* y) override {
    timed("hc_head", [&] { in_.hc_head(X, S, hc, fn, sc, b, y); });
  }
  void compress_pool(const float* kv, const float* g, const float* ape, int64_t S, int r, int64_t Dc, bool ov,
                     float* E) override {
    timed("compress_pool", [&] { in_.compress_pool(kv, g, ape, S, r, Dc, ov, E); });
  }
  void indexer_scores(const float* q, const float* w, const float* k, int64_t S, int64_t nh, int64_t hd, int64_t Ne,
                      const int64_t* pos, int r, float* sc) override {
    timed("indexer_scores", [&] { in_.indexer_scores(q, w, k, S, nh, hd, Ne, pos, r, sc); });
  }
  void topk_indices(const float* sc, int64_t S, int64_t Ne, int64_t k, int32_t* sel) override {
    timed("topk_indices", [&] { in_.topk_indices(sc, S, Ne, k, sel); });
  }
  void sparse_attention(const float* q, const float* k, const int32_t* idx, const float* sink, int64_t S, int64_t H,
                        int64_t D, int64_t Nk, int64_t kw, float scale, float* out) override {
    timed("sparse_attention", [&] { in_.sparse_attention(q, k, idx, sink, S, H, D, Nk, kw, scale, out); });
  }
  void route(const float* l, int64_t S, int64_t E, int64_t k, const float* b, const int64_t* t2e, const int64_t* ids,
             int64_t vocab, float rs, float* sc, int32_t* out, float* w) override {
    timed("route", [&] { in_.route(l, S, E, k, b, t2e, ids, vocab, rs, sc, out, w); });
  }
  void swiglu(const float* g, const float* u, int64_t M, int64_t I, float lim, const float* rw, float* h) override {
    timed("swiglu", [&] { in_.swiglu(g, u, M, I, lim, rw, h); });
  }
  void kv_store(const KvStoreParams& p) override { timed("kv_store", [&] { in_.kv_store(p); }); }
  void key_store(const KeyStoreParams& p) override { timed("key_store", [&] { in_.key_store(p); }); }
  void kv_load(const KvLoadParams& p) override { in_.kv_load(p); }
  void key_load(const KeyLoadParams& p) override { in_.key_load(p); }
  void compress_pool_paged(const CompressPoolParams& p) override {
    timed("compress_pool_paged", [&] { in_.compress_pool_paged(p); });
  }
  void ring_store(const RingStoreParams& p) override { timed("ring_store", [&] { in_.ring_store(p); }); }
  void indexer_topk(const IndexerTopkParams& p) override { timed("indexer_topk", [&] { in_.indexer_topk(p); }); }
  void paged_attention(const PagedAttentionParams& p) override { timed("paged_attention", [&] { in_.paged_attention(p); }); }
  void sample(const SampleArgs& a) override { timed("sample", [&] { in_.sample(a); }); }
  size_t indexer_topk_scratch_bytes(int64_t T, int64_t v) const override { return in_.indexer_topk_scratch_bytes(T, v); }
  size_t paged_attention_scratch_bytes(int64_t T, int64_t H, int64_t D, int64_t W, int64_t c) const override {
    return in_.paged_attention_scratch_bytes(T, H, D, W, c);
  }

 private:
  template <typename Fn>
  void timed(const std::string& op, Fn&& fn) {
    if (!on_) {
      fn();
      return;
    }
    in_.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    in_.synchronize();
    Stat& s = stats_[op];
    ++s.calls;
    s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  Ops& in_;
  bool on_ = false;
  std::map<std::string, Stat> stats_;
};

}  // namespace dsv4
