// JSON Schema -> Grammar, for the subset of JSON Schema that OpenAI's structured outputs
// accept (and a little more), where every keyword can be enforced exactly, token by token.
//
// Supported:
//   type             object, array, string, number, integer, boolean, null, or a list of them
//   properties       generated in declaration order (as OpenAI does)
//   required         names from properties; properties not listed are optional (may be left out)
//   additionalProperties
//                    false, true or absent alongside properties: only the declared properties
//                    are generated (valid in all three cases); without properties, a schema (or
//                    true / absent = any value) for the values of an object with any keys
//   items            a schema (or false: empty arrays only); absent = any values
//   minItems, maxItems, minLength, maxLength (code points)
//   enum, const      any JSON values, generated in compact form; may be combined only with
//                    type (values of other types are dropped) and annotations
//   anyOf            alternatives (with annotations and $defs beside it)
//   $ref             local JSON pointers ("#", "#/$defs/x", "#/definitions/x", any "#/..."),
//                    recursive ones included; siblings: annotations only
//   $defs, definitions, and the annotations title, description, $schema, $id, $comment,
//                    default, examples, deprecated, readOnly, writeOnly (ignored)
//   true (any value); a schema without type is read by its keywords (properties => object,
//   items => array, minLength => string, none => any value)
// Anything else (pattern, format, minimum, oneOf, allOf, not, prefixItems, uniqueItems,
// patternProperties, ...) is refused: dsv4::Error "JSON schema: unsupported keyword 'pattern'
// at #/properties/name/pattern", so a request is never silently served with a weaker schema.
//
// How the subset was chosen: clients send the schemas they send to OpenAI, so the start is
// OpenAI's structured-outputs subset, and within it every keyword that shapes the structure of
// the value (types, properties, required, additionalProperties, items, enum, const, anyOf,
// $defs/$ref with recursion). Those map one to one onto pushdown-automaton nodes and are
// enforced exactly. The size counters (minLength/maxLength, minItems/maxItems) are a counter in
// a stack frame, so they are in too. Left out for now are OpenAI's value-level keywords, each of
// which needs its own sub-automaton: pattern and format (a regex / per-format grammar inside the
// string), minimum/maximum/exclusive*/multipleOf (numeric ranges as byte grammars). Keywords
// outside OpenAI's subset (oneOf, allOf, not, if/then, uniqueItems, ...) need more than a
// context-free grammar or intersection of schemas. Refusing instead of ignoring keeps the
// promise that a completed output always validates.
//
// Two deliberate narrowings, both still valid under the schema: properties are generated in
// declaration order, and only declared properties are generated even where
// additionalProperties allows more.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/structured/grammar.h"

namespace dsv4::structured {

// Throws dsv4::Error (keyword and JSON pointer path) on schemas outside the subset. Properties
// are generated in the order of the schema's keys: parse it as ordered_json to keep the order it
// was written in (nlohmann::json sorts keys, so that overload generates them alphabetically).
std::shared_ptr<const Grammar> compile_json_schema(const nlohmann::ordered_json& schema, GrammarLimits limits = {});
std::shared_ptr<const Grammar> compile_json_schema(const nlohmann::json& schema, GrammarLimits limits = {});

// Compiles schemas of one document into a caller's builder (the tool-call grammar puts each
// parameter's schema between its DSML tags): $refs resolve against `root`, which must outlive
// the compiler. Same subset and errors as compile_json_schema.
class SchemaCompiler {
 public:
  SchemaCompiler(GrammarBuilder& builder, const nlohmann::ordered_json& root);
  ~SchemaCompiler();
  uint32_t compile(const nlohmann::ordered_json& schema, const std::string& path);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Any JSON object (response_format json_object).
std::shared_ptr<const Grammar> json_object_grammar(GrammarLimits limits = {});

}  // namespace dsv4::structured
