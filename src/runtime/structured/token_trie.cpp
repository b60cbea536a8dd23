#include "runtime/structured/token_trie.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::structured {

namespace {

// Plain tokens longer than this go to the walked trie instead (keeps plain_ small).
constexpr int kMaxPlainCodePoints = 256;

// Preorder trie of the given ids (sorted by bytes, which is preorder already).
FlatTrie build_flat(const std::vector<std::string>& bytes, std::vector<int32_t> ids) {
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return bytes[size_t(a)] < bytes[size_t(b)] || (bytes[size_t(a)] == bytes[size_t(b)] && a < b);
  });
  FlatTrie t;
  t.byte.push_back(0);
  t.depth.push_back(0);
  t.skip.push_back(0);
  std::vector<std::vector<int32_t>> at_node(1);
  std::vector<uint32_t> path = {0};  // nodes from the root to the current one
  std::string_view prev;
  for (int32_t id : ids) {
    const std::string_view s = bytes[size_t(id)];
    if (s.size() > 0xFFFF) fail("token {} is {} bytes long: too long for the mask trie", id, s.size());
    size_t common = 0;
    while (common < s.size() && common < prev.size() && s[common] == prev[common]) ++common;
    while (path.size() > common + 1) {  // close the nodes below the common prefix
      t.skip[path.back()] = uint32_t(t.byte.size());
      path.pop_back();
    }
    for (size_t d = common; d < s.size(); ++d) {
      path.push_back(uint32_t(t.byte.size()));
      t.byte.push_back(uint8_t(s[d]));
      t.depth.push_back(uint16_t(d + 1));
      t.skip.push_back(0);
      at_node.emplace_back();
    }
    at_node[path.back()].push_back(id);
    prev = s;
  }
  while (!path.empty()) {
    t.skip[path.back()] = uint32_t(t.byte.size());
    path.pop_back();
  }
  t.ids_begin.push_back(0);
  for (const auto& v : at_node) {
    t.ids.insert(t.ids.end(), v.begin(), v.end());
    t.ids_begin.push_back(uint32_t(t.ids.size()));
  }
  return t;
}

}  // namespace

int plain_string_code_points(std::string_view s) {
  int cps = 0;
  for (size_t i = 0; i < s.size();) {
    const uint8_t b = uint8_t(s[i]);
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
      if (b < 0x20 || b == '"' || b == '\\') return -1;
      len = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return -1;
    }
    if (i + len > s.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      const uint8_t c = uint8_t(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return -1;
    }
    i += len;
    ++cps;
  }
  return cps;
}

std::shared_ptr<const TokenTrie> TokenTrie::build(const std::vector<std::string>& token_bytes) {
  auto t = std::make_shared<TokenTrie>();
  t->vocab_size_ = uint32_t(token_bytes.size());
  t->bytes_ = token_bytes;
  std::vector<int32_t> all, not_plain;
  std::vector<int> cps(token_bytes.size(), -1);
  int max_cps = 0;
  for (size_t id = 0; id < token_bytes.size(); ++id) {
    if (token_bytes[id].empty()) continue;
    all.push_back(int32_t(id));
    cps[id] = plain_string_code_points(token_bytes[id]);
    if (cps[id] > kMaxPlainCodePoints) cps[id] = -1;
    if (cps[id] < 0)
      not_plain.push_back(int32_t(id));
    else
      max_cps = std::max(max_cps, cps[id]);
  }
  t->all_ = build_flat(token_bytes, std::move(all));
  t->not_plain_ = build_flat(token_bytes, std::move(not_plain));
  const size_t words = (token_bytes.size() + 63) / 64;
  t->plain_.assign(size_t(max_cps) + 1, std::vector<uint64_t>(words, 0));
  for (size_t id = 0; id < token_bytes.size(); ++id)
    if (cps[id] >= 0) t->plain_[size_t(cps[id])][id / 64] |= uint64_t(1) << (id % 64);
  for (size_t k = 1; k < t->plain_.size(); ++k)  // cumulative: <= k code points
    for (size_t w = 0; w < words; ++w) t->plain_[k][w] |= t->plain_[k - 1][w];
  return t;
}

std::shared_ptr<const TokenTrie> TokenTrie::from_tokenizer(const tokenizer::Tokenizer& tok) {
  std::vector<std::string> bytes(tok.id_bound());
  for (uint32_t id = 0; id < tok.id_bound(); ++id) {
    if (tok.is_added(id)) continue;
    try {
      tok.append_token_bytes(id, bytes[id]);
    } catch (const Error&) {  // an id the vocabulary skips: never allowed
      bytes[id].clear();
    }
  }
  return build(bytes);
}

std::string_view TokenTrie::bytes(int32_t id) const {
  if (id < 0 || uint32_t(id) >= vocab_size_) return {};
  return bytes_[size_t(id)];
}

const std::vector<uint64_t>& TokenTrie::plain_up_to(uint32_t code_points) const {
  return plain_[std::min<size_t>(code_points, plain_.size() - 1)];
}

size_t TokenTrie::plain_count() const {
  size_t n = 0;
  for (uint64_t w : plain_.back()) n += size_t(__builtin_popcountll(w));
  return n;
}

}  // namespace dsv4::structured
