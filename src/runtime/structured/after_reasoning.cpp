#include "runtime/structured/after_reasoning.h"

#include <algorithm>

#include "core/error.h"

namespace dsv4::structured {

namespace {

class AfterReasoning final : public TokenConstraint {
 public:
  AfterReasoning(std::unique_ptr<TokenConstraint> inner, int32_t reasoning_end, uint32_t vocab_size,
                 std::vector<int32_t> end_ids)
      : inner_(std::move(inner)), reasoning_end_(reasoning_end), end_ids_(std::move(end_ids)) {
    free_.assign((size_t(vocab_size) + 63) / 64, ~uint64_t(0));
    if (vocab_size % 64) free_.back() = (uint64_t(1) << (vocab_size % 64)) - 1;
    for (int32_t id : end_ids_)
      if (id >= 0 && size_t(id) / 64 < free_.size()) free_[size_t(id) / 64] &= ~(uint64_t(1) << (id % 64));
  }
  AfterReasoning(const AfterReasoning& o)
      : inner_(o.inner_->clone()), reasoning_end_(o.reasoning_end_), end_ids_(o.end_ids_), free_(o.free_),
        reasoning_(o.reasoning_) {}

  const std::vector<uint64_t>& allowed() override { return reasoning_ ? free_ : inner_->allowed(); }

  bool accept(int32_t id) override {
    if (!reasoning_) return inner_->accept(id);
    if (!token_allowed(free_, id)) return false;
    if (id == reasoning_end_) reasoning_ = false;
    return true;
  }

  bool complete() const override { return !reasoning_ && inner_->complete(); }
  std::unique_ptr<TokenConstraint> clone() const override { return std::make_unique<AfterReasoning>(*this); }

 private:
  std::unique_ptr<TokenConstraint> inner_;
  int32_t reasoning_end_;
  std::vector<int32_t> end_ids_;
  std::vector<uint64_t> free_;  // the reasoning's mask: everything but the end tokens
  bool reasoning_ = true;
};

}  // namespace

AfterReasoningFactory::AfterReasoningFactory(std::shared_ptr<const TokenConstraintFactory> inner, int32_t reasoning_end,
                                             uint32_t vocab_size)
    : inner_(std::move(inner)), reasoning_end_(reasoning_end), vocab_size_(vocab_size) {
  if (!inner_) fail("structured output: AfterReasoningFactory needs an inner constraint");
  if (reasoning_end_ < 0 || uint32_t(reasoning_end_) >= vocab_size_)
    fail("structured output: the reasoning's end token {} is outside the vocabulary [0, {})", reasoning_end_, vocab_size_);
}

std::unique_ptr<TokenConstraint> AfterReasoningFactory::start(std::vector<int32_t> end_ids) const {
  std::unique_ptr<TokenConstraint> inner = inner_->start(end_ids);
  return std::make_unique<AfterReasoning>(std::move(inner), reasoning_end_, vocab_size_, std::move(end_ids));
}

}  // namespace dsv4::structured
