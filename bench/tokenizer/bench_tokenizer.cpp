// Encode throughput of dsv4's tokenizer on a corpus: the whole file as one text, and line by line.
// Usage: bench_tokenizer MODEL_DIR CORPUS [REPEATS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR CORPUS [REPEATS]\n", argv[0]);
    return 2;
  }
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 5;
  std::ifstream in(argv[2], std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start + (nl < text.size() ? 1 : 0)));
    start = nl + 1;
  }
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  const auto tok = dsv4::tokenizer::Tokenizer::load(argv[1]);
  const double load_s = std::chrono::duration<double>(clock::now() - t0).count();
  const double mb = double(text.size()) / 1e6;

  std::vector<double> whole, per_line;
  size_t ids_whole = 0, ids_lines = 0;
  for (int r = 0; r < repeats; ++r) {
    t0 = clock::now();
    ids_whole = tok.encode(text).size();
    whole.push_back(std::chrono::duration<double>(clock::now() - t0).count());
    t0 = clock::now();
    ids_lines = 0;
    for (const auto& l : lines) ids_lines += tok.encode(l).size();
    per_line.push_back(std::chrono::duration<double>(clock::now() - t0).count());
  }
  const double first_whole = whole.front();
  std::sort(whole.begin(), whole.end());
  std::sort(per_line.begin(), per_line.end());
  std::printf("dsv4 tokenizer: load %.2f s; corpus %.2f MB, %zu lines\n", load_s, mb, lines.size());
  std::printf("dsv4 whole text : %zu ids, first run %.3f s = %.2f MB/s (cold cache), median %.3f s = %.2f MB/s\n",
              ids_whole, first_whole, mb / first_whole, whole[whole.size() / 2], mb / whole[whole.size() / 2]);
  std::printf("dsv4 line by line: %zu ids, median %.3f s = %.2f MB/s\n", ids_lines, per_line[per_line.size() / 2],
              mb / per_line[per_line.size() / 2]);
  return 0;
}
