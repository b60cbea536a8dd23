#include "tokenizer/bpe.h"

#include <algorithm>
#include <atomic>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace dsv4::tokenizer {

namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

std::string byte_level_string(std::string_view bytes) {
  std::string s;
  s.reserve(bytes.size() * 2);
  const auto& alphabet = byte_level_alphabet();
  for (char c : bytes) append_utf8(s, alphabet[static_cast<uint8_t>(c)]);
  return s;
}

std::atomic<uint64_t> next_cache_owner{1};

// Per-thread cache of pre-token -> ids, shared by whatever model last used it on this thread.
struct PieceCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringHash, std::equal_to<>> map;
  std::vector<uint32_t> ids;
  void reset(uint64_t new_owner) {
    owner = new_owner;
    map.clear();
    ids.clear();
  }
};

constexpr size_t kCacheMaxPieceBytes = 48;
constexpr size_t kCacheMaxEntries = 1 << 18;
constexpr size_t kSimpleMergeMaxSymbols = 48;

}  // namespace

void BpeModel::load(const nlohmann::json& model) {
  const std::string type = model.value("type", std::string("BPE"));
  if (type != "BPE") fail("tokenizer model type '{}' is not supported (only BPE)", type);
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() > 0.0)
    fail("BPE dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty())
      fail("BPE option '{}' is not supported by the byte-level loader", key);
  if (model.value("byte_fallback", false)) fail("BPE byte_fallback is not supported by the byte-level loader");
  ignore_merges_ = model.value("ignore_merges", false);
  fuse_unk_ = model.value("fuse_unk", false);
  cache_owner_ = next_cache_owner.fetch_add(1);

  const auto& vocab = model.at("vocab");
  if (!vocab.is_object()) fail("BPE 'vocab' must be an object of token -> id");
  uint32_t bound = 0;
  vocab_.reserve(vocab.size());
  for (const auto& [tok, idj] : vocab.items()) {
    const int64_t id = idj.get<int64_t>();
    if (id < 0 || id > int64_t(UINT32_MAX / 2)) fail("BPE vocab id {} of token '{}' is out of range", id, tok);
    vocab_[tok] = static_cast<uint32_t>(id);
    bound = std::max(bound, static_cast<uint32_t>(id) + 1);
  }
  id_to_token_.assign(bound, std::string());
  id_present_.assign(bound, 0);
  for (const auto& [tok, id] : vocab_) {
    id_to_token_[id] = tok;
    id_present_[id] = 1;
  }
  unk_id_.reset();
  if (model.contains("unk_token") && !model["unk_token"].is_null()) {
    const auto unk = token_id(model["unk_token"].get<std::string>());
    if (!unk) fail("BPE unk_token '{}' is not in the vocabulary", model["unk_token"].get<std::string>());
    unk_id_ = *unk;
  }
  const auto& alphabet = byte_level_alphabet();
  for (int b = 0; b < 256; ++b) {
    std::string sym;
    append_utf8(sym, alphabet[static_cast<size_t>(b)]);
    const auto id = token_id(sym);
    byte_symbol_[b] = id ? int64_t(*id) : -1;
  }

  const auto& merges = model.at("merges");
  if (!merges.is_array()) fail("BPE 'merges' must be an array");
  size_t cap = 16;
  while (cap < merges.size() * 2 + 16) cap <<= 1;
  merges_.assign(cap, MergeSlot{});
  merge_count_ = 0;
  uint32_t rank = 0;
  for (const auto& m : merges) {
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) fail("BPE merge #{} '{}' is not 'left right'", rank, s);
      left = s.substr(0, sp);
      right = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      fail("BPE merge #{} has an unknown form: {}", rank, m.dump());
    }
    const auto l = token_id(left), r = token_id(right), merged = token_id(left + right);
    if (!l || !r || !merged) fail("BPE merge #{} '{} {}' uses a token that is not in the vocabulary", rank, left, right);
    insert_merge(*l, *r, rank, *merged);
    ++rank;
  }
}

void BpeModel::insert_merge(uint32_t left, uint32_t right, uint32_t rank, uint32_t merged) {
  const uint64_t key = ((uint64_t(left) << 32) | right) + 1;
  size_t mask = merges_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    if (merges_[i].key == 0) {
      merges_[i] = {key, rank, merged};
      ++merge_count_;
      return;
    }
    if (merges_[i].key == key) {  // a repeated pair: the later entry wins (as a hash map insert)
      merges_[i].rank = rank;
      merges_[i].merged = merged;
      return;
    }
  }
}

const BpeModel::MergeSlot* BpeModel::find_merge(uint32_t left, uint32_t right) const {
  const uint64_t key = ((uint64_t(left) << 32) | right) + 1;
  const size_t mask = merges_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    const MergeSlot& s = merges_[i];
    if (s.key == key) return &s;
    if (s.key == 0) return nullptr;
  }
}

std::optional<uint32_t> BpeModel::token_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::token(uint32_t id) const {
  if (id >= id_to_token_.size() || !id_present_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::bytes_to_symbols(std::string_view bytes, std::vector<uint32_t>& symbols) const {
  symbols.clear();
  bool last_was_unk = false;
  for (char c : bytes) {
    const int64_t id = byte_symbol_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      symbols.push_back(static_cast<uint32_t>(id));
      last_was_unk = false;
    } else if (unk_id_) {  // a byte whose symbol is missing: unk (fused if asked), else dropped
      if (!(fuse_unk_ && last_was_unk)) symbols.push_back(*unk_id_);
      last_was_unk = true;
    }
  }
}

void BpeModel::merge_simple(std::vector<uint32_t>& symbols) const {
  while (symbols.size() > 1) {
    uint32_t best_rank = UINT32_MAX, best_merged = 0;
    size_t best_pos = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const MergeSlot* m = find_merge(symbols[i], symbols[i + 1]);
      if (m != nullptr && m->rank < best_rank) {
        best_rank = m->rank;
        best_merged = m->merged;
        best_pos = i;
      }
    }
    if (best_rank == UINT32_MAX) break;
    symbols[best_pos] = best_merged;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
}

void BpeModel::merge_with_queue(std::vector<uint32_t>& symbols) const {
  const size_t n = symbols.size();
  if (n < 2) return;
  thread_local std::vector<int64_t> prev, next;
  thread_local std::vector<uint8_t> alive;
  prev.resize(n);
  next.resize(n);
  alive.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = int64_t(i) - 1;
    next[i] = i + 1 < n ? int64_t(i) + 1 : -1;
  }
  struct Candidate {
    uint32_t rank;
    uint32_t pos;
    uint32_t left, right;  // the symbols the candidate was made for (stale check)
    uint32_t merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Candidate> heap;  // a min-heap on (rank, pos)
  heap.clear();
  auto push = [&](int64_t i) {
    if (i < 0 || next[static_cast<size_t>(i)] < 0) return;
    const uint32_t l = symbols[static_cast<size_t>(i)], r = symbols[static_cast<size_t>(next[static_cast<size_t>(i)])];
    if (const MergeSlot* m = find_merge(l, r)) {
      heap.push_back({m->rank, static_cast<uint32_t>(i), l, r, m->merged});
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  };
  for (size_t i = 0; i + 1 < n; ++i) push(int64_t(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Candidate c = heap.back();
    heap.pop_back();
    const size_t i = c.pos;
    if (!alive[i] || next[i] < 0) continue;
    const auto j = static_cast<size_t>(next[i]);
    if (symbols[i] != c.left || symbols[j] != c.right) continue;
    symbols[i] = c.merged;
    alive[j] = 0;
    next[i] = next[j];
    if (next[j] >= 0) prev[static_cast<size_t>(next[j])] = int64_t(i);
    push(prev[i]);
    push(int64_t(i));
  }
  size_t w = 0;
  for (size_t i = 0; i < n; ++i)
    if (alive[i]) symbols[w++] = symbols[i];
  symbols.resize(w);
}

void BpeModel::encode_uncached(std::string_view bytes, std::vector<uint32_t>& out) const {
  if (ignore_merges_) {
    if (const auto whole = token_id(byte_level_string(bytes))) {
      out.push_back(*whole);
      return;
    }
  }
  thread_local std::vector<uint32_t> symbols;
  bytes_to_symbols(bytes, symbols);
  if (symbols.size() <= kSimpleMergeMaxSymbols) {
    merge_simple(symbols);
  } else {
    merge_with_queue(symbols);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
}

void BpeModel::encode_piece(std::string_view bytes, std::vector<uint32_t>& out) const {
  if (bytes.empty()) return;
  if (bytes.size() == 1) {
    const int64_t id = byte_symbol_[static_cast<uint8_t>(bytes[0])];
    if (id >= 0 && !ignore_merges_) {
      out.push_back(static_cast<uint32_t>(id));
      return;
    }
  }
  if (bytes.size() > kCacheMaxPieceBytes) {
    encode_uncached(bytes, out);
    return;
  }
  thread_local PieceCache cache;
  if (cache.owner != cache_owner_) cache.reset(cache_owner_);
  if (const auto it = cache.map.find(bytes); it != cache.map.end()) {
    const uint32_t* begin = cache.ids.data() + it->second.first;
    out.insert(out.end(), begin, begin + it->second.second);
    return;
  }
  const size_t before = out.size();
  encode_uncached(bytes, out);
  if (cache.map.size() >= kCacheMaxEntries) cache.reset(cache_owner_);
  const auto offset = static_cast<uint32_t>(cache.ids.size());
  cache.ids.insert(cache.ids.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
  cache.map.emplace(std::string(bytes), std::make_pair(offset, static_cast<uint32_t>(out.size() - before)));
}

}  // namespace dsv4::tokenizer
