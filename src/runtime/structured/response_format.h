// The OpenAI `response_format` request field -> a token constraint for SamplingParams:
//   {"type": "text"}                                    -> nullptr (no constraint)
//   {"type": "json_object"}                             -> any JSON object
//   {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": ...}}
//                                                       -> the schema (json_schema.h subset;
//                                                          enforced whatever "strict" says)
// Errors (a malformed field, a keyword outside the subset) are dsv4::Error whose message starts
// with "response_format" and names the JSON pointer inside the schema: an HTTP 400.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "runtime/structured/json_schema.h"
#include "runtime/structured/token_trie.h"
#include "runtime/token_constraint.h"

namespace dsv4::structured {

// vocabulary: TokenTrie::from_tokenizer(tokenizer), built once per tokenizer and shared.
std::shared_ptr<const TokenConstraintFactory> response_format_constraint(const nlohmann::ordered_json& response_format,
                                                                         std::shared_ptr<const TokenTrie> vocabulary,
                                                                         GrammarLimits limits = {});
std::shared_ptr<const TokenConstraintFactory> json_schema_constraint(const nlohmann::ordered_json& schema,
                                                                     std::shared_ptr<const TokenTrie> vocabulary,
                                                                     GrammarLimits limits = {});
std::shared_ptr<const TokenConstraintFactory> json_object_constraint(std::shared_ptr<const TokenTrie> vocabulary,
                                                                     GrammarLimits limits = {});

}  // namespace dsv4::structured
