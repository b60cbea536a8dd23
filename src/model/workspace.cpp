#include "model/workspace.h"

#include <algorithm>

#include "core/error.h"

namespace dsv4 {

Workspace::Workspace(Ops& ops, size_t chunk_bytes) : ops_(ops), chunk_bytes_(chunk_bytes) {}

Workspace::~Workspace() {
  for (const Chunk& c : chunks_) ops_.free(c.ptr);
  if (staging_ != nullptr) ops_.free(staging_);
}

void* Workspace::staging(size_t n) {
  if (n > staging_size_) {
    if (staging_ != nullptr) ops_.free(staging_);
    staging_ = nullptr;
    const size_t size = std::max({n, 2 * staging_size_, size_t(64) << 10});
    staging_ = ops_.alloc(size);
    staging_size_ = size;
  }
  return staging_;
}

void* Workspace::bytes(size_t n) {
  n = std::max<size_t>((n + 255) / 256 * 256, 256);  // 256-byte aligned pieces
  while (current_ < chunks_.size() && offset_ + n > chunks_[current_].size) {
    ++current_;
    offset_ = 0;
  }
  if (current_ == chunks_.size()) {
    const size_t size = std::max(chunk_bytes_, n);
    chunks_.push_back({ops_.alloc(size), size});
    offset_ = 0;
    if (reserved_) ++growths_;
  }
  void* p = static_cast<char*>(chunks_[current_].ptr) + offset_;
  offset_ += n;
  used_ += n;
  peak_ = std::max(peak_, used_);
  return p;
}

void Workspace::reserve(size_t bytes) {
  if (!chunks_.empty()) fail("workspace: reserve({}) after chunks were allocated", bytes);
  chunks_.push_back({ops_.alloc(bytes), bytes});
  reserved_ = true;
}

void Workspace::reset() {
  current_ = 0;
  offset_ = 0;
  used_ = 0;
}

size_t Workspace::capacity() const {
  size_t total = 0;
  for (const Chunk& c : chunks_) total += c.size;
  return total;
}

}  // namespace dsv4
