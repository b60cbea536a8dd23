#include "model/random_checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/mix64.h"
#include "core/quant.h"
#include "core/safetensors.h"
#include "core/thread_pool.h"
#include "model/weights.h"

namespace dsv4 {

namespace {

// ---- deterministic random numbers ----

uint64_t splitmix64(uint64_t& state) { return mix64(state += 0x9E3779B97F4A7C15ull); }

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64(state_); }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  float normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    const double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = float(r * std::sin(2.0 * M_PI * u2));
    has_spare_ = true;
    return float(r * std::cos(2.0 * M_PI * u2));
  }

 private:
  uint64_t state_;
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

// ---- how each tensor is initialized ----

enum class Init {
  Normal,   // mean + std·N(0,1)
  Tid2eid,  // rows of k distinct expert ids
};

struct InitSpec {
  Init kind = Init::Normal;
  float mean = 0.0f;
  float std = 1.0f;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The golden models' distributions (../shared/golden/golden-a/README.md).
InitSpec init_for(const std::string& name, const ModelConfig& c, int64_t fan_in) {
  const float inv_sqrt_d = 1.0f / std::sqrt(float(c.hidden_size));
  if (ends_with(name, "tid2eid")) return {Init::Tid2eid, 0, 0};
  if (ends_with(name, "norm.weight")) return {Init::Normal, 1.0f, 0.1f};
  if (name == "embed.weight") return {Init::Normal, 0.0f, 1.0f};
  if (name == "head.weight" || ends_with(name, "gate.weight") || contains(name, "compressor.w") ||
      contains(name, "weights_proj"))
    return {Init::Normal, 0.0f, inv_sqrt_d};
  if (ends_with(name, "attn_sink")) return {Init::Normal, 0.0f, 1.0f};
  if (ends_with(name, "ape")) return {Init::Normal, 0.0f, 0.5f};
  if (ends_with(name, "gate.bias")) return {Init::Normal, 0.0f, 0.1f};
  if (contains(name, "hc_") && ends_with(name, "_fn"))
    return {Init::Normal, 0.0f, 1.0f / std::sqrt(float(c.hc_mult) * float(c.hidden_size))};
  if (contains(name, "hc_") && ends_with(name, "_base")) return {Init::Normal, 0.0f, 0.5f};
  if (contains(name, "hc_") && ends_with(name, "_scale")) return {Init::Normal, 1.0f, 0.2f};
  // Linear weights: N(0, 1/fan_in) before quantization.
  return {Init::Normal, 0.0f, 1.0f / std::sqrt(float(std::max<int64_t>(fan_in, 1)))};
}

// ---- one logical tensor (a linear weight with its scales, or a plain tensor) ----

struct Item {
  enum Kind { Plain, Fp8Linear, Mxfp4Linear, Nvfp4Linear } kind = Plain;
  std::string name;  // plain: full name; linear: prefix without ".weight"
  DType dtype = DType::F32;
  Shape shape;       // plain: its shape; linear: [out, in]
};

// Groups the manifest into items (a linear's .weight/.scale pair becomes one item).
std::vector<Item> items_of(const std::vector<TensorSpec>& specs) {
  std::map<std::string, const TensorSpec*> by_name;
  for (const auto& s : specs) by_name[s.name] = &s;
  std::vector<Item> items;
  for (const auto& s : specs) {
    if (!ends_with(s.name, ".weight")) {
      if (ends_with(s.name, ".scale") || ends_with(s.name, ".weight_scale") || ends_with(s.name, ".weight_scale_2") ||
          ends_with(s.name, ".input_scale"))
        continue;  // written with their weight
      items.push_back({Item::Plain, s.name, s.dtype, s.shape});
      continue;
    }
    const std::string prefix = s.name.substr(0, s.name.size() - 7);
    if (s.dtype == DType::F8_E4M3 && by_name.count(prefix + ".scale"))
      items.push_back({Item::Fp8Linear, prefix, s.dtype, s.shape});
    else if (s.dtype == DType::I8 && by_name.count(prefix + ".scale"))
      items.push_back({Item::Mxfp4Linear, prefix, s.dtype, {s.shape[0], s.shape[1] * 2}});
    else if (s.dtype == DType::U8 && by_name.count(prefix + ".weight_scale"))
      items.push_back({Item::Nvfp4Linear, prefix, s.dtype, {s.shape[0], s.shape[1] * 2}});
    else
      items.push_back({Item::Plain, s.name, s.dtype, s.shape});
  }
  return items;
}

class Generator {
 public:
  Generator(const ModelConfig& c, uint64_t seed, int threads) : c_(c), seed_(seed), threads_(threads), pool_(size_t(threads)) {}

  // Emits the item's tensors (declaration order matches decls_of) into the writer.
  void write(const Item& it, SafetensorsWriter& w) {
    switch (it.kind) {
      case Item::Plain: plain(it, w); break;
      case Item::Fp8Linear: fp8_linear(it, w); break;
      case Item::Mxfp4Linear: mxfp4_linear(it, w); break;
      case Item::Nvfp4Linear: nvfp4_linear(it, w); break;
    }
  }

  static std::vector<SafetensorsWriter::Decl> decls_of(const Item& it) {
    const int64_t out = it.shape.empty() ? 0 : it.shape[0];
    const int64_t in = it.shape.size() > 1 ? it.shape[1] : 0;
    switch (it.kind) {
      case Item::Plain: return {{it.name, it.dtype, it.shape}};
      case Item::Fp8Linear:
        return {{it.name + ".weight", DType::F8_E4M3, {out, in}},
                {it.name + ".scale", DType::F8_E8M0, {(out + 127) / 128, (in + 127) / 128}}};
      case Item::Mxfp4Linear:
        return {{it.name + ".weight", DType::I8, {out, in / 2}}, {it.name + ".scale", DType::F8_E8M0, {out, in / 32}}};
      case Item::Nvfp4Linear:
        return {{it.name + ".weight", DType::U8, {out, in / 2}},
                {it.name + ".weight_scale", DType::F8_E4M3, {out, in / 16}},
                {it.name + ".weight_scale_2", DType::F32, {}},
                {it.name + ".input_scale", DType::F32, {}}};
    }
    return {};
  }

 private:
  Rng rng_for(const std::string& name, int64_t block) const {
    uint64_t s = seed_ ^ hash_name(name) ^ (uint64_t(block) * 0xD1B54A32D192ED03ull);
    splitmix64(s);
    return Rng(s);
  }

  // A row-major [rows, cols] fp32 block of the item's distribution starting at row0.
  void fill(const std::string& name, const InitSpec& init, int64_t block, float* out, size_t n) const {
    Rng rng = rng_for(name, block);
    for (size_t i = 0; i < n; ++i) out[i] = init.mean + init.std * rng.normal();
  }

  // SwiGLU clamp coverage, as in the golden models: expert (3l+1) mod E of every layer and the
  // shared expert of layer 1 get w1/w3 scaled by 8 and w2 by 1/32.
  float clamp_boost(const std::string& name) const {
    int layer = -1;
    if (sscanf(name.c_str(), "layers.%d.", &layer) != 1) {
      int mtp = -1;
      if (sscanf(name.c_str(), "mtp.%d.", &mtp) == 1) layer = c_.num_layers + mtp;
    }
    if (layer < 0) return 1.0f;
    const bool up_or_gate = ends_with(name, ".w1") || ends_with(name, ".w3");
    const bool down = ends_with(name, ".w2");
    if (!up_or_gate && !down) return 1.0f;
    const std::string boosted = fmt::format("ffn.experts.{}.", (3 * layer + 1) % c_.n_routed_experts);
    const bool hit = contains(name, boosted) || (layer == 1 && contains(name, "shared_experts"));
    if (!hit) return 1.0f;
    return up_or_gate ? 8.0f : 1.0f / 32.0f;
  }

  void plain(const Item& it, SafetensorsWriter& w) {
    const uint64_t n = shape_numel(it.shape);
    if (it.dtype == DType::I64) {  // tid2eid: each row k distinct experts
      const int64_t rows = it.shape[0], k = it.shape[1];
      Rng rng = rng_for(it.name, 0);
      std::vector<int64_t> row(static_cast<size_t>(k)), perm(static_cast<size_t>(c_.n_routed_experts));
      for (int64_t r = 0; r < rows; ++r) {
        for (size_t e = 0; e < perm.size(); ++e) perm[e] = int64_t(e);
        for (int64_t j = 0; j < k; ++j) {
          const size_t pick = size_t(j) + size_t(rng.next() % uint64_t(perm.size() - size_t(j)));
          std::swap(perm[size_t(j)], perm[pick]);
          row[size_t(j)] = perm[size_t(j)];
        }
        w.write(row.data(), row.size() * sizeof(int64_t));
      }
      return;
    }
    const int64_t cols = it.shape.size() >= 2 ? it.shape.back() : int64_t(n);
    const int64_t rows = cols > 0 ? int64_t(n) / std::max<int64_t>(cols, 1) : 0;
    const InitSpec init = init_for(it.name, c_, cols);
    const int64_t rows_per_block = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(cols, 1));
    const int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
    // Generate a batch of blocks in parallel, then write them in order.
    const int64_t batch = std::max(1, threads_) * 4;
    for (int64_t b0 = 0; b0 < blocks; b0 += batch) {
      const int64_t nb = std::min(batch, blocks - b0);
      std::vector<std::vector<uint8_t>> bytes(static_cast<size_t>(nb));
      pool_.parallel_for(size_t(nb), [&](size_t block) {
        const int64_t bi = int64_t(block);
        const int64_t b = b0 + bi;
        const int64_t r0 = b * rows_per_block, r1 = std::min(rows, r0 + rows_per_block);
        std::vector<float> v(size_t((r1 - r0) * cols));
        fill(it.name, init, b, v.data(), v.size());
        auto& out = bytes[size_t(bi)];
        out.resize(v.size() * dtype_size(it.dtype));
        if (it.dtype == DType::F32) {
          std::memcpy(out.data(), v.data(), out.size());
        } else if (it.dtype == DType::BF16) {
          auto* o = reinterpret_cast<uint16_t*>(out.data());
          for (size_t i = 0; i < v.size(); ++i) o[i] = f32_to_bf16(v[i]);
        } else {
          fail("make-model: no generator for {} tensor {}", dtype_name(it.dtype), it.name);
        }
      });
      for (auto& b : bytes) w.write(b.data(), b.size());
    }
  }

  // FP8 e4m3 with one UE8M0 scale per 128x128 block: s = 2^ceil(log2(amax/448)).
  void fp8_linear(const Item& it, SafetensorsWriter& w) {
    const int64_t out = it.shape[0], in = it.shape[1];
    const int64_t row_blocks = (out + 127) / 128, col_blocks = (in + 127) / 128;
    const InitSpec base = init_for(it.name, c_, in);
    const InitSpec init{base.kind, base.mean, base.std * clamp_boost(it.name)};
    std::vector<uint8_t> scales(size_t(row_blocks * col_blocks));
    const int64_t batch = std::max(1, threads_) * 2;
    for (int64_t b0 = 0; b0 < row_blocks; b0 += batch) {
      const int64_t nb = std::min(batch, row_blocks - b0);
      std::vector<std::vector<uint8_t>> q(static_cast<size_t>(nb));
      pool_.parallel_for(size_t(nb), [&](size_t block) {
        const int64_t bi = int64_t(block);
        const int64_t rb = b0 + bi;
        const int64_t r0 = rb * 128, rows = std::min<int64_t>(128, out - r0);
        std::vector<float> v(size_t(rows * in));
        fill(it.name, init, rb, v.data(), v.size());
        auto& qb = q[size_t(bi)];
        qb.resize(v.size());
        for (int64_t cb = 0; cb < col_blocks; ++cb) {
          const int64_t c0 = cb * 128, cols = std::min<int64_t>(128, in - c0);
          float amax = 0.0f;
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) amax = std::max(amax, std::fabs(v[size_t(r * in + c0 + j)]));
          const float s = fp8_block_scale(amax);
          scales[size_t(rb * col_blocks + cb)] = *f32_to_e8m0_exact(s);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) {
              const size_t k = size_t(r * in + c0 + j);
              qb[k] = f32_to_e4m3(std::clamp(v[k] / s, -kE4M3Max, kE4M3Max));
            }
        }
      });
      for (auto& b : q) w.write(b.data(), b.size());
    }
    w.write(scales.data(), scales.size());
  }

  // Shared driver for the packed-FP4 formats: rows generated in blocks of 128, quantized per
  // `group` columns by `quantize_group`, packed two codes per byte (even element low nibble).
  template <typename QuantizeGroup>
  void fp4_linear(const Item& it, SafetensorsWriter& w, int64_t group, size_t scale_bytes_per_group,
                  QuantizeGroup quantize_group, float boost_std_scale) {
    const int64_t out = it.shape[0], in = it.shape[1];
    const InitSpec base = init_for(it.name, c_, in);
    const InitSpec init{base.kind, base.mean, base.std * boost_std_scale};
    const int64_t row_blocks = (out + 127) / 128;
    std::vector<uint8_t> packed(size_t(out * in / 2));
    std::vector<uint8_t> scales(size_t(out * (in / group)) * scale_bytes_per_group);
    pool_.parallel_for(size_t(row_blocks), [&](size_t block) {
      const int64_t rb = int64_t(block);
      const int64_t r0 = rb * 128, rows = std::min<int64_t>(128, out - r0);
      std::vector<float> v(size_t(rows * in));
      fill(it.name, init, rb, v.data(), v.size());
      std::vector<uint8_t> codes(static_cast<size_t>(group));
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t g = 0; g < in / group; ++g) {
          const float* x = &v[size_t(r * in + g * group)];
          uint8_t* sc = &scales[size_t(((r0 + r) * (in / group) + g)) * scale_bytes_per_group];
          quantize_group(x, codes.data(), sc);
          uint8_t* p = &packed[size_t((r0 + r) * (in / 2) + g * group / 2)];
          for (int64_t m = 0; m < group / 2; ++m)
            p[m] = uint8_t((codes[size_t(2 * m)] & 0xF) | ((codes[size_t(2 * m + 1)] & 0xF) << 4));
        }
    });
    w.write(packed.data(), packed.size());
    w.write(scales.data(), scales.size());
  }

  void mxfp4_linear(const Item& it, SafetensorsWriter& w) {
    fp4_linear(
        it, w, 32, 1, [](const float* x, uint8_t* codes, uint8_t* scale) { quantize_fp4_blocks(x, 32, 32, codes, scale); },
        clamp_boost(it.name));
  }

  // NVFP4 (ModelOpt): global scale g = amax(W) / (448·6); per 1x16 block an e4m3 scale
  // amax_block / 6 / g; codes = e2m1(x / (scale·g)).
  void nvfp4_linear(const Item& it, SafetensorsWriter& w) {
    const int64_t in = it.shape[1];
    const float boost = clamp_boost(it.name);
    const float global = (boost * 4.5f / std::sqrt(float(in))) / (kE4M3Max * kE2M1Max);  // ~amax of N(0,1/in)·boost
    fp4_linear(
        it, w, 16, 1,
        [global](const float* x, uint8_t* codes, uint8_t* scale) {
          float amax = 0.0f;
          for (int i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(x[i]));
          uint8_t s = f32_to_e4m3(amax / kE2M1Max / global);
          if (e4m3_to_f32(s) == 0.0f) s = 0x08;  // smallest normal: avoid a zero block scale
          *scale = s;
          const float step = e4m3_to_f32(s) * global;
          for (int i = 0; i < 16; ++i) codes[i] = f32_to_e2m1(std::clamp(x[i] / step, -kE2M1Max, kE2M1Max));
        },
        boost);
    const float input_scale = 1.0f / (kE4M3Max * kE2M1Max);
    w.write(&global, sizeof global);
    w.write(&input_scale, sizeof input_scale);
  }

  const ModelConfig& c_;
  uint64_t seed_;
  int threads_;
  ThreadPool pool_;  // the generator's own, so --threads holds whatever DSV4_THREADS says
};

}  // namespace

RandomInit random_init(const std::string& name, const ModelConfig& config, int64_t fan_in) {
  const InitSpec s = init_for(name, config, fan_in);
  return {s.kind == Init::Tid2eid, s.mean, s.std};
}

uint64_t write_random_checkpoint(const ModelConfig& config, const std::string& out_dir,
                                 const RandomCheckpointOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) fail("cannot create {}: {}", out_dir, ec.message());
  const int threads = options.threads > 0 ? options.threads : int(std::max(1u, std::thread::hardware_concurrency()));

  const std::vector<Item> items = items_of(expected_tensors(config, config.expert_format));

  // Cut the item list into shards of at most max_shard_bytes (an item never spans shards).
  std::vector<std::vector<const Item*>> shards(1);
  uint64_t shard_bytes = 0;
  for (const Item& it : items) {
    uint64_t bytes = 0;
    for (const auto& d : Generator::decls_of(it)) bytes += shape_numel(d.shape) * dtype_size(d.dtype);
    if (shard_bytes > 0 && shard_bytes + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&it);
    shard_bytes += bytes;
  }

  Generator gen(config, options.seed, threads);
  std::map<std::string, std::string> weight_map;
  uint64_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    std::vector<SafetensorsWriter::Decl> decls;
    for (const Item* it : shards[s])
      for (auto& d : Generator::decls_of(*it)) {
        weight_map[d.name] = file;
        total += shape_numel(d.shape) * dtype_size(d.dtype);
        decls.push_back(std::move(d));
      }
    SafetensorsWriter writer((fs::path(out_dir) / file).string(), decls, {{"format", "pt"}});
    for (const Item* it : shards[s]) gen.write(*it, writer);
    writer.finish();
    if (options.progress) fmt::print("wrote {} ({} tensors)\n", file, decls.size());
  }
  write_safetensors_index((fs::path(out_dir) / "model.safetensors.index.json").string(), total, weight_map);

  std::ofstream cfg(fs::path(out_dir) / "config.json");
  cfg << config.to_json().dump(2) << "\n";
  if (!cfg) fail("cannot write {}/config.json", out_dir);
  return total;
}

}  // namespace dsv4
