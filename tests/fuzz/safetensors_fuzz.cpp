// Randomized corruption of safetensors files, run under AddressSanitizer + UBSan.
//
// Starts from valid small files made with SafetensorsWriter and mutates them (byte flips in the
// header length, the header JSON and the data; truncation at every length; JSON-aware edits), and
// also generates hostile headers from scratch (wrong types, huge and negative numbers, overlapping
// and out-of-range offsets, deep nesting, invalid UTF-8, NUL bytes, duplicate keys, huge header
// lengths). Every buffer is handed to parse_safetensors as an exact-size heap copy, so ASan
// catches any read outside it. Invariants: no crash; every rejection is a dsv4::Error with a
// non-empty message; an accepted header has every tensor inside the data section with the right
// byte size and no two tensors overlapping. Fresh seed per run (printed); bounded in time.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  size_t accepted = 0;
  size_t rejected = 0;
};

// Parses an exact-size heap copy of `bytes` and checks the invariants. Returns false on a broken
// invariant (after reporting it).
bool check_buffer(const std::vector<uint8_t>& bytes, Stats& stats, const char* what) {
  const size_t n = bytes.size();
  std::unique_ptr<uint8_t[]> copy(new uint8_t[n]);  // exactly n bytes: ASan sees any overrun
  if (n > 0) std::memcpy(copy.get(), bytes.data(), n);
  SafetensorsHeader h;
  try {
    h = parse_safetensors(copy.get(), n, "fuzz.safetensors");
  } catch (const Error& e) {
    ++stats.rejected;
    if (std::string(e.what()).empty()) {
      ADD_FAILURE() << what << ": rejection with an empty message";
      return false;
    }
    if (std::string(e.what()).find("fuzz.safetensors") == std::string::npos) {
      ADD_FAILURE() << what << ": rejection does not name the file: " << e.what();
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw a non-dsv4 exception: " << e.what();
    return false;
  }
  ++stats.accepted;
  if (h.header_size > n - 8 || 8 + h.header_size + h.data_size != n) {
    ADD_FAILURE() << what << ": header/data sizes " << h.header_size << "+" << h.data_size << " vs file " << n;
    return false;
  }
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  unsigned sum = 0;
  for (const TensorEntry& e : h.tensors) {
    uint64_t need = dtype_size(e.dtype);
    for (int64_t d : e.shape) {
      if (d < 0) {
        ADD_FAILURE() << what << ": negative dim accepted in " << e.name;
        return false;
      }
      need *= uint64_t(d);  // cannot overflow: the parser checked
    }
    if (e.begin > e.end || e.end > h.data_size || e.end - e.begin != need) {
      ADD_FAILURE() << what << ": tensor " << e.name << " [" << e.begin << ", " << e.end << ") outside data of "
                    << h.data_size << " or wrong size " << need;
      return false;
    }
    const uint8_t* p = copy.get() + 8 + h.header_size;
    for (uint64_t i = e.begin; i < e.end; ++i) sum += p[i];  // touch every byte (ASan checks)
    if (e.end > e.begin) spans.emplace_back(e.begin, e.end);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].first < spans[i - 1].second) {
      ADD_FAILURE() << what << ": overlapping tensors accepted";
      return false;
    }
  }
  volatile unsigned sink = sum;
  (void)sink;
  return true;
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<uint8_t> with_header(const std::string& header, size_t data_size, std::mt19937_64& rng) {
  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + data_size);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_size; ++i) out.push_back(uint8_t(rng()));
  return out;
}

// Valid small files made with the writer.
std::vector<std::vector<uint8_t>> make_seed_files(std::mt19937_64& rng) {
  const std::string dir = test::make_temp_dir("dsv4-fuzz");
  const DType kinds[] = {DType::F32, DType::BF16, DType::F8_E4M3, DType::F8_E8M0, DType::I8,
                         DType::I64, DType::I32,  DType::F16,     DType::U8,      DType::F8_E5M2};
  std::vector<std::vector<uint8_t>> files;
  for (int f = 0; f < 6; ++f) {
    std::vector<SafetensorsWriter::Decl> decls;
    const int count = int(rng() % 5) + (f == 0 ? 0 : 1);
    for (int t = 0; t < count; ++t) {
      Shape shape;
      const int rank = int(rng() % 4);
      for (int d = 0; d < rank; ++d) shape.push_back(int64_t(rng() % 5));
      decls.push_back({"layers." + std::to_string(t) + ".w", kinds[rng() % 10], shape});
    }
    const std::string path = dir + "/f" + std::to_string(f) + ".safetensors";
    std::map<std::string, std::string> meta;
    if (f % 2) meta["format"] = "pt";
    SafetensorsWriter w(path, decls, meta);
    for (const auto& d : decls) {
      std::vector<uint8_t> b(shape_numel(d.shape) * dtype_size(d.dtype));
      for (auto& x : b) x = uint8_t(rng());
      if (!b.empty()) w.write(b.data(), b.size());
    }
    w.finish();
    files.push_back(read_all(path));
  }
  return files;
}

uint64_t header_len(const std::vector<uint8_t>& f) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | f[size_t(i)];
  return n;
}

void set_header_len(std::vector<uint8_t>& f, uint64_t n) {
  for (int i = 0; i < 8; ++i) f[size_t(i)] = uint8_t(n >> (8 * i));
}

// ---- random hostile JSON ----

struct JsonGen {
  std::mt19937_64& rng;
  size_t data_size;

  uint64_t pick(uint64_t n) { return rng() % n; }

  std::string number() {
    static const char* const kOdd[] = {"-1", "-0", "0", "1e400", "-1e400", "1.5", "18446744073709551615",
                                       "18446744073709551616", "9223372036854775807", "9223372036854775808",
                                       "-9223372036854775808", "-9223372036854775809", "4611686018427387904",
                                       "1e19", "0.0", "1E2", "00", "0x10", "+1", "1.", ".5", "NaN", "Infinity"};
    switch (pick(4)) {
      case 0: return kOdd[pick(sizeof(kOdd) / sizeof(kOdd[0]))];
      case 1: return std::to_string(pick(data_size + 3));
      case 2: return std::to_string(rng());
      default: return std::to_string(pick(17));
    }
  }

  std::string string_value() {
    static const char* const kStrings[] = {"F32", "BF16", "F16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "I8", "U8",
                                           "I32", "I64", "F64", "BOOL", "", "f32", "F8_E4M3FN", "__metadata__"};
    std::string s = kStrings[pick(sizeof(kStrings) / sizeof(kStrings[0]))];
    if (pick(8) == 0) s += "\xC3\x28";       // invalid UTF-8
    if (pick(8) == 0) s += "\xF0\x9F\x98\x80";  // valid 4-byte UTF-8
    if (pick(10) == 0) s += std::string("a\0b", 3);  // raw NUL inside a string
    if (pick(10) == 0) s += "\\u0000";
    if (pick(12) == 0) s += "\\ud800";  // lone surrogate escape
    return "\"" + s + "\"";
  }

  std::string nested(size_t depth) {
    std::string s;
    const bool arrays = pick(2) == 0;
    for (size_t i = 0; i < depth; ++i) s += arrays ? "[" : "{\"k\":";
    s += pick(2) ? "1" : "";
    for (size_t i = 0; i < depth; ++i) s += arrays ? "]" : "}";
    return s;
  }

  std::string value(int depth) {
    switch (pick(depth > 3 ? 4 : 9)) {
      case 0: return number();
      case 1: return string_value();
      case 2: return pick(2) ? "true" : "null";
      case 3: return pick(3) ? "[]" : "{}";
      case 4: return array(depth + 1);
      case 5: return nested(size_t(1) << pick(15));  // up to 16k levels
      default: return tensor(depth + 1);
    }
  }

  std::string array(int depth) {
    std::string s = "[";
    const uint64_t n = pick(5);
    for (uint64_t i = 0; i < n; ++i) s += (i ? "," : "") + (pick(3) ? number() : value(depth + 1));
    return s + "]";
  }

  std::string offsets() {
    uint64_t b = pick(data_size + 2), e = pick(data_size + 2);
    if (pick(2)) std::swap(b, e);
    switch (pick(6)) {
      case 0: return "[" + number() + "," + number() + "]";
      case 1: return "[" + std::to_string(b) + "]";
      case 2: return "[" + std::to_string(b) + "," + std::to_string(e) + "," + std::to_string(e) + "]";
      default: return "[" + std::to_string(std::min(b, e)) + "," + std::to_string(std::max(b, e)) + "]";
    }
  }

  std::string shape() {
    if (pick(8) == 0) return value(3);
    std::string s = "[";
    const uint64_t n = pick(10);
    for (uint64_t i = 0; i < n; ++i) s += (i ? "," : "") + (pick(6) ? std::to_string(pick(9)) : number());
    return s + "]";
  }

  std::string tensor(int depth) {
    std::string s = "{";
    bool first = true;
    auto field = [&](const std::string& k, const std::string& v) {
      s += (first ? "" : ",") + ("\"" + k + "\":") + v;
      first = false;
    };
    if (pick(10)) field("dtype", pick(8) ? string_value() : value(depth + 1));
    if (pick(10)) field("shape", shape());
    if (pick(10)) field("data_offsets", offsets());
    if (pick(10) == 0) field("extra", value(depth + 1));
    if (pick(10) == 0) field("dtype", string_value());  // duplicate key
    return s + "}";
  }

  std::string header() {
    std::string s = "{";
    const uint64_t n = pick(8);
    for (uint64_t i = 0; i < n; ++i) {
      std::string name = "t" + std::to_string(pick(4));  // small name space: duplicates happen
      if (pick(10) == 0) name = "__metadata__";
      if (pick(15) == 0) name += "\xFF";
      s += (i ? "," : "") + ("\"" + name + "\":") + (pick(6) ? tensor(0) : value(0));
    }
    s += "}";
    if (pick(20) == 0) s += " trailing";
    if (pick(30) == 0) s.insert(pick(s.size() + 1), 1, '\0');
    if (pick(8) == 0) s.append(pick(9), ' ');
    return s;
  }
};

// ---- the tests ----

TEST(SafetensorsFuzz, TruncationAtEveryLength) {
  const uint64_t seed = test::fresh_seed("SafetensorsFuzz.TruncationAtEveryLength");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Stats stats;
  for (const auto& file : make_seed_files(rng)) {
    Stats valid;
    ASSERT_TRUE(check_buffer(file, valid, "valid seed file"));
    ASSERT_EQ(valid.accepted, 1u) << "a valid file made by the writer was rejected";
    for (size_t len = 0; len < file.size(); ++len) {
      std::vector<uint8_t> t(file.begin(), file.begin() + long(len));
      if (!check_buffer(t, stats, "truncated")) return;
    }
  }
  std::printf("[fuzz] truncation: %zu accepted, %zu rejected\n", stats.accepted, stats.rejected);
}

TEST(SafetensorsFuzz, RandomMutationsOfValidFiles) {
  const uint64_t seed = test::fresh_seed("SafetensorsFuzz.RandomMutationsOfValidFiles");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto files = make_seed_files(rng);
  static const char kJsonish[] = "{}[]\":,0123456789-+.eE \\tfnuFIBU8_";
  Stats stats;
  const auto deadline = Clock::now() + std::chrono::seconds(8);
  size_t iters = 0;
  for (; iters < 200000 && Clock::now() < deadline; ++iters) {
    std::vector<uint8_t> f = files[rng() % files.size()];
    const int kind = int(rng() % 8);
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      // The header length as written, bounded by the file (earlier edits may have changed both).
      const uint64_t n = std::min<uint64_t>(header_len(f), f.size() - 8);
      switch (kind) {
        case 0:  // header length bytes
          f[rng() % 8] ^= uint8_t(1u << (rng() % 8));
          break;
        case 1:  // header length set to something random or near the truth
          set_header_len(f, (rng() % 2) ? rng() : n + uint64_t(int64_t(rng() % 33) - 16));
          break;
        case 2:  // any byte of the header JSON
          if (n > 0) f[8 + rng() % n] = uint8_t(rng());
          break;
        case 3:  // a JSON-ish character in the header
          if (n > 0) f[8 + rng() % n] = uint8_t(kJsonish[rng() % (sizeof(kJsonish) - 1)]);
          break;
        case 4:  // a digit in the header (offsets and shapes change, structure stays)
          if (n > 0) {
            const size_t pos = 8 + rng() % n;
            if (f[pos] >= '0' && f[pos] <= '9') f[pos] = uint8_t('0' + rng() % 10);
          }
          break;
        case 5:  // data bytes (never make it invalid, but must stay in bounds)
          if (f.size() > 8 + n) f[8 + n + rng() % (f.size() - 8 - n)] ^= uint8_t(rng());
          break;
        case 6:  // delete or insert a byte in the header, keeping the length field in step
          if (n > 1) {
            const size_t pos = 8 + rng() % n;
            if (rng() % 2) {
              f.erase(f.begin() + long(pos));
              set_header_len(f, n - 1);
            } else {
              f.insert(f.begin() + long(pos), uint8_t(kJsonish[rng() % (sizeof(kJsonish) - 1)]));
              set_header_len(f, n + 1);
            }
          }
          break;
        default:  // grow or shrink the data section
          if (rng() % 2) {
            f.resize(f.size() + rng() % 16, 0);
          } else {
            f.resize(std::max<size_t>(8 + n, f.size() - std::min<size_t>(f.size(), rng() % 16)));
          }
          break;
      }
    }
    if (!check_buffer(f, stats, "mutated")) return;
  }
  std::printf("[fuzz] mutations: %zu iterations, %zu accepted, %zu rejected\n", iters, stats.accepted,
              stats.rejected);
  EXPECT_GT(stats.rejected, 0u);
}

TEST(SafetensorsFuzz, GeneratedHostileHeaders) {
  const uint64_t seed = test::fresh_seed("SafetensorsFuzz.GeneratedHostileHeaders");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Stats stats;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  size_t iters = 0;
  for (; iters < 100000 && Clock::now() < deadline; ++iters) {
    const size_t data_size = rng() % 64;
    JsonGen gen{rng, data_size};
    std::vector<uint8_t> f = with_header(gen.header(), data_size, rng);
    if (rng() % 16 == 0) {  // lie about the header length
      const uint64_t lies[] = {rng(), UINT64_MAX, UINT64_MAX - 7, uint64_t(1) << 63, f.size() - 8, f.size() - 7, 0,
                               (512ull << 20) + 1};
      set_header_len(f, lies[rng() % 8]);
    }
    if (!check_buffer(f, stats, "generated")) return;
  }
  std::printf("[fuzz] generated: %zu iterations, %zu accepted, %zu rejected\n", iters, stats.accepted,
              stats.rejected);
  EXPECT_GT(stats.rejected, 0u);
}

TEST(SafetensorsFuzz, DeepNestingEverywhere) {
  // Deeply nested values in each position of a tensor entry and of the metadata.
  std::mt19937_64 rng(3);
  Stats stats;
  for (size_t depth : {size_t(1000), size_t(20000), size_t(200000)}) {
    const std::string deep_a = std::string(depth, '[') + "1" + std::string(depth, ']');
    std::string deep_o;
    for (size_t i = 0; i < depth; ++i) deep_o += "{\"a\":";
    deep_o += "1" + std::string(depth, '}');
    for (const std::string& deep : {deep_a, deep_o}) {
      const std::string headers[] = {
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[" + deep + "],\"data_offsets\":[0,4]}}",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":" + deep + ",\"data_offsets\":[0,4]}}",
          "{\"t\":{\"dtype\":" + deep + ",\"shape\":[1],\"data_offsets\":[0,4]}}",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" + deep + ",4]}}",
          "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":" + deep + "}}",
          "{\"__metadata__\":{\"k\":" + deep + "}}",
          "{\"t\":" + deep + "}",
          deep,
          "{\"t\":" + std::string(depth, '[') + "}",  // unterminated
      };
      for (const std::string& h : headers)
        if (!check_buffer(with_header(h, 4, rng), stats, "deep")) return;
    }
  }
  EXPECT_EQ(stats.accepted, 0u);
}

}  // namespace
}  // namespace dsv4
