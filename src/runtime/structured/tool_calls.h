// Forced tool calls (OpenAI tool_choice "required" or a named function; Anthropic "any" /
// "tool"): a grammar for exactly the DSML block the DeepSeek-V4 chat encoding writes for an
// assistant's tool calls (chat_encoding.cpp render_tool_calls), so that every completion it
// allows parses back (completion_parser.h) into calls of the offered functions whose arguments
// validate against their `parameters` schemas:
//
//   \n\n<｜DSML｜tool_calls>\n
//   <｜DSML｜invoke name="NAME">\n                          one or more calls (one: named, or
//   <｜DSML｜parameter name="KEY" string="true">RAW</｜DSML｜parameter>\n      parallel = false),
//   <｜DSML｜parameter name="KEY" string="false">JSON</｜DSML｜parameter>\n    joined by \n
//   </｜DSML｜invoke>                    (no parameters: \n</｜DSML｜invoke>)
//   \n</｜DSML｜tool_calls>              then only the end tokens (EOS)
//
// Parameters are the schema's properties, in declaration order, the required ones always, the
// others optional (as json_schema.h does for objects; only declared properties are written). A
// value is written as the encoder writes it: a string raw with string="true" (RAW: the string
// part of the property's schema — a type string with min/maxLength, or string enum/const values
// — as text), anything else as JSON with string="false" (the rest of the schema, through the
// json_schema.h subset). Values never hold U+FF5C raw (every DSML and end marker contains it:
// a value cannot close its tag early); JSON may escape it. Top-level `parameters` must be an
// object schema (type object, properties, required, additionalProperties, $defs) or absent (no
// parameters); names with '"' or a newline cannot be written and are refused.
//
// ｜DSML｜ is one added token (128825): with a vocabulary built with that marker
// (TokenTrie::from_tokenizer(tok, {kDsmlMarker})) the tags can only be spelled with it, as the
// encoder's prompts tokenize them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/structured/grammar.h"
#include "runtime/structured/token_trie.h"
#include "runtime/token_constraint.h"

namespace dsv4::structured {

inline constexpr const char* kDsmlMarker = "｜DSML｜";

struct ToolSchema {
  std::string name;
  nlohmann::ordered_json parameters;  // the function's JSON Schema; null: no parameters
};

struct ToolCallFormat {
  std::string marker = kDsmlMarker;  // the bytes the tags carry for ｜DSML｜ (a vocabulary's stand-in)
  bool parallel = true;              // one or more calls; false: exactly one
};

// Throws dsv4::Error naming the tool ("tools[2] 'get_weather': JSON schema: ...").
std::shared_ptr<const Grammar> compile_tool_calls(const std::vector<ToolSchema>& tools, const ToolCallFormat& format,
                                                  GrammarLimits limits = {});

// The constraint (name "tool_choice") over `vocabulary`, with its DSML marker when it has one.
std::shared_ptr<const TokenConstraintFactory> tool_call_constraint(const std::vector<ToolSchema>& tools, bool parallel,
                                                                   std::shared_ptr<const TokenTrie> vocabulary,
                                                                   GrammarLimits limits = {});

}  // namespace dsv4::structured
