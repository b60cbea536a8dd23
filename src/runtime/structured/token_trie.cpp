#include "runtime/structured/token_trie.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "runtime/structured/grammar.h"
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

int plain_code_points(std::string_view s, PlainKind kind) {
  const bool raw = kind == PlainKind::RawText;
  int cps = 0;
  for (size_t i = 0; i < s.size();) {
    const uint8_t b = uint8_t(s[i]);
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
      if (raw ? (b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == '<' : b < 0x20 || b == '"' || b == '\\')
        return -1;
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
    uint32_t cp = b & (len == 1 ? 0x7Fu : len == 2 ? 0x1Fu : len == 3 ? 0x0Fu : 0x07u);
    for (size_t k = 1; k < len; ++k) {
      const uint8_t c = uint8_t(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return -1;
      cp = cp << 6 | (c & 0x3Fu);
    }
    if (cp == kMarkerCodePoint) return -1;
    i += len;
    ++cps;
  }
  return cps;
}

std::string marker_bytes(size_t k) {
  if (k >= 254) fail("token trie: at most 254 markers");
  return std::string{char(0xFF), char(k + 1)};
}

std::shared_ptr<const TokenTrie> TokenTrie::build(const std::vector<std::string>& token_bytes) { return make(token_bytes); }

std::shared_ptr<TokenTrie> TokenTrie::make(const std::vector<std::string>& token_bytes) {
  auto t = std::make_shared<TokenTrie>();
  t->vocab_size_ = uint32_t(token_bytes.size());
  t->bytes_ = token_bytes;
  std::vector<int32_t> all;
  for (size_t id = 0; id < token_bytes.size(); ++id)
    if (!token_bytes[id].empty()) all.push_back(int32_t(id));
  const size_t words = (token_bytes.size() + 63) / 64;
  for (PlainKind kind : {PlainKind::JsonString, PlainKind::RawText}) {
    PlainClass& c = t->plain_[size_t(kind)];
    std::vector<int32_t> others;
    std::vector<int> cps(token_bytes.size(), -1);
    int max_cps = 0;
    for (int32_t id : all) {
      int n = plain_code_points(token_bytes[size_t(id)], kind);
      if (n > kMaxPlainCodePoints) n = -1;
      cps[size_t(id)] = n;
      if (n < 0)
        others.push_back(id);
      else
        max_cps = std::max(max_cps, n);
    }
    c.others = build_flat(token_bytes, std::move(others));
    c.up_to.assign(size_t(max_cps) + 1, std::vector<uint64_t>(words, 0));
    for (size_t id = 0; id < token_bytes.size(); ++id)
      if (cps[id] >= 0) c.up_to[size_t(cps[id])][id / 64] |= uint64_t(1) << (id % 64);
    for (size_t k = 1; k < c.up_to.size(); ++k)  // cumulative: <= k code points
      for (size_t w = 0; w < words; ++w) c.up_to[k][w] |= c.up_to[k - 1][w];
  }
  t->all_ = build_flat(token_bytes, std::move(all));
  return t;
}

std::shared_ptr<const TokenTrie> TokenTrie::from_tokenizer(const tokenizer::Tokenizer& tok,
                                                           const std::vector<std::string>& markers) {
  std::vector<std::string> bytes(tok.id_bound());
  for (uint32_t id = 0; id < tok.id_bound(); ++id) {
    if (tok.is_added(id)) continue;
    try {
      tok.append_token_bytes(id, bytes[id]);
    } catch (const Error&) {  // an id the vocabulary skips: never allowed
      bytes[id].clear();
    }
    if (!markers.empty() && bytes[id].find(char(0xFF)) != std::string::npos) bytes[id].clear();
  }
  std::vector<std::string> names(markers.size());
  for (size_t k = 0; k < markers.size(); ++k) {
    const std::optional<uint32_t> id = tok.token_id(markers[k]);
    if (!id || !tok.is_added(*id) || *id >= tok.id_bound()) continue;
    bytes[*id] = marker_bytes(k);
    names[k] = markers[k];
  }
  std::shared_ptr<TokenTrie> t = make(bytes);
  t->markers_ = std::move(names);
  return t;
}

std::optional<std::string> TokenTrie::marker(std::string_view added_token) const {
  for (size_t k = 0; k < markers_.size(); ++k)
    if (!markers_[k].empty() && markers_[k] == added_token) return marker_bytes(k);
  return std::nullopt;
}

std::string_view TokenTrie::bytes(int32_t id) const {
  if (id < 0 || uint32_t(id) >= vocab_size_) return {};
  return bytes_[size_t(id)];
}

const std::vector<uint64_t>& TokenTrie::plain_up_to(uint32_t code_points, PlainKind kind) const {
  const auto& up_to = plain_[size_t(kind)].up_to;
  return up_to[std::min<size_t>(code_points, up_to.size() - 1)];
}

size_t TokenTrie::plain_count(PlainKind kind) const {
  size_t n = 0;
  for (uint64_t w : plain_[size_t(kind)].up_to.back()) n += size_t(__builtin_popcountll(w));
  return n;
}

}  // namespace dsv4::structured
