// A constraint that starts once the reasoning is over (thinking mode, as vLLM does for reasoning
// models): until the token that closes the reasoning (</think>) every token of the vocabulary
// is allowed except the end tokens (the answer must still come), and from the token after it
// the inner constraint rules (tool_choice "required": the DSML block right after </think>).
#pragma once

#include <cstdint>
#include <memory>

#include "runtime/token_constraint.h"

namespace dsv4::structured {

class AfterReasoningFactory final : public TokenConstraintFactory {
 public:
  // vocab_size: the ids below it may appear in the reasoning.
  AfterReasoningFactory(std::shared_ptr<const TokenConstraintFactory> inner, int32_t reasoning_end, uint32_t vocab_size);
  std::unique_ptr<TokenConstraint> start(std::vector<int32_t> end_ids) const override;
  const char* name() const override { return inner_->name(); }

 private:
  std::shared_ptr<const TokenConstraintFactory> inner_;
  int32_t reasoning_end_;
  uint32_t vocab_size_;
};

}  // namespace dsv4::structured
