// The activations of a forward call: a bump allocator over chunks of backend memory. reset()
// starts over from the first chunk, so the same sequence of requests yields the same addresses
// (what CUDA-graph replay needs). The engine reserves one arena at start-up, sized for its
// largest step (Engine: a profile step plus the context-dependent bounds); a request that still
// does not fit adds a chunk (kept) and counts as a growth, which the engine reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/ops.h"

namespace dsv4 {

class Workspace {
 public:
  explicit Workspace(Ops& ops, size_t chunk_bytes = size_t(64) << 20);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  void* bytes(size_t n);
  float* floats(int64_t n) { return static_cast<float*>(bytes(size_t(n) * sizeof(float))); }
  int32_t* ints(int64_t n) { return static_cast<int32_t*>(bytes(size_t(n) * sizeof(int32_t))); }
  int64_t* longs(int64_t n) { return static_cast<int64_t*>(bytes(size_t(n) * sizeof(int64_t))); }
  void reset();
  // Allocates `bytes` as the first chunk (before any other request). Throws when chunks exist.
  void reserve(size_t bytes);
  // The most bytes handed out between two resets so far; chunks added after reserve().
  size_t peak() const { return peak_; }
  int64_t growths() const { return growths_; }
  // Everything requested after mark() is given back by rewind(mark).
  struct Mark {
    size_t chunk = 0, offset = 0, used = 0;
  };
  Mark mark() const { return {current_, offset_, used_}; }
  void rewind(const Mark& m) {
    current_ = m.chunk;
    offset_ = m.offset;
    used_ = m.used;
  }
  // The step's one host -> backend upload (its plan and what travels with it) lands here: a buffer
  // apart from the chunks that keeps its address from step to step unless a step needs more (it
  // then grows; CUDA graphs captured over the old one are captured again, model/step_graphs.h).
  void* staging(size_t n);
  const void* staging_base() const { return staging_; }
  Ops& ops() const { return ops_; }
  // Bytes handed out since the last reset / the most ever held.
  size_t used() const { return used_; }
  size_t capacity() const;

 private:
  struct Chunk {
    void* ptr = nullptr;
    size_t size = 0;
  };
  Ops& ops_;
  size_t chunk_bytes_;
  std::vector<Chunk> chunks_;
  void* staging_ = nullptr;
  size_t staging_size_ = 0;
  size_t current_ = 0, offset_ = 0, used_ = 0, peak_ = 0;
  bool reserved_ = false;
  int64_t growths_ = 0;
};

}  // namespace dsv4
