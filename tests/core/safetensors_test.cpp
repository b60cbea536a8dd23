// core/safetensors.h: writer -> reader round trips, multi-shard checkpoints with an index, every
// validation error class, and the golden-a checkpoint read against an independent header parse.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A file image: 8-byte little-endian header length, the header text, `data_size` data bytes.
std::vector<uint8_t> image(const std::string& header, size_t data_size, uint64_t declared_len = UINT64_MAX) {
  const uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + data_size);
  for (int i = 0; i < 8; ++i) out.push_back(uint8_t(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_size; ++i) out.push_back(uint8_t(i * 31 + 7));
  return out;
}

// Runs parse_safetensors and returns the error text ("" when it was accepted).
std::string parse_error(const std::vector<uint8_t>& bytes, const std::string& label = "bad.safetensors") {
  try {
    parse_safetensors(bytes.data(), bytes.size(), label);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct Written {
  SafetensorsWriter::Decl decl;
  std::vector<uint8_t> bytes;
};

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = uint8_t(rng());
  return b;
}

// Writes tensors with the writer, in pieces of random sizes.
void write_file(const std::string& path, const std::vector<Written>& tensors, std::mt19937_64& rng,
                const std::map<std::string, std::string>& metadata = {}) {
  std::vector<SafetensorsWriter::Decl> decls;
  for (const auto& t : tensors) decls.push_back(t.decl);
  SafetensorsWriter w(path, decls, metadata);
  for (const auto& t : tensors) {
    size_t pos = 0;
    while (pos < t.bytes.size()) {
      const size_t take = std::min(t.bytes.size() - pos, size_t(1 + rng() % 50));
      w.write(t.bytes.data() + pos, take);
      pos += take;
    }
  }
  w.finish();
}

std::vector<Written> sample_tensors(std::mt19937_64& rng, const std::string& prefix) {
  const std::vector<SafetensorsWriter::Decl> decls = {
      {prefix + "w.weight", DType::F8_E4M3, {5, 7}},
      {prefix + "w.scale", DType::F8_E8M0, {1, 1}},
      {prefix + "norm.weight", DType::BF16, {13}},
      {prefix + "empty", DType::F32, {0}},
      {prefix + "empty2d", DType::BF16, {3, 0}},
      {prefix + "scalar", DType::F32, {}},
      {prefix + "experts.0.w1.weight", DType::I8, {3, 3}},
      {prefix + "tid2eid", DType::I64, {4, 6}},
      {prefix + "positions", DType::I32, {5}},
      {prefix + "half", DType::F16, {3}},
      {prefix + "e5", DType::F8_E5M2, {1}},
      {prefix + "nv.weight", DType::U8, {2, 5}},
  };
  std::vector<Written> out;
  for (const auto& d : decls) out.push_back({d, random_bytes(rng, shape_numel(d.shape) * dtype_size(d.dtype))});
  return out;
}

void expect_contents(const SafetensorsFile& f, const std::vector<Written>& tensors) {
  EXPECT_EQ(f.header().tensors.size(), tensors.size());
  for (const auto& t : tensors) {
    SCOPED_TRACE(t.decl.name);
    const TensorEntry* e = f.find(t.decl.name);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dtype, t.decl.dtype);
    EXPECT_EQ(e->shape, t.decl.shape);
    EXPECT_EQ(e->end - e->begin, t.bytes.size());
    const TensorView v = f.view(*e);
    EXPECT_EQ(v.nbytes(), t.bytes.size());
    EXPECT_EQ(v.dtype, t.decl.dtype);
    if (!t.bytes.empty()) {
      EXPECT_EQ(std::memcmp(v.bytes(), t.bytes.data(), t.bytes.size()), 0);
    }
  }
}

// ---- writer / reader round trip ----

TEST(Safetensors, WriterReaderRoundTrip) {
  const uint64_t seed = test::fresh_seed("Safetensors.WriterReaderRoundTrip");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const std::string dir = test::make_temp_dir("dsv4-st");
  const std::string path = dir + "/model.safetensors";
  const auto tensors = sample_tensors(rng, "");
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "ünïcode \"quoted\""}};
  write_file(path, tensors, rng, meta);

  SafetensorsFile f(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.header().metadata, meta);
  expect_contents(f, tensors);
  EXPECT_EQ(f.find("nope"), nullptr);

  // Independent look at the file layout: header length, padding, 8-byte aligned offsets laid out
  // in declaration order, data section exactly as long as the last tensor's padded end.
  const auto bytes = read_all(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
  EXPECT_EQ(n % 8, 0u);
  const json header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + long(n));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  uint64_t expected_begin = 0;
  for (const auto& t : tensors) {
    const auto& e = header.at(t.decl.name);
    EXPECT_EQ(e["dtype"], std::string(dtype_name(t.decl.dtype)));
    EXPECT_EQ(e["shape"].get<std::vector<int64_t>>(), t.decl.shape);
    const uint64_t b = e["data_offsets"][0], en = e["data_offsets"][1];
    EXPECT_EQ(b, expected_begin) << t.decl.name;
    EXPECT_EQ(en - b, t.bytes.size()) << t.decl.name;
    EXPECT_EQ(b % 8, 0u);
    if (!t.bytes.empty()) {
      EXPECT_EQ(std::memcmp(bytes.data() + 8 + n + b, t.bytes.data(), t.bytes.size()), 0);
    }
    expected_begin = (en + 7) / 8 * 8;
  }
  EXPECT_EQ(bytes.size(), 8 + n + expected_begin);
  EXPECT_EQ(f.header().data_size, expected_begin);

  // The same bytes through parse_safetensors on an exact-size heap copy.
  const SafetensorsHeader h = parse_safetensors(bytes.data(), bytes.size(), path);
  EXPECT_EQ(h.tensors.size(), tensors.size());
  EXPECT_EQ(h.header_size, n);
}

TEST(Safetensors, WriterEdgeCasesAndMisuse) {
  const std::string dir = test::make_temp_dir("dsv4-stw");
  std::mt19937_64 rng(1);
  {  // no tensors at all, no metadata
    SafetensorsWriter w(dir + "/empty.safetensors", {});
    w.finish();
    SafetensorsFile f(dir + "/empty.safetensors");
    EXPECT_TRUE(f.header().tensors.empty());
    EXPECT_EQ(f.header().data_size, 0u);
  }
  {  // only empty tensors
    write_file(dir + "/zeros.safetensors", {{{"a", DType::F32, {0, 4}}, {}}, {{"b", DType::I8, {0}}, {}}}, rng);
    SafetensorsFile f(dir + "/zeros.safetensors");
    EXPECT_EQ(f.header().tensors.size(), 2u);
  }
  {  // too many bytes
    SafetensorsWriter w(dir + "/over.safetensors", {{"a", DType::I8, {3}}});
    const uint8_t b[4] = {1, 2, 3, 4};
    try {
      w.write(b, 4);
      ADD_FAILURE() << "writing past the declared tensors was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("over.safetensors"), std::string::npos) << e.what();
    }
  }
  {  // too few bytes
    SafetensorsWriter w(dir + "/under.safetensors", {{"a", DType::I8, {3}}, {"b", DType::F32, {2}}});
    const uint8_t b[5] = {};
    w.write(b, 5);
    try {
      w.finish();
      ADD_FAILURE() << "finish() accepted a file with missing bytes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("under.safetensors"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(SafetensorsWriter(dir + "/no/such/dir/x.safetensors", {}), Error);
}

// ---- multi-shard checkpoints ----

struct ShardedFixture {
  std::string dir;
  std::vector<Written> a, b;  // shard 1, shard 2
  std::map<std::string, std::string> weight_map;
};

ShardedFixture make_sharded(std::mt19937_64& rng) {
  ShardedFixture fx;
  fx.dir = test::make_temp_dir("dsv4-ckpt");
  fx.a = sample_tensors(rng, "layers.0.");
  fx.b = sample_tensors(rng, "layers.1.");
  write_file(fx.dir + "/model-00001-of-00002.safetensors", fx.a, rng);
  write_file(fx.dir + "/model-00002-of-00002.safetensors", fx.b, rng);
  for (const auto& t : fx.a) fx.weight_map[t.decl.name] = "model-00001-of-00002.safetensors";
  for (const auto& t : fx.b) fx.weight_map[t.decl.name] = "model-00002-of-00002.safetensors";
  return fx;
}

std::string checkpoint_error(const std::string& dir) {
  try {
    Checkpoint c(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Safetensors, CheckpointWithIndex) {
  const uint64_t seed = test::fresh_seed("Safetensors.CheckpointWithIndex");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  ShardedFixture fx = make_sharded(rng);
  write_safetensors_index(fx.dir + "/model.safetensors.index.json", 12345, fx.weight_map);
  // The index is in the real format.
  std::ifstream in(fx.dir + "/model.safetensors.index.json");
  const json index = json::parse(in);
  EXPECT_EQ(index["metadata"]["total_size"], 12345);
  EXPECT_EQ(index["weight_map"].size(), fx.weight_map.size());

  Checkpoint c(fx.dir);
  EXPECT_EQ(c.shard_count(), 2u);
  std::vector<std::string> want_names;
  uint64_t want_bytes = 0;
  for (const auto* shard : {&fx.a, &fx.b}) {
    for (const auto& t : *shard) {
      want_names.push_back(t.decl.name);
      want_bytes += t.bytes.size();
      ASSERT_TRUE(c.contains(t.decl.name));
      const TensorView v = c.get(t.decl.name);
      EXPECT_EQ(v.shape, t.decl.shape);
      EXPECT_EQ(v.dtype, t.decl.dtype);
      EXPECT_EQ(c.entry(t.decl.name).shape, t.decl.shape);
      if (!t.bytes.empty()) {
        EXPECT_EQ(std::memcmp(v.bytes(), t.bytes.data(), t.bytes.size()), 0) << t.decl.name;
      }
      EXPECT_EQ(fs::path(c.shard_of(t.decl.name)).filename().string(), fx.weight_map[t.decl.name]);
    }
  }
  std::sort(want_names.begin(), want_names.end());
  EXPECT_EQ(c.names(), want_names);
  EXPECT_EQ(c.total_bytes(), want_bytes);
  EXPECT_FALSE(c.contains("layers.2.w.weight"));
  for (auto probe : {+[](const Checkpoint& k) { k.get("layers.9.x"); }, +[](const Checkpoint& k) { k.entry("layers.9.x"); },
                     +[](const Checkpoint& k) { k.shard_of("layers.9.x"); }}) {
    try {
      probe(c);
      ADD_FAILURE() << "absent tensor accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), "layers.9.x")) << e.what();
    }
  }
}

TEST(Safetensors, CheckpointSingleFileWithoutIndex) {
  std::mt19937_64 rng(7);
  const std::string dir = test::make_temp_dir("dsv4-ckpt1");
  const auto t = sample_tensors(rng, "");
  write_file(dir + "/model.safetensors", t, rng);
  Checkpoint c(dir);
  EXPECT_EQ(c.shard_count(), 1u);
  EXPECT_EQ(c.names().size(), t.size());
  EXPECT_TRUE(contains(checkpoint_error(test::make_temp_dir("dsv4-ckpt-empty")), "neither"));
  EXPECT_TRUE(contains(checkpoint_error(dir + "/does-not-exist"), "does-not-exist"));
}

TEST(Safetensors, CheckpointIndexProblems) {
  const uint64_t seed = test::fresh_seed("Safetensors.CheckpointIndexProblems");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";

  {  // missing shard
    ShardedFixture fx = make_sharded(rng);
    auto wm = fx.weight_map;
    wm["layers.2.extra"] = "model-00003-of-00003.safetensors";
    write_safetensors_index(fx.dir + "/model.safetensors.index.json", 0, wm);
    const std::string err = checkpoint_error(fx.dir);
    EXPECT_TRUE(contains(err, "model-00003-of-00003.safetensors")) << err;
  }
  {  // tensor mapped to the wrong shard
    ShardedFixture fx = make_sharded(rng);
    auto wm = fx.weight_map;
    wm["layers.0.norm.weight"] = s2;
    write_safetensors_index(fx.dir + "/model.safetensors.index.json", 0, wm);
    const std::string err = checkpoint_error(fx.dir);
    EXPECT_TRUE(contains(err, "layers.0.norm.weight") && contains(err, s1) && contains(err, s2)) << err;
  }
  {  // tensor in two shards
    ShardedFixture fx = make_sharded(rng);
    auto dup = fx.b;
    dup.push_back({{"layers.0.w.scale", DType::F8_E8M0, {1, 1}}, {0x7F}});
    write_file(fx.dir + "/" + s2, dup, rng);
    write_safetensors_index(fx.dir + "/model.safetensors.index.json", 0, fx.weight_map);
    const std::string err = checkpoint_error(fx.dir);
    EXPECT_TRUE(contains(err, "layers.0.w.scale") && contains(err, "both") && contains(err, s1) && contains(err, s2))
        << err;
  }
  {  // tensor in a shard but not in the index; and an index entry no shard holds
    ShardedFixture fx = make_sharded(rng);
    auto wm = fx.weight_map;
    wm.erase("layers.1.tid2eid");
    wm["layers.1.ghost"] = s1;
    write_safetensors_index(fx.dir + "/model.safetensors.index.json", 0, wm);
    const std::string err = checkpoint_error(fx.dir);
    EXPECT_TRUE(contains(err, "layers.1.tid2eid") && contains(err, "not listed")) << err;
    EXPECT_TRUE(contains(err, "layers.1.ghost") && contains(err, "does not contain")) << err;
    EXPECT_TRUE(contains(err, "2 problem")) << err;  // both reported at once
  }
  {  // malformed index files
    ShardedFixture fx = make_sharded(rng);
    const std::string idx = fx.dir + "/model.safetensors.index.json";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{not json", "model.safetensors.index.json"},
        {"[1, 2]", "model.safetensors.index.json"},
        {"{\"metadata\": {}}", "weight_map"},
        {"{\"weight_map\": {\"a\": 3}}", "weight_map['a']"},
        {"{\"weight_map\": {\"a\": \"../evil.safetensors\"}}", "../evil.safetensors"},
        {"{\"weight_map\": {\"a\": \"\"}}", "weight_map['a']"},
    };
    for (const auto& [text, want] : cases) {
      std::ofstream(idx) << text;
      const std::string err = checkpoint_error(fx.dir);
      EXPECT_TRUE(contains(err, want)) << text << " -> " << err;
    }
  }
  {  // a corrupt shard is reported with its path
    ShardedFixture fx = make_sharded(rng);
    write_safetensors_index(fx.dir + "/model.safetensors.index.json", 0, fx.weight_map);
    fs::resize_file(fx.dir + "/" + s2, 20);
    const std::string err = checkpoint_error(fx.dir);
    EXPECT_TRUE(contains(err, s2)) << err;
  }
}

// ---- validation: every error class, with file, tensor and problem ----

struct BadCase {
  std::string header;
  size_t data_size;
  std::vector<std::string> must_contain;  // besides the label
};

TEST(Safetensors, EveryValidationErrorNamesFileTensorAndProblem) {
  const std::vector<BadCase> cases = {
      {"{not json", 0, {"not valid JSON"}},
      {"[1,2,3]", 0, {"array", "object"}},
      {"\"str\"", 0, {"string", "object"}},
      {R"({"__metadata__": [1]})", 0, {"__metadata__", "array"}},
      {R"({"__metadata__": {"k": 1}})", 0, {"__metadata__", "'k'", "string"}},
      {R"({"t.a": 5})", 0, {"'t.a'", "expected an object"}},
      {R"({"t.b": {"shape": [1], "data_offsets": [0, 4]}})", 4, {"'t.b'", "dtype"}},
      {R"({"t.c": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}})", 4, {"'t.c'", "dtype"}},
      {R"({"t.d": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})", 8, {"'t.d'", "unsupported dtype", "F64"}},
      {R"({"t.e": {"dtype": "F32", "data_offsets": [0, 4]}})", 4, {"'t.e'", "shape"}},
      {R"({"t.f": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}})", 16, {"'t.f'", "shape"}},
      {R"({"t.g": {"dtype": "F32", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 4]}})", 4, {"'t.g'", "9 dims"}},
      {R"({"t.h": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4, {"'t.h'", "-1", "non-negative"}},
      {R"({"t.i": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4, {"'t.i'", "1.5"}},
      {R"({"t.j": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", 8, {"'t.j'", "shape entry"}},
      {R"({"t.k": {"dtype": "F32", "shape": [1]}})", 4, {"'t.k'", "data_offsets"}},
      {R"({"t.l": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", 8, {"'t.l'", "data_offsets"}},
      {R"({"t.m": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}})", 4, {"'t.m'", "data_offsets"}},
      {R"({"t.n": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4, {"'t.n'", "data_offsets"}},
      {R"({"t.o": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", 8, {"'t.o'", "begin 8 > end 4"}},
      {R"({"t.p": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 12, {"'t.p'", "end 16", "beyond", "12"}},
      {R"({"t.q": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "extra": 1}})", 4, {"'t.q'", "'extra'"}},
      {R"({"t.r": {"dtype": "F32", "shape": [4611686018427387904, 8], "data_offsets": [0, 4]}})", 4,
       {"'t.r'", "overflow"}},
      {R"({"t.s": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 8]}})", 8, {"'t.s'", "BF16", "[3]", "6 bytes", "8"}},
      {R"({"t.u": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "t.v": {"dtype": "I8", "shape": [4], "data_offsets": [4, 8]}})",
       8, {"'t.u'", "'t.v'", "overlap"}},
      {R"({"t.w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 18446744073709551615]}})", 4, {"'t.w'", "data_offsets"}},
      {R"({"t.x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 18446744073709551616]}})", 4, {"'t.x'", "data_offsets"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.header);
    const std::string err = parse_error(image(c.header, c.data_size), "dir/bad-file.safetensors");
    ASSERT_FALSE(err.empty()) << "accepted";
    EXPECT_TRUE(contains(err, "dir/bad-file.safetensors")) << err;
    for (const std::string& part : c.must_contain) EXPECT_TRUE(contains(err, part)) << "missing '" << part << "' in: " << err;
  }

  // Several problems at once are all listed.
  const std::string multi =
      R"({"x1": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}, "x2": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}, "x3": 1})";
  const std::string err = parse_error(image(multi, 8));
  for (const char* part : {"'x1'", "'x2'", "'x3'", "3 problems"}) EXPECT_TRUE(contains(err, part)) << part << " in " << err;

  // File-level problems.
  EXPECT_TRUE(contains(parse_error({1, 2, 3}, "short.st"), "short.st"));
  EXPECT_TRUE(contains(parse_error({1, 2, 3}, "short.st"), "3 bytes"));
  EXPECT_TRUE(contains(parse_error({}, "empty.st"), "empty.st"));
  const std::string trunc = parse_error(image("{}", 0, 100), "trunc.st");
  EXPECT_TRUE(contains(trunc, "trunc.st") && contains(trunc, "header length 100")) << trunc;
  const std::string huge = parse_error(image("{}", 0, UINT64_MAX - 3), "huge.st");
  EXPECT_TRUE(contains(huge, "huge.st") && contains(huge, "header length")) << huge;

  // Valid edge cases are accepted: empty header object, empty tensors anywhere, gaps, metadata only.
  EXPECT_EQ(parse_error(image("{}", 0)), "");
  EXPECT_EQ(parse_error(image("{}  ", 5)), "");
  EXPECT_EQ(parse_error(image(R"({"__metadata__": {"a": "b"}})", 0)), "");
  EXPECT_EQ(parse_error(image(R"({"e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]}, "f": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", 8)), "");
  EXPECT_EQ(parse_error(image(R"({"s": {"dtype": "F32", "shape": [], "data_offsets": [12, 16]}})", 20)), "");
}

TEST(Safetensors, HeaderLengthLimitOnALargeSparseFile) {
  // A header length beyond the 512 MiB limit inside a file that really is that large (sparse).
  const std::string dir = test::make_temp_dir("dsv4-sparse");
  const std::string path = dir + "/big.safetensors";
  const uint64_t n = (512ull << 20) + 16;
  {
    std::ofstream out(path, std::ios::binary);
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
  }
  fs::resize_file(path, 8 + n);
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), path) && contains(e.what(), "limit")) << e.what();
  }
  fs::remove(path);
}

// ---- golden-a ----

TEST(Safetensors, ReadsGoldenACheckpoint) {
  const std::string dir = test::golden_dir("golden-a");
  if (!fs::exists(dir + "/model.safetensors")) GTEST_SKIP() << dir << " not present";
  Checkpoint c(dir);
  std::ifstream in(dir + "/model.safetensors.index.json");
  const json index = json::parse(in);
  EXPECT_EQ(c.names().size(), index["weight_map"].size());
  EXPECT_EQ(c.names().size(), 932u);
  EXPECT_EQ(c.shard_count(), 1u);
  if (index["metadata"].contains("total_size")) {
    EXPECT_EQ(c.total_bytes(), index["metadata"]["total_size"].get<uint64_t>());
  }

  // Every entry against an independent parse of the header, and every tensor's first and last
  // bytes against a plain read of the file.
  const auto bytes = read_all(dir + "/model.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
  const json header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + long(n));
  size_t seen = 0;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    ++seen;
    const TensorEntry& e = c.entry(it.key());
    EXPECT_EQ(dtype_name(e.dtype), it.value()["dtype"].get<std::string>()) << it.key();
    EXPECT_EQ(e.shape, it.value()["shape"].get<std::vector<int64_t>>()) << it.key();
    const uint64_t b = it.value()["data_offsets"][0];
    const TensorView v = c.get(it.key());
    ASSERT_EQ(v.nbytes(), uint64_t(it.value()["data_offsets"][1]) - b) << it.key();
    if (v.nbytes() > 0) {
      EXPECT_EQ(v.bytes()[0], bytes[8 + n + b]) << it.key();
      EXPECT_EQ(v.bytes()[v.nbytes() - 1], bytes[8 + n + b + v.nbytes() - 1]) << it.key();
    }
  }
  EXPECT_EQ(seen, 932u);
  EXPECT_EQ(c.entry("embed.weight").dtype, DType::BF16);
  EXPECT_EQ(c.entry("layers.0.attn.wq_a.scale").dtype, DType::F8_E8M0);
  EXPECT_EQ(c.entry("layers.0.attn.wq_a.weight").dtype, DType::F8_E4M3);
}

}  // namespace
}  // namespace dsv4
