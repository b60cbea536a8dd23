// TokenConstraint for a JSON grammar over a tokenizer's vocabulary: the per-sequence matcher
// state, its cached token mask, and the end tokens (allowed only once the value is complete,
// and then the only tokens allowed).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/structured/grammar.h"
#include "runtime/structured/token_trie.h"
#include "runtime/token_constraint.h"

namespace dsv4::structured {

class JsonConstraintFactory final : public TokenConstraintFactory {
 public:
  // name: "json_schema" or "json_object" (messages).
  JsonConstraintFactory(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const TokenTrie> vocabulary,
                        std::string name);
  std::unique_ptr<TokenConstraint> start(std::vector<int32_t> end_ids) const override;
  const char* name() const override { return name_.c_str(); }
  const Grammar& grammar() const { return *grammar_; }
  const TokenTrie& vocabulary() const { return *vocabulary_; }

 private:
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenTrie> vocabulary_;
  std::string name_;
};

}  // namespace dsv4::structured
