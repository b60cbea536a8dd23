#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "tokenizer/utf8.h"

namespace dsv4::tokenizer {

namespace {

// The byte-level decoder, per token: every character maps back to its byte; a token holding a
// character outside the alphabet is kept as its UTF-8 text (as Hugging Face's ByteLevel decoder).
std::string byte_level_decode(const std::string& token) {
  std::string out;
  size_t pos = 0;
  while (pos < token.size()) {
    const uint32_t cp = next_code_point(token, pos);
    const int b = byte_level_byte(cp);
    if (b < 0) return token;
    out.push_back(static_cast<char>(b));
  }
  return out;
}

class IdSink final : public PieceSink {
 public:
  IdSink(const BpeModel& model, std::vector<uint32_t>& out) : model_(model), out_(out) {}
  void piece(std::string_view bytes) override { model_.encode_piece(bytes, out_); }

 private:
  const BpeModel& model_;
  std::vector<uint32_t>& out_;
};

void check_supported(const nlohmann::json& j, const char* what, std::initializer_list<const char*> types) {
  if (j.is_null()) return;
  const std::string type = j.at("type").get<std::string>();
  if (type == "Sequence") {
    const char* key = std::string(what) == "normalizer" ? "normalizers" : "decoders";
    for (const auto& s : j.at(key)) check_supported(s, what, types);
    return;
  }
  for (const char* t : types)
    if (type == t) return;
  fail("{} type '{}' is not supported by the byte-level BPE loader", what, type);
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::string file = path;
  if (fs::is_directory(path)) file = (fs::path(path) / "tokenizer.json").string();
  if (!fs::exists(file)) fail("no tokenizer.json at {}", file);
  Tokenizer t;
  with_context(fmt::format("loading tokenizer {}", file), [&] { t.load_json(read_file(file)); });
  const fs::path config = fs::path(file).parent_path() / "tokenizer_config.json";
  if (fs::exists(config))
    with_context(fmt::format("loading {}", config.string()), [&] { t.load_config(config.string()); });
  return t;
}

Tokenizer Tokenizer::from_json_text(std::string_view json_text, const std::string& origin) {
  Tokenizer t;
  with_context(fmt::format("loading tokenizer {}", origin), [&] { t.load_json(json_text); });
  return t;
}

void Tokenizer::load_json(std::string_view json_text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer.json is not valid JSON: {}", e.what());
  }
  try {
    check_supported(j.value("normalizer", nlohmann::json()), "normalizer", {});
    check_supported(j.value("decoder", nlohmann::json()), "decoder", {"ByteLevel"});
    model_.load(j.at("model"));
    pre_tokenizer_.load(j.value("pre_tokenizer", nlohmann::json()));
    if (!pre_tokenizer_.has_byte_level())
      fail("the pre-tokenizer has no ByteLevel step: not a byte-level BPE tokenizer");
    id_bound_ = model_.id_bound();
    if (j.contains("added_tokens")) {
      for (const auto& a : j["added_tokens"]) {
        AddedToken t;
        const int64_t id = a.at("id").get<int64_t>();
        if (id < 0 || id > int64_t(UINT32_MAX / 2)) fail("added token id {} is out of range", id);
        t.id = static_cast<uint32_t>(id);
        t.content = a.at("content").get<std::string>();
        if (t.content.empty()) fail("added token {} has empty content", id);
        t.special = a.value("special", false);
        t.normalized = a.value("normalized", !t.special);
        t.lstrip = a.value("lstrip", false);
        t.rstrip = a.value("rstrip", false);
        t.single_word = a.value("single_word", false);
        id_bound_ = std::max(id_bound_, t.id + 1);
        added_.add(std::move(t));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    fail("tokenizer.json has an unexpected shape: {}", e.what());
  }
  added_.finalize();
  added_index_.assign(id_bound_, -1);
  for (size_t i = 0; i < added_.tokens().size(); ++i) added_index_[added_.tokens()[i].id] = static_cast<int32_t>(i);
  id_bytes_.assign(id_bound_, std::string());
  for (uint32_t id = 0; id < id_bound_; ++id) {
    if (added_index_[id] >= 0) {
      id_bytes_[id] = added_.tokens()[static_cast<size_t>(added_index_[id])].content;
    } else if (const std::string* tok = model_.token(id)) {
      id_bytes_[id] = byte_level_decode(*tok);
    }
  }
}

void Tokenizer::load_config(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("not valid JSON: {}", e.what());
  }
  auto token_of = [&](const char* key) -> std::optional<uint32_t> {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    const auto& v = j[key];
    const std::string content = v.is_string() ? v.get<std::string>() : v.value("content", std::string());
    const auto id = token_id(content);
    if (!id) fail("{} '{}' is not a token of tokenizer.json", key, content);
    return id;
  };
  bos_id_ = token_of("bos_token");
  eos_id_ = token_of("eos_token");
}

void Tokenizer::encode_append(std::string_view text, std::vector<uint32_t>& out) const {
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = repair_utf8(text);
    text = repaired;
  }
  IdSink sink(model_, out);
  if (added_.empty()) {
    pre_tokenizer_.run(text, sink);
    return;
  }
  for (const TextSegment& seg : added_.split(text)) {
    if (seg.is_added) {
      out.push_back(seg.id);
    } else {
      pre_tokenizer_.run(text.substr(seg.begin, seg.end - seg.begin), sink);
    }
  }
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<uint32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  encode_append(text, ids);
  return ids;
}

void Tokenizer::append_token_bytes(uint32_t id, std::string& out) const {
  if (id >= id_bound_ || (added_index_[id] < 0 && model_.token(id) == nullptr))
    fail("token id {} is not defined by the tokenizer (ids go up to {})", id, id_bound_ == 0 ? 0 : id_bound_ - 1);
  out += id_bytes_[id];
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids, bool skip_special) const {
  std::string out;
  for (uint32_t id : ids) {
    if (skip_special && is_special(id)) continue;
    append_token_bytes(id, out);
  }
  return out;
}

std::optional<uint32_t> Tokenizer::token_id(std::string_view token) const {
  for (const AddedToken& t : added_.tokens())
    if (t.content == token) return t.id;
  return model_.token_id(token);
}

std::string Tokenizer::id_to_token(uint32_t id) const {
  if (id < id_bound_ && added_index_[id] >= 0) return added_.tokens()[static_cast<size_t>(added_index_[id])].content;
  if (const std::string* tok = model_.token(id)) return *tok;
  fail("token id {} is not defined by the tokenizer", id);
}

bool Tokenizer::is_added(uint32_t id) const { return id < id_bound_ && added_index_[id] >= 0; }

bool Tokenizer::is_special(uint32_t id) const {
  return is_added(id) && added_.tokens()[static_cast<size_t>(added_index_[id])].special;
}

}  // namespace dsv4::tokenizer
