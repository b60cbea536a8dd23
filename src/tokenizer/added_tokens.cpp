#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <map>

#include "tokenizer/utf8.h"

namespace dsv4::tokenizer {

void AddedTokenMatcher::build(const std::vector<const AddedToken*>& tokens) {
  nodes_.clear();
  edges_.clear();
  tokens_ = tokens;
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);
  // Build with a map-based trie first, then flatten into sorted edge lists.
  struct TempNode {
    int32_t token = -1;
    std::map<uint8_t, size_t> children;
  };
  std::vector<TempNode> temp(1);
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& s = tokens_[t]->content;
    if (s.empty()) continue;
    first_byte_[static_cast<uint8_t>(s[0])] = true;
    size_t node = 0;
    for (char c : s) {
      const auto b = static_cast<uint8_t>(c);
      auto it = temp[node].children.find(b);
      if (it == temp[node].children.end()) {
        temp.emplace_back();
        it = temp[node].children.emplace(b, temp.size() - 1).first;
      }
      node = it->second;
    }
    temp[node].token = static_cast<int32_t>(t);  // a later duplicate wins, like a hash map insert
  }
  nodes_.resize(temp.size());
  for (size_t n = 0; n < temp.size(); ++n) {
    nodes_[n].token = temp[n].token;
    nodes_[n].first_child = static_cast<uint32_t>(edges_.size());
    nodes_[n].child_count = static_cast<uint32_t>(temp[n].children.size());
    for (const auto& [b, child] : temp[n].children) edges_.push_back({b, static_cast<uint32_t>(child)});
  }
}

int32_t AddedTokenMatcher::longest_at(std::string_view text, size_t pos, size_t end, size_t& length) const {
  int32_t best = -1;
  size_t node = 0;
  for (size_t i = pos; i < end; ++i) {
    const auto b = static_cast<uint8_t>(text[i]);
    const Node& n = nodes_[node];
    const Edge* first = edges_.data() + n.first_child;
    const Edge* last = first + n.child_count;
    const Edge* it = std::lower_bound(first, last, b, [](const Edge& e, uint8_t v) { return e.byte < v; });
    if (it == last || it->byte != b) break;
    node = it->node;
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      length = i + 1 - pos;
    }
  }
  return best;
}

namespace {

bool is_space_at(std::string_view text, size_t pos, size_t& len) {
  // Unicode White_Space, as Rust's char::is_whitespace (used by Hugging Face for lstrip/rstrip).
  size_t p = pos;
  const uint32_t cp = next_code_point(text, p);
  len = p - pos;
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

bool is_word_byte(char c) {
  const auto b = static_cast<unsigned char>(c);
  return b >= 0x80 || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_';
}

}  // namespace

void AddedTokenMatcher::split(std::string_view text, size_t begin, size_t end, std::vector<TextSegment>& out) const {
  size_t plain_start = begin;
  size_t pos = begin;
  while (pos < end) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t length = 0;
    const int32_t t = longest_at(text, pos, end, length);
    if (t < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = *tokens_[static_cast<size_t>(t)];
    size_t match_begin = pos, match_end = pos + length;
    if (token.single_word) {
      const bool left_ok = match_begin == begin || !is_word_byte(text[match_begin - 1]);
      const bool right_ok = match_end == end || !is_word_byte(text[match_end]);
      if (!left_ok || !right_ok) {
        ++pos;
        continue;
      }
    }
    if (token.lstrip) {  // absorb whitespace before the token (back to the last segment end)
      while (match_begin > plain_start) {
        size_t p = match_begin - 1;
        while (p > plain_start && (static_cast<uint8_t>(text[p]) & 0xC0) == 0x80) --p;
        size_t len = 0;
        if (!is_space_at(text, p, len)) break;
        match_begin = p;
      }
    }
    if (token.rstrip) {
      size_t len = 0;
      while (match_end < end && is_space_at(text, match_end, len)) match_end += len;
    }
    if (match_begin > plain_start) out.push_back({plain_start, match_begin, false, 0});
    out.push_back({match_begin, match_end, true, token.id});
    pos = plain_start = match_end;
  }
  if (end > plain_start) out.push_back({plain_start, end, false, 0});
}

void AddedVocabulary::add(AddedToken token) { tokens_.push_back(std::move(token)); }

void AddedVocabulary::finalize() {
  std::vector<const AddedToken*> raw, normalized;
  for (const AddedToken& t : tokens_) (t.normalized ? normalized : raw).push_back(&t);
  raw_matcher_.build(raw);
  normalized_matcher_.build(normalized);
}

std::vector<TextSegment> AddedVocabulary::split(std::string_view text) const {
  std::vector<TextSegment> first;
  if (raw_matcher_.empty()) {
    first.push_back({0, text.size(), false, 0});
  } else {
    raw_matcher_.split(text, 0, text.size(), first);
  }
  if (normalized_matcher_.empty()) return first;
  std::vector<TextSegment> out;
  out.reserve(first.size());
  for (const TextSegment& seg : first) {
    if (seg.is_added) {
      out.push_back(seg);
    } else {
      normalized_matcher_.split(text, seg.begin, seg.end, out);
    }
  }
  return out;
}

}  // namespace dsv4::tokenizer
