// Token-mask time per generated token for structured output, on the real DeepSeek-V4 vocabulary:
// the mask at typical points of a JSON value (median of repeated computations, single thread).
// Usage: bench_structured_mask [TOKENIZER_JSON] [REPEATS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/structured/json_schema.h"
#include "runtime/structured/matcher.h"
#include "runtime/structured/token_mask.h"
#include "runtime/structured/token_trie.h"
#include "tokenizer/tokenizer.h"

using namespace dsv4;
using namespace dsv4::structured;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

size_t popcount(const std::vector<uint64_t>& bits) {
  size_t n = 0;
  for (uint64_t w : bits) n += size_t(__builtin_popcountll(w));
  return n;
}

void measure(const char* what, const Grammar& g, const TokenTrie& vocab, const std::string& prefix, int repeats,
             bool fast = true) {
  const Matcher m(g);
  MatchState s = m.start();
  if (!m.feed(s, prefix)) {
    std::printf("| %s | prefix rejected | | | |\n", what);
    return;
  }
  TokenMasker masker;
  std::vector<uint64_t> bits;
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    const auto t = Clock::now();
    masker.compute(m, vocab, s, bits, fast);
    times.push_back(ms_since(t));
  }
  std::sort(times.begin(), times.end());
  std::printf("| %s | `%s` | %.3f | %.3f | %zu | %zu |%s\n", what, prefix.c_str(), times[times.size() / 2], times.back(),
              popcount(bits), masker.stats().nodes_fed, masker.stats().plain_fast_path ? " plain fast path" : "");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : ".cache/tokenizer/deepseek-v4/tokenizer.json";
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 50;
  try {
    auto t = Clock::now();
    const tokenizer::Tokenizer tok = tokenizer::Tokenizer::load(path);
    std::printf("tokenizer load: %.1f ms (%u ids)\n", ms_since(t), tok.id_bound());
    t = Clock::now();
    const auto vocab = TokenTrie::from_tokenizer(tok);
    std::printf("token trie build: %.1f ms; trie nodes %zu (all) / %zu (not plain); plain tokens %zu, at most %u code points\n",
                ms_since(t), vocab->all().size(), vocab->not_plain().size(), vocab->plain_count(),
                vocab->max_plain_code_points());
    const auto schema = nlohmann::ordered_json::parse(R"({
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "email": {"type": "string", "maxLength": 64},
        "role": {"enum": ["admin", "user", "guest"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
        "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                    "required": ["city"], "additionalProperties": false},
        "score": {"type": ["number", "null"]}
      },
      "required": ["name", "age", "role"],
      "additionalProperties": false})");
    t = Clock::now();
    const auto g = compile_json_schema(schema);
    std::printf("schema compile: %.3f ms (%zu nodes)\n\n", ms_since(t), g->nodes.size());
    const auto any = json_object_grammar();
    std::printf("| position | bytes so far | median ms | max ms | allowed tokens | trie nodes fed |\n|---|---|---|---|---|---|\n");
    measure("start", *g, *vocab, "", repeats);
    measure("after {", *g, *vocab, "{", repeats);
    measure("string start", *g, *vocab, "{\"name\": \"", repeats);
    measure("inside string", *g, *vocab, "{\"name\": \"Ada Love", repeats);
    measure("string start, whole trie walked", *g, *vocab, "{\"name\": \"", repeats, false);
    measure("inside a UTF-8 character", *g, *vocab, "{\"name\": \"\xe4", repeats);
    measure("after string", *g, *vocab, "{\"name\": \"Ada\"", repeats);
    measure("integer", *g, *vocab, "{\"name\": \"Ada\", \"age\": 3", repeats);
    measure("enum value", *g, *vocab, "{\"name\": \"Ada\", \"age\": 36, \"role\": ", repeats);
    measure("optional keys", *g, *vocab, "{\"name\": \"Ada\", \"age\": 36, \"role\": \"user\", ", repeats);
    measure("string, maxLength 64", *g, *vocab, "{\"name\": \"A\", \"age\": 1, \"email\": \"a", repeats);
    measure("array of strings", *g, *vocab, "{\"name\": \"A\", \"age\": 1, \"role\": \"user\", \"tags\": [\"x\", ", repeats);
    measure("complete", *g, *vocab, "{\"name\": \"A\", \"age\": 1, \"role\": \"user\"}", repeats);
    measure("json_object start", *any, *vocab, "", repeats);
    measure("json_object key", *any, *vocab, "{\"", repeats);
    measure("json_object value", *any, *vocab, "{\"k\": ", repeats);
    measure("json_object nested", *any, *vocab, "{\"k\": [1, {\"a\": \"b", repeats);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_structured_mask: %s\n", e.what());
    return 1;
  }
  return 0;
}
