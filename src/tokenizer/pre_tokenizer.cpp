#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace dsv4::tokenizer {

namespace {

// The GPT-2 split used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

SplitBehavior parse_behavior(const std::string& name) {
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  fail("pre-tokenizer Split behavior '{}' is not supported", name);
}

struct Part {
  size_t begin, end;
  bool is_match;
};

}  // namespace

void PreTokenizer::load(const nlohmann::json& spec) {
  steps_.clear();
  has_byte_level_ = false;
  if (!spec.is_null()) add_step(spec);
}

void PreTokenizer::add_step(const nlohmann::json& spec) {
  const std::string type = spec.at("type").get<std::string>();
  if (type == "Sequence") {
    for (const auto& s : spec.at("pretokenizers")) add_step(s);
    return;
  }
  Step step;
  if (type == "Split") {
    const auto& pattern = spec.at("pattern");
    if (pattern.contains("Regex")) {
      step.regex = std::make_unique<Regex>(pattern["Regex"].get<std::string>());
    } else if (pattern.contains("String")) {
      step.regex = std::make_unique<Regex>(quote_regex(pattern["String"].get<std::string>()));
    } else {
      fail("pre-tokenizer Split pattern must be a Regex or a String: {}", pattern.dump());
    }
    step.behavior = parse_behavior(spec.at("behavior").get<std::string>());
    step.invert = spec.value("invert", false);
  } else if (type == "ByteLevel") {
    has_byte_level_ = true;
    step.add_prefix_space = spec.value("add_prefix_space", false);
    if (spec.value("use_regex", true)) step.regex = std::make_unique<Regex>(kGpt2Pattern);
  } else {
    fail("pre-tokenizer type '{}' is not supported (Sequence, Split and ByteLevel are)", type);
  }
  steps_.push_back(std::move(step));
}

void PreTokenizer::run(std::string_view text, PieceSink& sink) const {
  if (text.empty()) return;
  run_step(0, text, sink);
}

void PreTokenizer::run_step(size_t index, std::string_view piece, PieceSink& sink) const {
  if (index == steps_.size()) {
    sink.piece(piece);
    return;
  }
  const Step& step = steps_[index];
  std::string prefixed;
  if (step.add_prefix_space && piece.front() != ' ') {
    prefixed.reserve(piece.size() + 1);
    prefixed += ' ';
    prefixed.append(piece);
    piece = prefixed;
  }
  if (!step.regex) {
    run_step(index + 1, piece, sink);
    return;
  }
  // Fast path for the common case: Isolated, not inverted; emit as we go.
  const bool isolated = step.behavior == SplitBehavior::kIsolated && !step.invert;
  std::vector<Part> parts;
  auto add = [&](size_t b, size_t e, bool is_match) {
    if (isolated) {
      if (e > b) run_step(index + 1, piece.substr(b, e - b), sink);
    } else {
      parts.push_back({b, e, is_match != step.invert});
    }
  };
  size_t pos = 0, last = 0;
  bool not_empty = false;
  while (pos <= piece.size()) {
    size_t mb, me;
    if (!step.regex->find(piece, pos, mb, me, not_empty)) break;
    if (mb > last) add(last, mb, false);
    add(mb, me, true);
    last = me;
    if (me == mb) {  // an empty match: look again at the same place, not empty, then step on
      if (not_empty) {
        if (me >= piece.size()) break;
        size_t p = me;
        next_code_point(piece, p);
        pos = p;
        not_empty = false;
      } else {
        pos = me;
        not_empty = true;
      }
    } else {
      pos = me;
      not_empty = false;
    }
  }
  if (piece.size() > last) add(last, piece.size(), false);
  if (isolated) return;

  std::vector<Part> merged;
  switch (step.behavior) {
    case SplitBehavior::kIsolated:
      merged = parts;
      break;
    case SplitBehavior::kRemoved:
      for (const Part& p : parts)
        if (!p.is_match) merged.push_back(p);
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Part& p : parts) {
        if (p.is_match && !previous_match && !merged.empty()) {
          merged.back().end = p.end;
        } else {
          merged.push_back(p);
        }
        previous_match = p.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) {
          merged.back().begin = it->begin;
        } else {
          merged.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      bool first = true;
      for (const Part& p : parts) {
        if (!first && p.is_match == previous_match) {
          merged.back().end = p.end;
        } else {
          merged.push_back(p);
        }
        previous_match = p.is_match;
        first = false;
      }
      break;
    }
  }
  for (const Part& p : merged)
    if (p.end > p.begin) run_step(index + 1, piece.substr(p.begin, p.end - p.begin), sink);
}

}  // namespace dsv4::tokenizer
