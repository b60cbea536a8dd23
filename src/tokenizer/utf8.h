// UTF-8 helpers for the tokenizer: validation, repair of invalid bytes, code point access, and the
// GPT-2 byte-level alphabet (each of the 256 byte values stands for one printable code point).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dsv4::tokenizer {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Appends the UTF-8 encoding of code point cp (cp must be a valid scalar value).
void append_utf8(std::string& out, uint32_t cp);

// Length of the valid UTF-8 sequence starting at s[pos] (1..4), or 0 when the bytes there do not
// start a well-formed sequence (the Unicode definition: no overlongs, no surrogates, <= U+10FFFF).
size_t valid_sequence_length(std::string_view s, size_t pos);

// Number of bytes of the maximal subpart of an ill-formed sequence at s[pos] (>= 1): the unit
// that one U+FFFD replaces (Unicode §3.9, the same policy as Python's errors="replace").
size_t invalid_subpart_length(std::string_view s, size_t pos);

bool is_valid_utf8(std::string_view s);

// s with each maximal ill-formed subpart replaced by U+FFFD.
std::string repair_utf8(std::string_view s);

// How many bytes at the end of s form an incomplete (but so far well-formed) UTF-8 sequence that
// more bytes could complete (0..3).
size_t incomplete_tail_length(std::string_view s);

// Decodes the code point at s[pos] of a valid UTF-8 string and advances pos.
uint32_t next_code_point(std::string_view s, size_t& pos);

// The GPT-2 byte-level alphabet: byte -> code point, and code point -> byte (-1 if none).
const std::array<uint32_t, 256>& byte_level_alphabet();
int byte_level_byte(uint32_t cp);

}  // namespace dsv4::tokenizer
