// A byte-level BPE tokenizer read from a Hugging Face tokenizer.json (generic over such files,
// not tied to DeepSeek's ids): added tokens matched first, then the pre-tokenizer, then BPE.
//
// encode() is what Hugging Face calls encode(text, add_special_tokens=False): nothing is added
// around the text (DeepSeek-V4's post-processor adds nothing anyway). Text that is not valid UTF-8
// is first repaired the way Python's bytes.decode("utf-8", "replace") does (one U+FFFD per
// maximal ill-formed subpart), because the reference tokenizer only accepts valid text.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pre_tokenizer.h"

namespace dsv4::tokenizer {

class Tokenizer {
 public:
  // Reads MODEL_DIR/tokenizer.json (and tokenizer_config.json when present), or a .json path.
  static Tokenizer load(const std::string& path);
  static Tokenizer from_json_text(std::string_view json_text, const std::string& origin = "<memory>");

  std::vector<uint32_t> encode(std::string_view text) const;
  void encode_append(std::string_view text, std::vector<uint32_t>& out) const;

  // The bytes the ids stand for (byte-level decoding; added tokens give their text).
  // skip_special drops added tokens flagged special. Unknown ids throw dsv4::Error.
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special = false) const;
  // The bytes of one id (appended to out).
  void append_token_bytes(uint32_t id, std::string& out) const;

  std::optional<uint32_t> token_id(std::string_view token) const;  // added or vocab token
  std::string id_to_token(uint32_t id) const;                      // as stored in the file
  bool is_added(uint32_t id) const;
  bool is_special(uint32_t id) const;
  uint32_t id_bound() const { return id_bound_; }  // 1 + the largest id

  // From tokenizer_config.json when present (else unset).
  std::optional<uint32_t> bos_id() const { return bos_id_; }
  std::optional<uint32_t> eos_id() const { return eos_id_; }

 private:
  Tokenizer() = default;
  void load_json(std::string_view json_text);
  void load_config(const std::string& path);

  BpeModel model_;
  PreTokenizer pre_tokenizer_;
  AddedVocabulary added_;
  std::vector<int32_t> added_index_;          // id -> index into added_.tokens(), -1 if none
  std::vector<std::string> id_bytes_;         // id -> decoded bytes (cached at load)
  uint32_t id_bound_ = 0;
  std::optional<uint32_t> bos_id_, eos_id_;
};

}  // namespace dsv4::tokenizer
