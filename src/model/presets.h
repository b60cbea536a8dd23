// Model shapes the engine knows by name: the real DeepSeek-V4-Flash and -Pro configurations
// (spec §2.1) and a tiny one with every layer kind, for tests and the built-in default model.
#pragma once

#include <optional>
#include <string>

#include "model/config.h"

namespace dsv4 {

struct PresetOverrides {
  std::optional<int> layers;       // num_hidden_layers (compress_ratios follow the preset's pattern)
  std::optional<int> experts;      // n_routed_experts (top-k clamped to it)
  std::optional<int64_t> vocab;    // vocab_size
  std::optional<ExpertFormat> expert_format;
};

// "tiny" | "flash" | "pro"; throws for other names.
ModelConfig preset_config(const std::string& shape, const PresetOverrides& overrides = {});

}  // namespace dsv4
