#include "tokenizer/utf8.h"

namespace dsv4::tokenizer {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

uint8_t byte_at(std::string_view s, size_t i) { return static_cast<uint8_t>(s[i]); }

// Expected total length for a lead byte, and the allowed range of the second byte.
struct LeadInfo {
  uint8_t length;  // 0: not a valid lead byte
  uint8_t lo, hi;  // range of the first continuation byte
};

LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes at pos that are a well-formed prefix of a sequence (counting the lead byte), and
// the sequence's full length (0 for an invalid lead byte).
void scan_sequence(std::string_view s, size_t pos, size_t& good, size_t& length) {
  const LeadInfo info = lead_info(byte_at(s, pos));
  length = info.length;
  good = info.length == 0 ? 0 : 1;
  if (info.length <= 1) return;
  for (size_t k = 1; k < info.length; ++k) {
    if (pos + k >= s.size()) return;
    const uint8_t c = byte_at(s, pos + k);
    const bool ok = k == 1 ? (c >= info.lo && c <= info.hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return;
    ++good;
  }
}

}  // namespace

size_t valid_sequence_length(std::string_view s, size_t pos) {
  size_t good, length;
  scan_sequence(s, pos, good, length);
  return (length != 0 && good == length) ? length : 0;
}

size_t invalid_subpart_length(std::string_view s, size_t pos) {
  size_t good, length;
  scan_sequence(s, pos, good, length);
  return good == 0 ? 1 : good;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (byte_at(s, i) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = valid_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const size_t n = valid_sequence_length(s, i);
    if (n != 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      append_utf8(out, kReplacementChar);
      i += invalid_subpart_length(s, i);
    }
  }
  return out;
}

size_t incomplete_tail_length(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t pos = n - back;
    const uint8_t b = byte_at(s, pos);
    if (b >= 0x80 && b <= 0xBF) continue;  // continuation byte: keep looking for the lead
    size_t good, length;
    scan_sequence(s, pos, good, length);
    return (length > back && good == back) ? back : 0;
  }
  return 0;
}

uint32_t next_code_point(std::string_view s, size_t& pos) {
  const uint8_t b = byte_at(s, pos);
  if (b < 0x80) {
    ++pos;
    return b;
  }
  const size_t n = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  uint32_t cp = b & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < n && pos + k < s.size(); ++k) cp = (cp << 6) | (byte_at(s, pos + k) & 0x3F);
  pos += n;
  return cp;
}

namespace {

struct ByteLevelTables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> to_byte{};  // every alphabet code point is < 512
  ByteLevelTables() {
    to_byte.fill(-1);
    uint32_t extra = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = printable ? b : 256 + extra++;
      to_byte[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

const std::array<uint32_t, 256>& byte_level_alphabet() { return tables().to_cp; }

int byte_level_byte(uint32_t cp) { return cp < 512 ? tables().to_byte[cp] : -1; }

}  // namespace dsv4::tokenizer
