// The compiled form of a JSON response format: a small graph of value nodes that the byte-level
// matcher (matcher.h) walks with a stack. Nodes refer to each other by index, so recursion
// ($ref to an enclosing schema) is just a cycle through an object or array node.
//
// What a node accepts (no whitespace inside scalars; containers allow bounded whitespace
// around their punctuation, see GrammarLimits):
//   Ref        whatever children[0] accepts ($ref, resolved after compilation)
//   AnyOf      whatever one of children accepts (enum, type lists, boolean, anyOf)
//   Literal    exactly `literal` (const and enum values, serialized compactly; true/false/null)
//   String     a JSON string of min..max code points (escapes count as one; no \u surrogates)
//   Number     a JSON number (integer part <= 15 digits, fraction <= 15, exponent <= 2 digits)
//   Integer    -?(0|[1-9][0-9]*), at most 15 digits
//   Array      [ v, v, ... ] of min..max items, each what children[0] accepts
//   Object     { "k": v, ... } with the declared properties in declaration order; optional ones
//              may be left out, required ones never; nothing else
//   FreeObject { "any key": v, ... } with each v what children[0] accepts (json_object, maps)
// and, for the DSML tool-call block (tool_calls.h), three non-JSON kinds:
//   Sequence   children one after the other (each accepts at least one byte, except a Text)
//   Text       raw text of min..max code points: well-formed UTF-8 without control characters
//              other than tab, newline and carriage return; it may end (the byte going to the
//              parent) only before the byte literal[0], where both readings are kept
//   Ordered    properties[i].node in order, each at most once, the required ones always, then
//              children[0] (the closing) — children[1] instead when none came. Like Object
//              without JSON punctuation: the items carry their own.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace dsv4::structured {

enum class NodeKind : uint8_t { Ref, AnyOf, Literal, String, Number, Integer, Array, Object, FreeObject, Sequence, Text, Ordered };

struct Property {
  std::string key;   // the key as JSON text, quotes included ("name"); empty for Ordered items
  uint32_t node = 0;
  bool required = false;
};

struct Node {
  NodeKind kind = NodeKind::Literal;
  std::vector<uint32_t> children;
  std::string literal;
  std::vector<Property> properties;       // Object
  std::vector<uint32_t> candidates_end;   // Object, Ordered: with property i next, i .. end-1 may come
  std::vector<uint8_t> can_close;         // Object, Ordered: may close with property i next (no required left)
  uint32_t min = 0;                       // String, Text: code points; Array: items
  uint32_t max = std::numeric_limits<uint32_t>::max();
  std::string path;                       // JSON pointer of the schema it came from (messages)
};

struct GrammarLimits {
  // JSON whitespace allowed in one run (between two tokens of JSON punctuation): enough for
  // pretty-printing a few levels deep, too little for the model to loop on blank space.
  uint32_t max_whitespace = 20;
  // Nesting depth of the matcher's stack (objects, arrays, strings inside them). Deeper values
  // are refused. A recursive schema whose every way to finish needs more depth than is left
  // would leave no allowed token: the sampler then fails with an error (never invalid output);
  // real schemas do not come near 64.
  uint32_t max_depth = 64;
};

constexpr uint32_t kMaxIntegerDigits = 15;
constexpr uint32_t kMaxFractionDigits = 15;
constexpr uint32_t kMaxExponentDigits = 2;

// U+FF5C FULLWIDTH VERTICAL LINE, the character of every DeepSeek chat marker
// (<｜end▁of▁sentence｜>, ｜DSML｜): a grammar with refuse_marker_char never lets a string or a
// text hold it raw (a JSON string may still escape it as \uff5c), so no value can spell a marker.
constexpr uint32_t kMarkerCodePoint = 0xFF5C;

struct Grammar {
  std::vector<Node> nodes;
  uint32_t root = 0;
  uint32_t key_string = 0;  // an unbounded String node for FreeObject keys
  GrammarLimits limits;
  bool refuse_marker_char = false;
};

// Builds a grammar node by node; finish() checks it and returns the immutable result.
class GrammarBuilder {
 public:
  GrammarBuilder();
  uint32_t literal(std::string bytes, std::string path = {});
  uint32_t any_of(std::vector<uint32_t> alternatives, std::string path = {});
  uint32_t string(uint32_t min, uint32_t max, std::string path = {});
  uint32_t number(std::string path = {});
  uint32_t integer(std::string path = {});
  uint32_t boolean(std::string path = {});
  uint32_t null(std::string path = {});
  uint32_t array(uint32_t items, uint32_t min, uint32_t max, std::string path = {});
  uint32_t object(std::vector<Property> properties, std::string path = {});
  uint32_t free_object(uint32_t values, std::string path = {});
  uint32_t any();  // any JSON value (one shared recursive node)
  uint32_t ref(std::string path = {});  // a placeholder, resolved with set_ref
  void set_ref(uint32_t ref, uint32_t target);
  uint32_t sequence(std::vector<uint32_t> parts, std::string path = {});
  uint32_t text(uint32_t min, uint32_t max, char end_byte, std::string path = {});
  // items: Property{"", node, required}; close after at least one item, close_empty after none.
  uint32_t ordered(std::vector<Property> items, uint32_t close, uint32_t close_empty, std::string path = {});
  // Strings and texts never hold kMarkerCodePoint raw.
  void refuse_marker_char() { g_.refuse_marker_char = true; }

  const Node& node(uint32_t i) const { return g_.nodes.at(i); }

  // Checks: every ref resolved, no cycle that consumes no input (a $ref to itself), bounds
  // consistent. Alternatives, optional properties and array items that no finite JSON value
  // satisfies are dropped so that the matcher never walks into a dead end; a root without any
  // finite value is an error. Throws dsv4::Error naming the schema path.
  std::shared_ptr<const Grammar> finish(uint32_t root, GrammarLimits limits = {});

 private:
  uint32_t add(Node n);
  Grammar g_;
  int64_t any_ = -1;
};

}  // namespace dsv4::structured
