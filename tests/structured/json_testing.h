// Test helpers for structured output, independent of the code under test: a validator for the
// supported JSON Schema subset, random schemas inside the subset, random JSON texts valid under
// a schema (random whitespace, escapes, UTF-8, in declared property order), and byte mutations.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

namespace dsv4::test {

using OJson = nlohmann::ordered_json;

// Whether value is valid under schema (root: the whole schema document, for $ref).
bool schema_valid(const nlohmann::json& value, const OJson& schema, const OJson& root);
inline bool schema_valid(const nlohmann::json& value, const OJson& schema) { return schema_valid(value, schema, schema); }
// Parses and validates; false when the text is not JSON.
bool text_valid(const std::string& text, const OJson& schema);

// A random schema of the supported subset (with $defs, sometimes a recursive one).
OJson random_schema(std::mt19937_64& rng);
// A random JSON text valid under schema; whitespace runs of at most max_ws bytes.
std::string random_value_text(std::mt19937_64& rng, const OJson& schema, int max_ws = 20);
// text with one random edit (replace / insert / delete a byte, or cut it short).
std::string mutate(std::mt19937_64& rng, const std::string& text);

}  // namespace dsv4::test
