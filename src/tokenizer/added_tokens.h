// Added tokens of a tokenizer.json ("added_tokens"): matched atomically in the raw text before
// any pre-tokenization, leftmost-longest, as Hugging Face does. Tokens with normalized=false are
// found first; tokens with normalized=true are then found in the text between those.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4::tokenizer {

struct AddedToken {
  uint32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

// One piece of the text: either an added token (id set) or plain text for the model.
struct TextSegment {
  size_t begin = 0, end = 0;
  bool is_added = false;
  uint32_t id = 0;
};

// Leftmost-longest matcher over a set of added tokens (a byte trie).
class AddedTokenMatcher {
 public:
  void build(const std::vector<const AddedToken*>& tokens);
  bool empty() const { return nodes_.size() <= 1; }

  // Splits text[begin, end) into plain and added segments, appending to out.
  void split(std::string_view text, size_t begin, size_t end, std::vector<TextSegment>& out) const;

 private:
  struct Node {
    int32_t token = -1;        // index into tokens_ when a token ends here
    uint32_t first_child = 0;  // children are stored as a sorted edge list
    uint32_t child_count = 0;
  };
  struct Edge {
    uint8_t byte;
    uint32_t node;
  };
  // Longest token starting at pos (index into tokens_, or -1) and its length.
  int32_t longest_at(std::string_view text, size_t pos, size_t end, size_t& length) const;

  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::vector<const AddedToken*> tokens_;
  bool first_byte_[256] = {};
};

class AddedVocabulary {
 public:
  void add(AddedToken token);
  void finalize();  // builds the two matchers
  bool empty() const { return tokens_.empty(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Splits text into model text and added tokens (two passes, as described above).
  std::vector<TextSegment> split(std::string_view text) const;

 private:
  std::vector<AddedToken> tokens_;
  AddedTokenMatcher raw_matcher_;         // normalized == false
  AddedTokenMatcher normalized_matcher_;  // normalized == true
};

}  // namespace dsv4::tokenizer
