// SplitMix64's finalizer: a cheap, well-mixing 64-bit bijection (counter-based random streams,
// content hashes). Not cryptographic.
#pragma once

#include <cstdint>

namespace dsv4 {

constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace dsv4
