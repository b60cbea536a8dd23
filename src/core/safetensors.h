// The safetensors format: reading (mmap, zero-copy views, several shards through
// model.safetensors.index.json) with full validation, and a streaming writer.
//
// File layout: u64 little-endian header length N, N bytes of JSON header, then the data. The
// header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} with offsets
// counted from the first byte after the header; "__metadata__" (strings only) is optional.
// Validation reports every violation at once, each with file, tensor and problem.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace dsv4 {

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0;  // byte offsets inside the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t header_size = 0;  // N
  uint64_t data_size = 0;    // bytes after the header
  std::map<std::string, std::string> metadata;
  std::vector<TensorEntry> tensors;  // in header order
};

// Parses and validates a whole file image (header + data). `label` names the file in errors.
// Never reads outside [bytes, bytes+size). Throws dsv4::Error listing every problem found.
SafetensorsHeader parse_safetensors(const uint8_t* bytes, size_t size, const std::string& label);

// One mapped safetensors file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  const TensorEntry* find(const std::string& name) const;
  TensorView view(const TensorEntry& entry) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> by_name_;
};

// A checkpoint directory: model.safetensors.index.json + shards, or a single model.safetensors.
// Tensor bytes are only touched when a view's data is read.
class Checkpoint {
 public:
  // Opens `dir`; validates the index against the shards (every mapped tensor exists in the
  // named shard; no tensor in two shards). Throws listing every problem.
  explicit Checkpoint(const std::string& dir);
  // A checkpoint held in memory (host or device), e.g. random weights generated in place:
  // `label` stands for the directory in messages; `owner` keeps the memory alive.
  struct MemoryTensor {
    std::string name;
    TensorView view;
  };
  Checkpoint(std::string label, std::vector<MemoryTensor> tensors, std::shared_ptr<void> owner);

  const std::string& dir() const { return dir_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  // Throws naming the tensor when absent.
  TensorView get(const std::string& name) const;
  const TensorEntry& entry(const std::string& name) const;
  const std::string& shard_of(const std::string& name) const;
  size_t shard_count() const { return shards_.size(); }
  uint64_t total_bytes() const;  // sum of tensor byte sizes

 private:
  struct Location {
    size_t shard;  // kInMemory: memory_[index]
    const TensorEntry* entry;
    size_t index = 0;
  };
  static constexpr size_t kInMemory = size_t(-1);
  std::string dir_;
  std::vector<std::unique_ptr<TensorEntry>> memory_entries_;
  std::vector<TensorView> memory_;
  std::shared_ptr<void> owner_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, Location> where_;
};

// Streams a safetensors file: the header (names, dtypes, shapes) is declared up front, then each
// tensor's bytes are appended in declaration order, so arbitrarily large files are written with
// little memory.
class SafetensorsWriter {
 public:
  struct Decl {
    std::string name;
    DType dtype;
    Shape shape;
  };
  // Opens `path` and writes the header. Tensors are laid out in `decls` order, each aligned to 8.
  SafetensorsWriter(const std::string& path, const std::vector<Decl>& decls,
                    const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Appends bytes of the current tensor; a tensor may be written in several pieces. Advances
  // to the next tensor once the current one is complete.
  void write(const void* bytes, size_t n);
  // Checks every tensor was written completely and closes the file.
  void finish();
  uint64_t data_size() const { return data_size_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t data_size_ = 0;
};

// Writes model.safetensors.index.json: {"metadata": {"total_size": N}, "weight_map": {...}}.
void write_safetensors_index(const std::string& path, uint64_t total_size,
                             const std::map<std::string, std::string>& weight_map);

}  // namespace dsv4
