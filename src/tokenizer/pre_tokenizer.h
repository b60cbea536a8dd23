// The pre-tokenizer of a tokenizer.json: a sequence of Split steps (regex or literal, with the
// Hugging Face split behaviours) and a ByteLevel step (optionally the GPT-2 regex and the prefix
// space). Each step splits every piece of the previous step; the final pieces go to the model.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace dsv4::tokenizer {

enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A callback without allocation: called with each final piece.
class PieceSink {
 public:
  virtual void piece(std::string_view bytes) = 0;

 protected:
  ~PieceSink() = default;
};

class PreTokenizer {
 public:
  // Reads the "pre_tokenizer" object (null allowed). Throws dsv4::Error for unsupported types.
  void load(const nlohmann::json& spec);
  bool has_byte_level() const { return has_byte_level_; }

  // Splits valid UTF-8 text and passes each final piece to sink (never an empty piece).
  void run(std::string_view text, PieceSink& sink) const;

 private:
  struct Step {
    std::unique_ptr<Regex> regex;  // null: the step does not split
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;
  };
  void add_step(const nlohmann::json& spec);
  void run_step(size_t index, std::string_view piece, PieceSink& sink) const;

  std::vector<Step> steps_;
  bool has_byte_level_ = false;
};

}  // namespace dsv4::tokenizer
