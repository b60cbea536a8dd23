// CUDA graphs of decode steps: one per shape bucket (segments rounded up to a power of two, tokens
// per segment, whether every token's logits are wanted), captured on first use after one eager
// run of the same shape and replayed with the step's plan uploaded to the same addresses (a plan
// buffer that had to grow invalidates the graphs captured over the old one). A step
// whose shape has no bucket (mixed prefill and decode, a segment longer than kMaxGraphTokens,
// more segments than the largest bucket) runs eagerly.
#pragma once

#include <cstdint>
#include <map>
#include <tuple>

namespace dsv4 {

class Ops;

struct StepGraphs {
  static constexpr int64_t kMaxGraphTokens = 5;      // decode, or verify of up to 4 drafts
  static constexpr int64_t kMaxGraphSegments = 256;
  int64_t max_context = 0;  // the longest context the graphs serve (sizes the padded strides)
  struct Entry {
    uint64_t id = 0;
    const float* logits = nullptr;
    const float* X = nullptr;
    const void* staging = nullptr;  // the plan's buffer at capture (Workspace::staging: a new one = capture again)
  };
  // (segments, tokens each, all logits, MTP input (0 none, 1 uploaded, 2 gathered), the stream
  // buffers gathered from and kept into (their addresses: they are part of the captured step)).
  using Key = std::tuple<int64_t, int64_t, bool, int, uintptr_t, uintptr_t>;
  std::map<Key, Entry> graphs;
  int64_t captures = 0, replays = 0;
  Ops* ops = nullptr;  // the backend holding the graphs (released with it)

  explicit StepGraphs(int64_t max_context_tokens) : max_context(max_context_tokens) {}
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;
  static int64_t bucket(int64_t segments) {
    int64_t b = 1;
    while (b < segments) b *= 2;
    return b;
  }
};

}  // namespace dsv4
