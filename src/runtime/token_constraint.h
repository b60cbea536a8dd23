// A constraint on which tokens a request may generate next (structured output: a JSON schema,
// any JSON object). The sampler masks the logits of forbidden tokens to -inf before the
// penalties, temperature, min-p, top-k and top-p; the engine advances the constraint with every
// token it accepts. The implementation for JSON lives in runtime/structured/.
//
// A factory is compiled once per request format (immutable, shared, thread-safe) and carried by
// SamplingParams; each sequence gets its own mutable TokenConstraint from start().
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace dsv4 {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // The tokens that may come next: bit v % 64 of word v / 64 is set when id v is allowed; ids
  // past the end of the vector are forbidden. Valid until the next accept().
  virtual const std::vector<uint64_t>& allowed() = 0;
  // Advances past one token. Returns false, leaving the state unchanged, when it is not allowed.
  virtual bool accept(int32_t id) = 0;
  // The output so far is a complete value (an end token is allowed now).
  virtual bool complete() const = 0;
  // An independent copy of the current state (speculative decoding looks ahead on copies).
  virtual std::unique_ptr<TokenConstraint> clone() const = 0;
};

class TokenConstraintFactory {
 public:
  virtual ~TokenConstraintFactory() = default;
  // The state before the first generated token. end_ids (EOS and the request's stop tokens) are
  // allowed only where the output is complete, and once it is, only they are.
  virtual std::unique_ptr<TokenConstraint> start(std::vector<int32_t> end_ids) const = 0;
  // For messages: "json_schema", "json_object".
  virtual const char* name() const = 0;
};

inline bool token_allowed(const std::vector<uint64_t>& bits, int32_t id) {
  return id >= 0 && size_t(id) / 64 < bits.size() && (bits[size_t(id) / 64] >> (id % 64) & 1u);
}

}  // namespace dsv4
