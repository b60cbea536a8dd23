// The peer test: Hugging Face `tokenizers` (pinned, in the project's .venv) and our tokenizer on
// the same real DeepSeek-V4 tokenizer.json must give the same ids for every record of the corpus
// tests/data/tokenizer/corpus.txt (each line, and blocks of lines joined by newlines), and
// decoding our ids must give the text back. The expected ids are made at test time by
// tests/data/tokenizer/hf_expected_ids.py; a missing venv or tokenizer is a failure, not a skip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/utf8.h"

#include <random>

namespace {

namespace fs = std::filesystem;
using dsv4::tokenizer::is_valid_utf8;
using dsv4::tokenizer::repair_utf8;

constexpr int kBlockLines = 40;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_lines(const std::string& data) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < data.size()) {
    size_t nl = data.find('\n', start);
    if (nl == std::string::npos) nl = data.size();
    lines.push_back(data.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::string show_ids(const std::vector<uint32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size() && i < 80; ++i) {
    if (i) s.push_back(' ');
    s.append(std::to_string(ids[i]));
  }
  if (ids.size() > 80) s += " ...";
  return s;
}

TEST(PeerCorpus, MatchesHuggingFaceTokenizersOnEveryRecord) {
  const std::string corpus = dsv4::test::source_dir() + "/tests/data/tokenizer/corpus.txt";
  const std::string script = dsv4::test::source_dir() + "/tests/data/tokenizer/hf_expected_ids.py";
  const std::string python = dsv4::test::venv_python();
  const std::string tok_json = dsv4::test::real_tokenizer_dir() + "/tokenizer.json";
  ASSERT_TRUE(fs::exists(python)) << "The project venv is missing (" << python
                                  << "): run scripts/setup.sh (or `make test`) to create it.";
  const auto* tok = dsv4::test::real_tokenizer();
  ASSERT_NE(tok, nullptr);
  ASSERT_TRUE(fs::exists(corpus)) << corpus;

  const std::string expected_path = dsv4::test::make_temp_dir("dsv4-peer") + "/expected.txt";
  const std::string command = "'" + python + "' '" + script + "' '" + tok_json + "' '" + corpus + "' '" +
                              expected_path + "' " + std::to_string(kBlockLines) + " 2>&1";
  std::string output;
  ASSERT_EQ(dsv4::test::run_command(command, &output), 0)
      << "Hugging Face tokenizers (from .venv) failed to make the expected ids: " << output
      << "\nRun scripts/setup.sh to install the pinned tokenizers wheel.";

  const std::string data = read_all(corpus);
  const std::vector<std::string> lines = split_lines(data);
  std::vector<std::string> records = lines;
  std::vector<std::string> what;
  for (size_t i = 0; i < lines.size(); ++i) what.push_back("line " + std::to_string(i + 1));
  for (size_t b = 0; b < lines.size(); b += kBlockLines) {
    std::string block;
    for (size_t i = b; i < std::min(lines.size(), b + kBlockLines); ++i) {
      if (i > b) block.push_back('\n');
      block.append(lines[i]);
    }
    records.push_back(block);
    what.push_back("block of lines " + std::to_string(b + 1) + ".." + std::to_string(std::min(lines.size(), b + kBlockLines)));
  }
  EXPECT_GE(lines.size(), 20000u);

  std::ifstream expected(expected_path);
  std::string header;
  std::getline(expected, header);
  std::printf("[peer] %s; %zu records, %zu bytes of corpus\n", header.c_str(), records.size(), data.size());
  size_t mismatches = 0, roundtrip_failures = 0, valid_lines = 0;
  std::string row;
  for (size_t r = 0; r < records.size(); ++r) {
    ASSERT_TRUE(std::getline(expected, row)) << "expected ids end early at record " << r;
    std::istringstream in(row.substr(1));
    std::vector<uint32_t> want;
    uint32_t id;
    while (in >> id) want.push_back(id);
    const std::vector<uint32_t> got = tok->encode(records[r]);
    if (got != want && ++mismatches <= 10) {
      ADD_FAILURE() << what[r] << " differs from Hugging Face tokenizers\n  text: " << records[r].substr(0, 300)
                    << "\n  ours: " << show_ids(got) << "\n  HF:   " << show_ids(want);
    }
    const std::string back = tok->decode(got);
    const bool valid = is_valid_utf8(records[r]);
    valid_lines += valid && r < lines.size();
    if (back != (valid ? records[r] : repair_utf8(records[r])) && ++roundtrip_failures <= 10)
      ADD_FAILURE() << what[r] << ": decode(encode(s)) != s\n  text: " << records[r].substr(0, 300);
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(roundtrip_failures, 0u);
  std::printf("[peer] %zu records compared (%zu valid UTF-8 lines), %zu mismatches\n", records.size(),
              valid_lines, mismatches);
}

// Fresh random texts every run (printed seed): random code points from all planes, special
// tokens and pieces of them, whitespace and digit runs, invalid bytes; compared with HF the same way.
TEST(PeerCorpus, RandomTextsWithFreshSeedMatchHuggingFace) {
  const std::string python = dsv4::test::venv_python();
  ASSERT_TRUE(fs::exists(python)) << "The project venv is missing (" << python << "): run scripts/setup.sh.";
  const auto* tok = dsv4::test::real_tokenizer();
  ASSERT_NE(tok, nullptr);
  const uint64_t seed = dsv4::test::fresh_seed("peer random texts");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const std::vector<std::string> pieces = {"<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "｜DSML｜", "<｜",
                                           "｜>", "<｜end▁of▁sentence｜>", "<|EOT|>", " ", "  ", "\t", "\r", "\r\r",
                                           "\xe3\x80\x80", "123", "4567", "٣٤", "Ġ", "'s", "'ll", "\xff", "\xe2\x82"};
  std::string file_text;
  std::vector<std::string> records;
  for (int r = 0; r < 4000; ++r) {
    std::string s;
    const size_t n = rng() % 60;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t k = rng() % 12;
      if (k < 3) {
        s += pieces[rng() % pieces.size()];
      } else {
        uint32_t cp;
        do {
          cp = k < 7 ? uint32_t(0x20 + rng() % 0x2FE0) : k < 10 ? uint32_t(rng() % 0x10000) : uint32_t(rng() % 0x110000);
        } while ((cp >= 0xD800 && cp <= 0xDFFF) || cp == '\n');
        dsv4::tokenizer::append_utf8(s, cp);
      }
    }
    records.push_back(s);
    file_text += s;
    file_text += '\n';
  }
  const std::string dir = dsv4::test::make_temp_dir("dsv4-peer-random");
  {
    std::ofstream out(dir + "/random.txt", std::ios::binary);
    out << file_text;
  }
  const std::string script = dsv4::test::source_dir() + "/tests/data/tokenizer/hf_expected_ids.py";
  const std::string tok_json = dsv4::test::real_tokenizer_dir() + "/tokenizer.json";
  std::string output;
  ASSERT_EQ(dsv4::test::run_command("'" + python + "' '" + script + "' '" + tok_json + "' '" + dir + "/random.txt' '" +
                                        dir + "/expected.txt' 1000000 2>&1",
                                    &output),
            0)
      << output;
  std::ifstream expected(dir + "/expected.txt");
  std::string row;
  std::getline(expected, row);
  size_t mismatches = 0;
  for (size_t r = 0; r < records.size(); ++r) {
    ASSERT_TRUE(std::getline(expected, row));
    std::istringstream in(row.substr(1));
    std::vector<uint32_t> want;
    uint32_t id;
    while (in >> id) want.push_back(id);
    const auto got = tok->encode(records[r]);
    if (got != want && ++mismatches <= 5)
      ADD_FAILURE() << "record " << r << " differs\n  ours: " << show_ids(got) << "\n  HF:   " << show_ids(want);
  }
  EXPECT_EQ(mismatches, 0u);
  size_t invalid = 0;
  for (const auto& r : records) invalid += !dsv4::tokenizer::is_valid_utf8(r);
  EXPECT_GT(invalid, 100u) << "the generator should make some invalid UTF-8";
}

}  // namespace
