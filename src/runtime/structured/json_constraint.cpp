#include "runtime/structured/json_constraint.h"

#include <algorithm>

#include "core/error.h"
#include "runtime/structured/matcher.h"
#include "runtime/structured/token_mask.h"

namespace dsv4::structured {

namespace {

class JsonConstraint final : public TokenConstraint {
 public:
  JsonConstraint(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenTrie> vocab, std::vector<int32_t> end_ids)
      : grammar_(std::move(g)), vocab_(std::move(vocab)), end_ids_(std::move(end_ids)), state_(Matcher(*grammar_).start()) {}

  const std::vector<uint64_t>& allowed() override {
    if (mask_valid_) return mask_;
    if (ended_) {
      mask_.assign((size_t(vocab_->vocab_size()) + 63) / 64, 0);
    } else {
      const Matcher m(*grammar_);
      masker_.compute(m, *vocab_, state_, mask_);
      if (m.accepting(state_))
        for (int32_t id : end_ids_) {
          if (id < 0) continue;
          if (size_t(id) / 64 >= mask_.size()) mask_.resize(size_t(id) / 64 + 1, 0);
          mask_[size_t(id) / 64] |= uint64_t(1) << (id % 64);
        }
    }
    mask_valid_ = true;
    return mask_;
  }

  bool accept(int32_t id) override {
    if (ended_) return false;
    const Matcher m(*grammar_);
    if (std::find(end_ids_.begin(), end_ids_.end(), id) != end_ids_.end()) {
      if (!m.accepting(state_)) return false;
      ended_ = true;
      mask_valid_ = false;
      return true;
    }
    const std::string_view bytes = vocab_->bytes(id);
    if (bytes.empty() || !m.feed(state_, bytes)) return false;
    mask_valid_ = false;
    return true;
  }

  bool complete() const override { return ended_ || Matcher(*grammar_).accepting(state_); }

  std::unique_ptr<TokenConstraint> clone() const override { return std::make_unique<JsonConstraint>(*this); }

 private:
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenTrie> vocab_;
  std::vector<int32_t> end_ids_;
  MatchState state_;
  bool ended_ = false;
  std::vector<uint64_t> mask_;
  bool mask_valid_ = false;
  TokenMasker masker_;
};

}  // namespace

JsonConstraintFactory::JsonConstraintFactory(std::shared_ptr<const Grammar> grammar,
                                             std::shared_ptr<const TokenTrie> vocabulary, std::string name)
    : grammar_(std::move(grammar)), vocabulary_(std::move(vocabulary)), name_(std::move(name)) {
  if (!grammar_ || !vocabulary_) fail("structured output: a constraint needs a grammar and a vocabulary");
}

std::unique_ptr<TokenConstraint> JsonConstraintFactory::start(std::vector<int32_t> end_ids) const {
  if (end_ids.empty()) fail("structured output: no end token (EOS) to finish a {} value with", name_);
  return std::make_unique<JsonConstraint>(grammar_, vocabulary_, std::move(end_ids));
}

}  // namespace dsv4::structured
