// Sampling parameters the engine tests share.
#pragma once

#include "runtime/sampling_params.h"

namespace dsv4::test {

// Greedy for `max_tokens` tokens, not stopping at EOS (the reference's greedy continuations do
// not, and fixed lengths make outputs comparable).
inline SamplingParams greedy(int max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

}  // namespace dsv4::test
