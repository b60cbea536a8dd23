#include "core/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_util.h"

namespace dsv4 {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderSize = 512ull << 20;  // a 2k-tensor header is ~1 MB; be generous
constexpr size_t kMaxReportedProblems = 50;

// Collects validation problems; throws them together.
struct Problems {
  std::string label;
  std::vector<std::string> items;

  template <typename... Args>
  void add(fmt::format_string<Args...> f, Args&&... args) {
    items.push_back(fmt::format(f, std::forward<Args>(args)...));
  }
  void throw_if_any() const {
    if (items.empty()) return;
    std::string msg = fmt::format("invalid safetensors file {} ({} problem{}):", label, items.size(),
                                  items.size() == 1 ? "" : "s");
    for (size_t i = 0; i < items.size() && i < kMaxReportedProblems; ++i) msg += "\n  - " + items[i];
    if (items.size() > kMaxReportedProblems)
      msg += fmt::format("\n  ... and {} more", items.size() - kMaxReportedProblems);
    throw Error(msg);
  }
};

// Reads a non-negative integer that fits in uint64 from a JSON value.
std::optional<uint64_t> as_u64(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i >= 0) return uint64_t(i);
  }
  return std::nullopt;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

}  // namespace

SafetensorsHeader parse_safetensors(const uint8_t* bytes, size_t size, const std::string& label) {
  Problems problems{label, {}};
  SafetensorsHeader h;
  if (size < 8) {
    problems.add("file is {} bytes, shorter than the 8-byte header length", size);
    problems.throw_if_any();
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  h.header_size = n;
  if (n > size - 8) {
    problems.add("header length {} exceeds the file size {} minus 8 (truncated file?)", n, size);
    problems.throw_if_any();
  }
  if (n > kMaxHeaderSize) {
    problems.add("header length {} exceeds the limit of {} bytes", n, kMaxHeaderSize);
    problems.throw_if_any();
  }
  h.data_size = size - 8 - n;

  const char* text = reinterpret_cast<const char*>(bytes + 8);
  std::vector<std::string> duplicates;
  json header = parse_json_checked(text, text + n, &duplicates);
  if (header.is_discarded()) {
    problems.add("header is not valid JSON");
    problems.throw_if_any();
  }
  for (const std::string& key : duplicates) problems.add("key '{}' appears more than once in one object", key);
  if (!header.is_object()) {
    problems.add("header JSON is a {}, expected an object", header.type_name());
    problems.throw_if_any();
  }

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) {
        problems.add("__metadata__ is a {}, expected an object of strings", v.type_name());
        continue;
      }
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (m.value().is_string())
          h.metadata[m.key()] = m.value().get<std::string>();
        else
          problems.add("__metadata__ entry '{}' is a {}, expected a string", m.key(), m.value().type_name());
      }
      continue;
    }
    if (!v.is_object()) {
      problems.add("tensor '{}': entry is a {}, expected an object", name, v.type_name());
      continue;
    }
    TensorEntry e;
    e.name = name;
    bool ok = true;

    const auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) {
      problems.add("tensor '{}': missing or non-string 'dtype'", name);
      ok = false;
    } else if (auto parsed = parse_dtype(dt->get<std::string>())) {
      e.dtype = *parsed;
    } else {
      problems.add("tensor '{}': unsupported dtype '{}'", name, dt->get<std::string>());
      ok = false;
    }

    const auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) {
      problems.add("tensor '{}': missing or non-array 'shape'", name);
      ok = false;
    } else if (sh->size() > 8) {
      problems.add("tensor '{}': shape has {} dims (at most 8 supported)", name, sh->size());
      ok = false;
    } else {
      for (const json& d : *sh) {
        const auto u = as_u64(d);
        if (!u || *u > uint64_t(std::numeric_limits<int64_t>::max())) {
          problems.add("tensor '{}': shape entry {} is not a non-negative integer", name, describe_json(d));
          ok = false;
          break;
        }
        e.shape.push_back(int64_t(*u));
      }
    }

    const auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2) {
      problems.add("tensor '{}': missing 'data_offsets' or not a [begin, end] pair", name);
      ok = false;
    } else {
      const auto b = as_u64((*off)[0]);
      const auto en = as_u64((*off)[1]);
      if (!b || !en) {
        problems.add("tensor '{}': data_offsets are not non-negative integers", name);
        ok = false;
      } else if (*b > *en) {
        problems.add("tensor '{}': data_offsets begin {} > end {}", name, *b, *en);
        ok = false;
      } else if (*en > h.data_size) {
        problems.add("tensor '{}': data_offsets end {} is beyond the data section ({} bytes; truncated file?)",
                     name, *en, h.data_size);
        ok = false;
      } else {
        e.begin = *b;
        e.end = *en;
      }
    }

    for (auto k = v.begin(); k != v.end(); ++k)
      if (k.key() != "dtype" && k.key() != "shape" && k.key() != "data_offsets")
        problems.add("tensor '{}': unexpected key '{}'", name, k.key());

    if (ok) {
      uint64_t bytes_needed = dtype_size(e.dtype);
      bool overflow = false;
      for (int64_t d : e.shape) overflow |= mul_overflows(bytes_needed, uint64_t(d), &bytes_needed);
      if (overflow) {
        problems.add("tensor '{}': shape {} overflows a 64-bit byte count", name, shape_str(e.shape));
      } else if (bytes_needed != e.end - e.begin) {
        problems.add("tensor '{}': {} {} needs {} bytes but data_offsets [{}, {}) span {}", name,
                     dtype_name(e.dtype), shape_str(e.shape), bytes_needed, e.begin, e.end, e.end - e.begin);
      } else {
        h.tensors.push_back(std::move(e));
      }
    }
  }

  // Offsets must not overlap (empty tensors overlap nothing).
  std::vector<const TensorEntry*> sorted;
  for (const auto& e : h.tensors)
    if (e.end > e.begin) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end)
      problems.add("tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", sorted[i - 1]->name, sorted[i - 1]->begin,
                   sorted[i - 1]->end, sorted[i]->name, sorted[i]->begin, sorted[i]->end);

  problems.throw_if_any();
  return h;
}

// ---- SafetensorsFile ----

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  header_ = parse_safetensors(file_.data(), file_.size(), path);
  for (size_t i = 0; i < header_.tensors.size(); ++i) by_name_[header_.tensors[i].name] = i;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &header_.tensors[it->second];
}

TensorView SafetensorsFile::view(const TensorEntry& e) const {
  TensorView v;
  v.data = file_.data() + 8 + header_.header_size + e.begin;
  v.dtype = e.dtype;
  v.shape = e.shape;
  return v;
}

// ---- Checkpoint ----

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single_path = fs::path(dir) / "model.safetensors";
  if (!fs::is_directory(dir)) fail("checkpoint directory {} does not exist", dir);

  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::vector<std::string> shard_files;
  if (fs::exists(index_path)) {
    std::ifstream in(index_path);
    json index = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (index.is_discarded() || !index.is_object())
      fail("{}: not a valid JSON object", index_path.string());
    const auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object()) fail("{}: missing 'weight_map' object", index_path.string());
    std::vector<std::string> bad;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) {
        bad.push_back(fmt::format("weight_map['{}'] is not a string", it.key()));
        continue;
      }
      const std::string shard = it.value().get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
        bad.push_back(fmt::format("weight_map['{}'] names '{}', not a file in the directory", it.key(), shard));
        continue;
      }
      weight_map[it.key()] = shard;
      if (std::find(shard_files.begin(), shard_files.end(), shard) == shard_files.end()) shard_files.push_back(shard);
    }
    if (!bad.empty()) {
      std::string msg = fmt::format("{}: {} problem(s):", index_path.string(), bad.size());
      for (auto& b : bad) msg += "\n  - " + b;
      throw Error(msg);
    }
  } else if (fs::exists(single_path)) {
    shard_files.push_back("model.safetensors");
  } else {
    fail("{} has neither model.safetensors.index.json nor model.safetensors", dir);
  }

  std::sort(shard_files.begin(), shard_files.end());
  std::vector<std::string> problems;
  for (const std::string& shard : shard_files) {
    shards_.push_back(std::make_unique<SafetensorsFile>((fs::path(dir) / shard).string()));
    const SafetensorsFile& f = *shards_.back();
    for (const TensorEntry& e : f.header().tensors) {
      auto [it, inserted] = where_.emplace(e.name, Location{shards_.size() - 1, &e});
      if (!inserted)
        problems.push_back(fmt::format("tensor '{}' is stored in both {} and {}", e.name,
                                       shard_files[it->second.shard], shard));
    }
  }
  if (!weight_map.empty()) {
    for (const auto& [name, shard] : weight_map) {
      auto it = where_.find(name);
      if (it == where_.end())
        problems.push_back(fmt::format("index maps '{}' to {}, which does not contain it", name, shard));
      else if (shard_files[it->second.shard] != shard)
        problems.push_back(fmt::format("index maps '{}' to {}, but it is stored in {}", name, shard,
                                       shard_files[it->second.shard]));
    }
    for (const auto& [name, loc] : where_)
      if (!weight_map.count(name))
        problems.push_back(fmt::format("tensor '{}' in {} is not listed in the index", name, shard_files[loc.shard]));
  }
  if (!problems.empty()) {
    std::string msg = fmt::format("checkpoint {}: {} problem(s):", dir, problems.size());
    for (size_t i = 0; i < problems.size() && i < kMaxReportedProblems; ++i) msg += "\n  - " + problems[i];
    if (problems.size() > kMaxReportedProblems) msg += fmt::format("\n  ... and {} more", problems.size() - kMaxReportedProblems);
    throw Error(msg);
  }
}

Checkpoint::Checkpoint(std::string label, std::vector<MemoryTensor> tensors, std::shared_ptr<void> owner)
    : dir_(std::move(label)), owner_(std::move(owner)) {
  for (MemoryTensor& t : tensors) {
    auto e = std::make_unique<TensorEntry>();
    e->name = t.name;
    e->dtype = t.view.dtype;
    e->shape = t.view.shape;
    e->end = t.view.nbytes();
    const size_t index = memory_.size();
    if (!where_.emplace(t.name, Location{kInMemory, e.get(), index}).second) fail("{}: tensor '{}' given twice", dir_, t.name);
    memory_.push_back(t.view);
    memory_entries_.push_back(std::move(e));
  }
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, loc] : where_) out.push_back(name);
  return out;
}

const TensorEntry& Checkpoint::entry(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("checkpoint {}: tensor '{}' not found", dir_, name);
  return *it->second.entry;
}

TensorView Checkpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("checkpoint {}: tensor '{}' not found", dir_, name);
  if (it->second.shard == kInMemory) return memory_[it->second.index];
  return shards_[it->second.shard]->view(*it->second.entry);
}

const std::string& Checkpoint::shard_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail("checkpoint {}: tensor '{}' not found", dir_, name);
  if (it->second.shard == kInMemory) return dir_;
  return shards_[it->second.shard]->path();
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, loc] : where_) total += loc.entry->end - loc.entry->begin;
  return total;
}

// ---- SafetensorsWriter ----

struct SafetensorsWriter::Impl {
  std::string path;
  std::FILE* file = nullptr;
  std::vector<uint64_t> sizes;    // bytes per tensor
  std::vector<uint64_t> padding;  // zero bytes after each tensor (alignment)
  size_t current = 0;
  uint64_t written_in_current = 0;
};

SafetensorsWriter::SafetensorsWriter(const std::string& path, const std::vector<Decl>& decls,
                                     const std::map<std::string, std::string>& metadata)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Decl& d : decls) {
    const uint64_t size = shape_numel(d.shape) * dtype_size(d.dtype);
    header[d.name] = {{"dtype", std::string(dtype_name(d.dtype))}, {"shape", d.shape},
                      {"data_offsets", {offset, offset + size}}};
    const uint64_t pad = (8 - (size % 8)) % 8;
    impl_->sizes.push_back(size);
    impl_->padding.push_back(pad);
    offset += size + pad;
  }
  data_size_ = offset;
  std::string text = header.dump();
  text.append((8 - (text.size() % 8)) % 8, ' ');
  impl_->file = std::fopen(path.c_str(), "wb");
  if (impl_->file == nullptr) fail("cannot create {}: {}", path, std::strerror(errno));
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
  if (std::fwrite(len, 1, 8, impl_->file) != 8 || std::fwrite(text.data(), 1, text.size(), impl_->file) != text.size())
    fail("cannot write {}: {}", path, std::strerror(errno));
  // Skip leading empty tensors.
  while (impl_->current < impl_->sizes.size() && impl_->sizes[impl_->current] == 0) ++impl_->current;
}

SafetensorsWriter::~SafetensorsWriter() {
  if (impl_ && impl_->file) std::fclose(impl_->file);
}

void SafetensorsWriter::write(const void* bytes, size_t n) {
  Impl& s = *impl_;
  const uint8_t* p = static_cast<const uint8_t*>(bytes);
  while (n > 0) {
    if (s.current >= s.sizes.size()) fail("{}: more bytes written than the declared tensors hold", s.path);
    const uint64_t room = s.sizes[s.current] - s.written_in_current;
    const size_t take = size_t(std::min<uint64_t>(room, n));
    if (std::fwrite(p, 1, take, s.file) != take) fail("cannot write {}: {}", s.path, std::strerror(errno));
    p += take;
    n -= take;
    s.written_in_current += take;
    if (s.written_in_current == s.sizes[s.current]) {
      static const uint8_t zeros[8] = {};
      if (std::fwrite(zeros, 1, s.padding[s.current], s.file) != s.padding[s.current])
        fail("cannot write {}: {}", s.path, std::strerror(errno));
      s.written_in_current = 0;
      ++s.current;
      while (s.current < s.sizes.size() && s.sizes[s.current] == 0) ++s.current;
    }
  }
}

void SafetensorsWriter::finish() {
  Impl& s = *impl_;
  if (s.current != s.sizes.size())
    fail("{}: only {} of {} tensors were written", s.path, s.current, s.sizes.size());
  if (std::fclose(s.file) != 0) {
    s.file = nullptr;
    fail("cannot close {}: {}", s.path, std::strerror(errno));
  }
  s.file = nullptr;
}

void write_safetensors_index(const std::string& path, uint64_t total_size,
                             const std::map<std::string, std::string>& weight_map) {
  json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
  std::ofstream out(path);
  if (!out) fail("cannot create {}", path);
  out << index.dump(2) << "\n";
  if (!out) fail("cannot write {}", path);
}

}  // namespace dsv4
