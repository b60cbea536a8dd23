// The BPE model of a byte-level tokenizer.json: vocabulary, merges by rank, and the merge loop
// over the bytes of one pre-token (each byte starts as its byte-level alphabet symbol).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsv4::tokenizer {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class BpeModel {
 public:
  // Reads the "model" object of tokenizer.json (type BPE). Throws dsv4::Error on anything that
  // this byte-level implementation does not support or on inconsistent data.
  void load(const nlohmann::json& model);

  // Appends the ids of one pre-token (raw bytes; the byte-level mapping is implied).
  void encode_piece(std::string_view bytes, std::vector<uint32_t>& out) const;

  // Merge loops without the cache: `simple` rescans for the best pair (quadratic, small words),
  // the other uses a priority queue. Both give the Hugging Face result; exposed for tests.
  void merge_simple(std::vector<uint32_t>& symbols) const;
  void merge_with_queue(std::vector<uint32_t>& symbols) const;

  std::optional<uint32_t> token_id(std::string_view token) const;
  // The vocabulary string of an id (byte-level alphabet), or nullptr when the id is not in it.
  const std::string* token(uint32_t id) const;
  uint32_t id_bound() const { return static_cast<uint32_t>(id_to_token_.size()); }
  size_t merge_count() const { return merge_count_; }

 private:
  struct MergeSlot {
    uint64_t key = 0;  // (left << 32 | right) + 1; 0 = empty
    uint32_t rank = 0;
    uint32_t merged = 0;
  };
  const MergeSlot* find_merge(uint32_t left, uint32_t right) const;
  void insert_merge(uint32_t left, uint32_t right, uint32_t rank, uint32_t merged);
  void bytes_to_symbols(std::string_view bytes, std::vector<uint32_t>& symbols) const;
  void encode_uncached(std::string_view bytes, std::vector<uint32_t>& out) const;

  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<uint8_t> id_present_;
  std::vector<MergeSlot> merges_;  // open addressing, power-of-two size
  size_t merge_count_ = 0;
  int64_t byte_symbol_[256] = {};  // vocab id of each byte's alphabet symbol, -1 if missing
  std::optional<uint32_t> unk_id_;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  uint64_t cache_owner_ = 0;  // identifies this model's entries in the per-thread cache
};

}  // namespace dsv4::tokenizer
