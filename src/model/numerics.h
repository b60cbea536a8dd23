// Numerics of a forward pass (spec §9).
//  * exact:    fp32 everywhere on the exactly dequantized weights; no activation quantization.
//  * official: exact plus the reference's quantization points: FP8 e4m3 activation quantization
//              (power-of-two 1×128 scales) at the input of every FP8/FP4-weight GEMM, FP8
//              fake-quant (1×64) of the 448 no-rope dims of window K=V vectors and compressed
//              entries, Hadamard + FP4 fake-quant (1×32) of indexer queries and keys. NVFP4
//              experts (NVIDIA's re-quantized checkpoints, which the reference never ran) get
//              ModelOpt's W4A4 input quantization instead: NVFP4 1×16 under input_scale.
//              Like the golden quant-sim, activations between modules stay fp32 (the
//              reference's bf16 activations are not simulated).
#pragma once

#include <optional>
#include <string>

namespace dsv4 {

enum class Numerics { Exact, Official };

inline const char* numerics_name(Numerics n) { return n == Numerics::Exact ? "exact" : "official"; }
inline std::optional<Numerics> parse_numerics(const std::string& s) {
  if (s == "exact") return Numerics::Exact;
  if (s == "official") return Numerics::Official;
  return std::nullopt;
}

}  // namespace dsv4
