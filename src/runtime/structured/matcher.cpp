#include "runtime/structured/matcher.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace dsv4::structured {

namespace {

// More live parses than this means a schema far more ambiguous than any real one.
constexpr size_t kMaxStacks = 1024;

enum : uint8_t { kStrStart, kStrBody, kStrEscape, kStrHex1, kStrHex2, kStrHex3, kStrHex4 };
enum : uint8_t { kNumStart, kNumMinus, kNumZero, kNumInt, kNumDot, kNumFrac, kNumExp, kNumExpSign, kNumExpDigits };
enum : uint8_t { kArrStart, kArrOpen, kArrValue, kArrComma };
enum : uint8_t { kObjStart, kObjOpen, kObjKey, kObjAfterKey, kObjColon, kObjValue, kObjComma };

// Range of the first continuation byte after a UTF-8 lead byte (utf8_first codes).
constexpr uint8_t kContLo[] = {0x80, 0xA0, 0x80, 0x90, 0x80};
constexpr uint8_t kContHi[] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};

bool is_ws(uint8_t b) { return b == ' ' || b == '\n' || b == '\t' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
bool is_hex(uint8_t b) { return is_digit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'); }

Frame start_frame(uint32_t node) {
  Frame f;
  f.node = node;
  return f;
}

enum class Step { Reject, Consume, Pop, End };  // End: the frame is done and b belongs to its parent

// A continuation byte of the UTF-8 character in progress (utf8_left > 0); aux collects the code
// point's bits so that a refused one is caught at its last byte.
Step utf8_continuation(Frame& f, uint8_t b, bool refuse_marker) {
  if (b < kContLo[f.utf8_first] || b > kContHi[f.utf8_first]) return Step::Reject;
  f.aux = f.aux << 6 | (b & 0x3Fu);
  --f.utf8_left;
  f.utf8_first = 0;
  if (f.utf8_left == 0) {
    if (refuse_marker && f.aux == kMarkerCodePoint) return Step::Reject;
    f.aux = 0;
  }
  return Step::Consume;
}

// The first byte of a character other than ASCII; false for a byte no character starts with.
bool utf8_lead(Frame& f, uint8_t b) {
  if (b >= 0xC2 && b <= 0xDF) {
    f.utf8_left = 1;
    f.aux = b & 0x1Fu;
  } else if (b >= 0xE0 && b <= 0xEF) {
    f.utf8_left = 2;
    f.utf8_first = b == 0xE0 ? 1 : b == 0xED ? 2 : 0;
    f.aux = b & 0x0Fu;
  } else if (b >= 0xF0 && b <= 0xF4) {
    f.utf8_left = 3;
    f.utf8_first = b == 0xF0 ? 3 : b == 0xF4 ? 4 : 0;
    f.aux = b & 0x07u;
  } else {
    return false;
  }
  return true;
}

Step string_step(Frame& f, const Node& n, uint8_t b, bool refuse_marker) {
  switch (f.state) {
    case kStrStart:
      if (b != '"') return Step::Reject;
      f.state = kStrBody;
      return Step::Consume;
    case kStrBody:
      if (f.utf8_left > 0) return utf8_continuation(f, b, refuse_marker);
      if (b == '"') return f.count >= n.min ? Step::Pop : Step::Reject;
      if (f.count >= n.max || b < 0x20) return Step::Reject;
      if (b == '\\') {
        f.state = kStrEscape;
        return Step::Consume;
      }
      if (b >= 0x80 && !utf8_lead(f, b)) return Step::Reject;
      ++f.count;
      return Step::Consume;
    case kStrEscape:
      if (b == 'u') {
        f.state = kStrHex1;
        return Step::Consume;
      }
      if (b != '"' && b != '\\' && b != '/' && b != 'b' && b != 'f' && b != 'n' && b != 'r' && b != 't') return Step::Reject;
      f.state = kStrBody;
      ++f.count;
      return Step::Consume;
    case kStrHex1:
      if (!is_hex(b)) return Step::Reject;
      f.aux = (b == 'd' || b == 'D');  // a surrogate if the next digit is 8..f
      f.state = kStrHex2;
      return Step::Consume;
    case kStrHex2:
      if (!is_hex(b) || (f.aux && !(b >= '0' && b <= '7'))) return Step::Reject;
      f.aux = 0;
      f.state = kStrHex3;
      return Step::Consume;
    case kStrHex3:
      if (!is_hex(b)) return Step::Reject;
      f.state = kStrHex4;
      return Step::Consume;
    default:  // kStrHex4
      if (!is_hex(b)) return Step::Reject;
      f.state = kStrBody;
      ++f.count;
      return Step::Consume;
  }
}

Step number_step(Frame& f, bool integer, uint8_t b) {
  const bool digit = is_digit(b);
  auto to = [&f](uint8_t s, uint32_t c) {
    f.state = s;
    f.count = c;
    return Step::Consume;
  };
  switch (f.state) {
    case kNumStart:
      if (b == '-') return to(kNumMinus, 0);
      [[fallthrough]];
    case kNumMinus:
      if (b == '0') return to(kNumZero, 1);
      if (digit) return to(kNumInt, 1);
      return Step::Reject;
    case kNumZero:
    case kNumInt:
      if (digit && f.state == kNumInt && f.count < kMaxIntegerDigits) return to(kNumInt, f.count + 1);
      if (!integer && b == '.') return to(kNumDot, 0);
      if (!integer && (b == 'e' || b == 'E')) return to(kNumExp, 0);
      return Step::End;
    case kNumDot: return digit ? to(kNumFrac, 1) : Step::Reject;
    case kNumFrac:
      if (digit && f.count < kMaxFractionDigits) return to(kNumFrac, f.count + 1);
      if (b == 'e' || b == 'E') return to(kNumExp, 0);
      return Step::End;
    case kNumExp:
      if (b == '+' || b == '-') return to(kNumExpSign, 0);
      return digit ? to(kNumExpDigits, 1) : Step::Reject;
    case kNumExpSign: return digit ? to(kNumExpDigits, 1) : Step::Reject;
    default:  // kNumExpDigits
      if (digit && f.count < kMaxExponentDigits) return to(kNumExpDigits, f.count + 1);
      return Step::End;
  }
}

bool number_accepting(const Frame& f) {
  return f.state == kNumZero || f.state == kNumInt || f.state == kNumFrac || f.state == kNumExpDigits;
}

}  // namespace

MatchState Matcher::start() const {
  MatchState s;
  s.frames.push_back(start_frame(g_.root));
  s.ends.push_back(1);
  return s;
}

// Feeds b to the last stack of out (frames[base..]). On success the stack's end is recorded;
// on rejection its frames are removed. Forks append further stacks.
void Matcher::feed_stack(MatchState& out, size_t base, uint8_t b) const {
  std::vector<Frame>& F = out.frames;
  const size_t max_depth = g_.limits.max_depth;
  auto accept = [&] { out.ends.push_back(uint32_t(F.size())); };
  auto reject = [&] { F.resize(base); };
  // Pushes the start frame of `node` (the caller has already moved the parent on); false at
  // the depth limit.
  auto push = [&](uint32_t node) {
    if (F.size() - base >= max_depth) return false;
    F.push_back(start_frame(node));
    return true;
  };
  for (;;) {
    if (F.size() == base) return reject();  // the value is complete: nothing may follow
    Frame& f = F.back();
    const Node& n = g_.nodes[f.node];
    const bool ws = is_ws(b);
    switch (n.kind) {
      case NodeKind::Ref: f.node = n.children[0]; continue;
      case NodeKind::AnyOf: {
        const std::vector<Frame> stack(F.begin() + long(base), F.end());
        F.resize(base);
        for (uint32_t alt : n.children) {
          const size_t fork = F.size();
          F.insert(F.end(), stack.begin(), stack.end());
          F.back() = start_frame(alt);
          feed_stack(out, fork, b);
        }
        return;
      }
      case NodeKind::Literal:
        if (uint8_t(n.literal[f.count]) != b) return reject();
        if (++f.count == n.literal.size()) F.pop_back();
        return accept();
      case NodeKind::String:
        switch (string_step(f, n, b, g_.refuse_marker_char)) {
          case Step::Reject: return reject();
          case Step::Pop: F.pop_back(); return accept();
          default: return accept();
        }
      case NodeKind::Number:
      case NodeKind::Integer:
        switch (number_step(f, n.kind == NodeKind::Integer, b)) {
          case Step::Reject: return reject();
          case Step::End: F.pop_back(); continue;  // b goes to the parent
          default: return accept();
        }
      case NodeKind::Sequence: {  // on top: time for part f.count; the last one takes the frame's place
        const uint32_t part = n.children[f.count];
        if (f.count + 1 == n.children.size()) {
          f = start_frame(part);
        } else {
          ++f.count;
          if (!push(part)) return reject();
        }
        continue;
      }
      case NodeKind::Text: {
        if (f.utf8_left > 0) {
          if (utf8_continuation(f, b, g_.refuse_marker_char) == Step::Reject) return reject();
          return accept();
        }
        const bool more = f.count < n.max;
        if (uint8_t(n.literal[0]) == b && f.count >= n.min) {  // the end of the text, or more of it
          if (!more) {
            F.pop_back();
            continue;
          }
          const std::vector<Frame> stack(F.begin() + long(base), F.end() - 1);
          ++F.back().count;
          accept();
          const size_t fork = F.size();
          F.insert(F.end(), stack.begin(), stack.end());
          feed_stack(out, fork, b);
          return;
        }
        if (!more || (b < 0x20 && b != '\t' && b != '\n' && b != '\r')) return reject();
        if (b >= 0x80 && !utf8_lead(f, b)) return reject();
        ++f.count;
        return accept();
      }
      case NodeKind::Ordered: {  // on top: an item or the closing comes next (one parse each)
        const bool started = f.state != 0;
        const uint32_t next = started ? f.aux + 1 : 0;
        const std::vector<Frame> stack(F.begin() + long(base), F.end());
        F.resize(base);
        for (uint32_t k = next; k < n.candidates_end[next]; ++k) {
          if (stack.size() >= max_depth) break;
          const size_t fork = F.size();
          F.insert(F.end(), stack.begin(), stack.end());
          F.back().state = 1;
          F.back().aux = k;
          F.push_back(start_frame(n.properties[k].node));
          feed_stack(out, fork, b);
        }
        if (n.can_close[next]) {
          const size_t fork = F.size();
          F.insert(F.end(), stack.begin(), stack.end());
          F.back() = start_frame(n.children[started ? 0 : 1]);
          feed_stack(out, fork, b);
        }
        return;
      }
      case NodeKind::Array:
        switch (f.state) {
          case kArrStart:
            if (b != '[') return reject();
            f.state = kArrOpen;
            return accept();
          case kArrOpen:
          case kArrComma:
            if (ws) {
              if (f.ws >= g_.limits.max_whitespace) return reject();
              ++f.ws;
              return accept();
            }
            if (f.state == kArrOpen && b == ']') {
              if (n.min > 0) return reject();
              F.pop_back();
              return accept();
            }
            if (f.count >= n.max) return reject();
            f.state = kArrValue;
            f.ws = 0;
            ++f.count;
            if (!push(n.children[0])) return reject();
            continue;
          default:  // kArrValue
            if (ws) {
              if (f.ws >= g_.limits.max_whitespace) return reject();
              ++f.ws;
              return accept();
            }
            if (b == ',' && f.count < n.max) {
              f.state = kArrComma;
              f.ws = 0;
              return accept();
            }
            if (b == ']' && f.count >= n.min) {
              F.pop_back();
              return accept();
            }
            return reject();
        }
      case NodeKind::Object:
      case NodeKind::FreeObject: {
        const bool free = n.kind == NodeKind::FreeObject;
        if (f.state == kObjStart) {
          if (b != '{') return reject();
          f.state = kObjOpen;
          return accept();
        }
        if (f.state == kObjKey) {  // inside a declared key (free keys are String frames)
          const std::string& key = n.properties[f.aux].key;
          if (uint8_t(key[f.count]) != b) return reject();
          if (++f.count == key.size()) {
            f.state = kObjAfterKey;
            f.count = 0;
          }
          return accept();
        }
        if (ws) {
          if (f.ws >= g_.limits.max_whitespace) return reject();
          ++f.ws;
          return accept();
        }
        // The property that may come next (declared objects).
        const uint32_t next = f.state == kObjOpen ? 0 : f.aux + 1;
        switch (f.state) {
          case kObjOpen:
          case kObjComma:
            if (b == '}' && f.state == kObjOpen) {
              if (!free && !n.can_close[0]) return reject();
              F.pop_back();
              return accept();
            }
            if (b != '"') return reject();
            f.ws = 0;
            if (free) {
              f.state = kObjAfterKey;
              if (!push(g_.key_string)) return reject();
              F.back().state = kStrBody;
              return accept();
            }
            if (next >= n.properties.size()) return reject();
            f.state = kObjKey;
            f.count = 1;
            f.aux = next;
            accept();
            if (n.candidates_end[next] > next + 1) {  // one parse per candidate key
              const std::vector<Frame> stack(F.begin() + long(base), F.end());
              for (uint32_t k = next + 1; k < n.candidates_end[next]; ++k) {
                F.insert(F.end(), stack.begin(), stack.end());
                F.back().aux = k;
                accept();
              }
            }
            return;
          case kObjAfterKey:
            if (b != ':') return reject();
            f.state = kObjColon;
            f.ws = 0;
            return accept();
          case kObjColon: {
            f.state = kObjValue;
            f.ws = 0;
            const uint32_t value = free ? n.children[0] : n.properties[f.aux].node;
            if (!push(value)) return reject();
            continue;
          }
          default:  // kObjValue
            if (b == ',' && (free || next < n.properties.size())) {
              f.state = kObjComma;
              f.ws = 0;
              return accept();
            }
            if (b == '}' && (free || n.can_close[next])) {
              F.pop_back();
              return accept();
            }
            return reject();
        }
      }
    }
  }
}

void Matcher::dedupe(MatchState& s) const {
  if (s.ends.size() > kMaxStacks)
    fail("structured output: the schema is too ambiguous (more than {} partial parses at once)", kMaxStacks);
  if (s.ends.size() < 2) return;
  // In place: each stack is kept unless an identical one was kept before it.
  Frame* frames = s.frames.data();
  size_t kept = 0, write = 0;
  uint32_t begin = 0;
  for (size_t i = 0; i < s.ends.size(); ++i) {
    const uint32_t end = s.ends[i], len = end - begin;
    bool seen = false;
    uint32_t b2 = 0;
    for (size_t j = 0; j < kept && !seen; ++j) {
      const uint32_t e2 = s.ends[j];
      seen = e2 - b2 == len && std::memcmp(frames + b2, frames + begin, len * sizeof(Frame)) == 0;
      b2 = e2;
    }
    if (!seen) {
      if (write != begin) std::memmove(frames + write, frames + begin, len * sizeof(Frame));
      write += len;
      s.ends[kept++] = uint32_t(write);
    }
    begin = end;
  }
  s.frames.resize(write);
  s.ends.resize(kept);
}

bool Matcher::feed(const MatchState& in, uint8_t b, MatchState& out) const {
  out.frames.clear();
  out.ends.clear();
  uint32_t begin = 0;
  for (uint32_t end : in.ends) {
    const size_t base = out.frames.size();
    out.frames.insert(out.frames.end(), in.frames.begin() + begin, in.frames.begin() + end);
    feed_stack(out, base, b);
    begin = end;
  }
  dedupe(out);
  return !out.empty();
}

bool Matcher::feed(MatchState& s, std::string_view bytes) const {
  MatchState a = s, c;
  for (char ch : bytes) {
    if (!feed(a, uint8_t(ch), c)) return false;
    std::swap(a, c);
  }
  s = std::move(a);
  return true;
}

bool Matcher::accepting(const MatchState& s) const {
  uint32_t begin = 0;
  for (uint32_t end : s.ends) {
    uint32_t top = end;
    while (top > begin) {  // a number at the root may end here; nothing else ends without input
      const Frame& f = s.frames[top - 1];
      const NodeKind k = g_.nodes[f.node].kind;
      if ((k == NodeKind::Number || k == NodeKind::Integer) && number_accepting(f))
        --top;
      else
        break;
    }
    if (top == begin) return true;
    begin = end;
  }
  return false;
}

bool Matcher::finished(const MatchState& s) const {
  uint32_t begin = 0;
  for (uint32_t end : s.ends) {
    if (end != begin) return false;
    begin = end;
  }
  return !s.ends.empty();
}

std::optional<PlainKind> Matcher::plain_run(const MatchState& s, uint32_t& room) const {
  room = 0;
  std::optional<PlainKind> kind;
  uint32_t begin = 0;
  for (uint32_t end : s.ends) {
    if (end == begin) return std::nullopt;
    const Frame& f = s.frames[end - 1];
    const Node* n = &g_.nodes[f.node];
    uint32_t used = f.count;
    if (n->kind == NodeKind::Sequence) {  // about to start its next part: a text is the same as one just begun
      uint32_t part = n->children[f.count];
      while (g_.nodes[part].kind == NodeKind::Ref) part = g_.nodes[part].children[0];
      if (g_.nodes[part].kind != NodeKind::Text) return std::nullopt;
      n = &g_.nodes[part];
      used = 0;
    }
    PlainKind k;
    if (n->kind == NodeKind::String && f.state == kStrBody && f.utf8_left == 0)
      k = PlainKind::JsonString;
    else if (n->kind == NodeKind::Text && f.utf8_left == 0 && n->literal[0] == '<')
      k = PlainKind::RawText;
    else
      return std::nullopt;
    if (kind && *kind != k) return std::nullopt;
    kind = k;
    room = std::max(room, n->max - used);
    begin = end;
  }
  return kind;
}

bool matches(const Grammar& grammar, std::string_view text) {
  const Matcher m(grammar);
  MatchState s = m.start();
  return m.feed(s, text) && m.accepting(s);
}

}  // namespace dsv4::structured
