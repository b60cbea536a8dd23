// JSON schema -> grammar: every supported keyword does what JSON Schema says (checked through
// the matcher on texts that must and must not pass), and every unsupported one is refused with
// an error that names the keyword and its JSON pointer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "runtime/structured/json_schema.h"
#include "runtime/structured/matcher.h"
#include "runtime/structured/response_format.h"

namespace dsv4::structured {
namespace {

using OJson = nlohmann::ordered_json;

void expect_language(const char* schema_text, const std::vector<std::string>& good, const std::vector<std::string>& bad) {
  SCOPED_TRACE(schema_text);
  const auto g = compile_json_schema(OJson::parse(schema_text));
  for (const std::string& t : good) EXPECT_TRUE(matches(*g, t)) << "should accept: " << t;
  for (const std::string& t : bad) EXPECT_FALSE(matches(*g, t)) << "should reject: " << t;
}

std::string error_of(const char* schema_text) {
  try {
    compile_json_schema(OJson::parse(schema_text));
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SchemaCompiler, Types) {
  expect_language(R"({"type": "string"})", {R"("")", R"("abc")", R"("a\"b\\c\/\n\u00e9")"}, {"abc", "1", "\"a", ""});
  expect_language(R"({"type": "integer"})", {"0", "-7", "123456789012345"}, {"1.5", "01", "-", "1e3", "1234567890123456", "\"1\""});
  expect_language(R"({"type": "number"})", {"0", "-0.5", "1e10", "2.5E-3", "1E+22"}, {".5", "1.", "1e", "+1", "1e100", "NaN"});
  expect_language(R"({"type": "boolean"})", {"true", "false"}, {"True", "1", "null", "tru"});
  expect_language(R"({"type": "null"})", {"null"}, {"nul", "0", "\"null\""});
  expect_language(R"({"type": ["string", "null"]})", {"null", "\"x\""}, {"1"});
}

TEST(SchemaCompiler, ObjectsPropertiesRequiredAndOrder) {
  const char* s = R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"},
                      "c": {"type": "boolean"}}, "required": ["a", "c"], "additionalProperties": false})";
  expect_language(s, {R"({"a":1,"c":true})", R"({"a":1,"b":"x","c":false})", "{ \"a\" : 1 ,\n \"c\" : true }"},
                  {R"({"c":true,"a":1})",  // declaration order
                   R"({"a":1})", R"({"a":1,"c":true,"d":1})", R"({"a":"1","c":true})", R"({"a":1,"c":true,})", "{}"});
  // Optional only: {} and any subset in order.
  expect_language(R"({"type": "object", "properties": {"x": {"type": "null"}, "y": {"type": "null"}}})",
                  {"{}", R"({"x":null})", R"({"y":null})", R"({"x":null,"y":null})"}, {R"({"y":null,"x":null})", R"({,})"});
  // No properties: any keys; additionalProperties a schema: the values' schema; false: only {}.
  expect_language(R"({"type": "object"})", {"{}", R"({"k":[1,{"z":null}],"":"v"})"}, {"[]", R"({"k"})"});
  expect_language(R"({"type": "object", "additionalProperties": {"type": "integer"}})", {R"({"p":1,"q":-2})"},
                  {R"({"p":"1"})"});
  expect_language(R"({"type": "object", "additionalProperties": false})", {"{}", "{ }"}, {R"({"a":1})"});
  // Keys that need escaping.
  expect_language(R"({"type": "object", "properties": {"q\"uo/te": {"const": 1}}, "required": ["q\"uo/te"]})",
                  {R"({"q\"uo/te":1})"}, {R"({"q\"uo\/te":1})"});
}

TEST(SchemaCompiler, ArraysItemsAndBounds) {
  expect_language(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3})",
                  {"[1]", "[1,2,3]", "[ 1 , 2 ]"}, {"[]", "[1,2,3,4]", "[1,]", "[\"a\"]", "[1 2]"});
  expect_language(R"({"type": "array"})", {"[]", R"([1,"a",null,[{}]])"}, {"[", "{}"});
  expect_language(R"({"type": "array", "items": false})", {"[]"}, {"[1]"});
  expect_language(R"({"items": {"type": "null"}})", {"[null]"}, {"null"});  // type inferred from items
}

TEST(SchemaCompiler, StringLengthsCountCodePoints) {
  expect_language(R"({"type": "string", "minLength": 2, "maxLength": 3})",
                  {R"("ab")", R"("abc")", "\"中文字\"", R"("\n\t")", R"("a\u00e9")", "\"😀😀\""},
                  {R"("a")", R"("abcd")", "\"中文字文\"", R"("\n")"});
  expect_language(R"({"maxLength": 0})", {R"("")"}, {R"("a")"});  // type inferred from maxLength
}

TEST(SchemaCompiler, EnumConstAnyOf) {
  expect_language(R"({"enum": ["red", "green", 3, null, {"a": [1]}]})", {R"("red")", R"("green")", "3", "null", R"({"a":[1]})"},
                  {R"("blue")", "4", R"({"a": [1]})", R"("re")"});
  expect_language(R"({"type": "string", "enum": ["x", 1]})", {R"("x")"}, {"1"});  // values of other types dropped
  expect_language(R"({"const": "only"})", {R"("only")"}, {R"("onl")", R"("only2")"});
  expect_language(R"({"anyOf": [{"type": "integer"}, {"type": "object", "properties": {"k": {"type": "string"}},
                                 "required": ["k"]}]})",
                  {"5", R"({"k":"v"})"}, {"\"5\"", "{}"});
}

TEST(SchemaCompiler, RefsIncludingRecursive) {
  expect_language(R"({"$defs": {"id": {"type": "integer"}}, "type": "object",
                      "properties": {"a": {"$ref": "#/$defs/id"}, "b": {"$ref": "#/definitions/s"}},
                      "required": ["a"], "definitions": {"s": {"type": "string"}}})",
                  {R"({"a":1})", R"({"a":1,"b":"x"})"}, {R"({"a":"x"})"});
  const char* tree = R"({"type": "object", "properties": {"v": {"type": "integer"},
                         "kids": {"type": "array", "items": {"$ref": "#"}}}, "required": ["v", "kids"]})";
  expect_language(tree, {R"({"v":1,"kids":[]})", R"({"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[]}]}]})"},
                  {R"({"v":1,"kids":[{"v":2}]})"});
}

TEST(SchemaCompiler, TrueAndEmptySchemaAreAnyValue) {
  expect_language("true", {"1", "\"s\"", "[]", R"({"a":{"b":[null]}})", "false"}, {"", "nul", "[1,]"});
  expect_language("{}", {"1", "null"}, {"{"});
}

TEST(SchemaCompiler, JsonObjectGrammarIsAnyObject) {
  const auto g = json_object_grammar();
  for (const char* t : {"{}", R"({"a":1})", R"({"a":{"b":[1,2,{"c":"d"}]},"e":null})"}) EXPECT_TRUE(matches(*g, t)) << t;
  for (const char* t : {"[]", "1", "\"x\"", "{", R"({"a":})", "{} "}) EXPECT_FALSE(matches(*g, t)) << t;
}

TEST(SchemaCompiler, UnsupportedKeywordsNameKeywordAndPath) {
  struct Case {
    const char* schema;
    const char* keyword;
    const char* path;
  };
  const Case cases[] = {
      {R"({"type": "string", "pattern": "^a"})", "'pattern'", "#/pattern"},
      {R"({"type": "string", "format": "date-time"})", "'format'", "#/format"},
      {R"({"type": "object", "properties": {"n": {"type": "number", "minimum": 0}}})", "'minimum'", "#/properties/n/minimum"},
      {R"({"type": "integer", "maximum": 9})", "'maximum'", "#/maximum"},
      {R"({"type": "integer", "exclusiveMinimum": 0})", "'exclusiveMinimum'", "#/exclusiveMinimum"},
      {R"({"type": "number", "multipleOf": 2})", "'multipleOf'", "#/multipleOf"},
      {R"({"oneOf": [{"type": "string"}]})", "'oneOf'", "#/oneOf"},
      {R"({"allOf": [{"type": "string"}]})", "'allOf'", "#/allOf"},
      {R"({"not": {"type": "string"}})", "'not'", "#/not"},
      {R"({"type": "array", "prefixItems": [{"type": "string"}]})", "'prefixItems'", "#/prefixItems"},
      {R"({"type": "array", "items": {"type": "array", "uniqueItems": true}})", "'uniqueItems'", "#/items/uniqueItems"},
      {R"({"type": "array", "contains": {"type": "string"}})", "'contains'", "#/contains"},
      {R"({"type": "object", "patternProperties": {"^a": {}}})", "'patternProperties'", "#/patternProperties"},
      {R"({"type": "object", "minProperties": 1})", "'minProperties'", "#/minProperties"},
      {R"({"type": "object", "propertyNames": {"maxLength": 3}})", "'propertyNames'", "#/propertyNames"},
      {R"({"if": {"type": "string"}})", "'if'", "#/if"},
      {R"({"anyOf": [{"type": "string"}], "type": "string"})", "'type'", "#/type"},
      {R"({"$ref": "#/$defs/a", "maxLength": 2, "$defs": {"a": {"type": "string"}}})", "'maxLength'", "#/maxLength"},
      {R"({"enum": [1, 2], "minimum": 1})", "'minimum'", "#/minimum"},
      {R"({"type": "object", "properties": {"a/b": {"type": "string", "pattern": "x"}}})", "'pattern'",
       "#/properties/a~1b/pattern"},
      {R"({"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "string"}})",
       "'additionalProperties'", "#/additionalProperties"},
  };
  for (const Case& c : cases) {
    const std::string e = error_of(c.schema);
    EXPECT_NE(e.find(c.keyword), std::string::npos) << c.schema << " -> " << e;
    EXPECT_NE(e.find(c.path), std::string::npos) << c.schema << " -> " << e;
  }
}

TEST(SchemaCompiler, MalformedAndUnsatisfiableSchemasAreErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"type": "decimal"})", "unsupported type \"decimal\""},
      {R"({"type": "string", "minLength": 5, "maxLength": 2})", "minimum 5 above maximum 2"},
      {R"({"type": "array", "minItems": -1})", "'minItems' must be a non-negative integer"},
      {R"({"type": "object", "properties": {"a": {}}, "required": ["b"]})", "required property 'b' is not in 'properties'"},
      {R"({"$ref": "#/$defs/missing"})", "does not resolve"},
      {R"({"$ref": "https://example.com/s.json"})", "only local references"},
      {R"({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})", "cycle"},
      {R"({"enum": []})", "non-empty array"},
      {R"({"type": "integer", "enum": ["a"]})", "no value"},
      {R"({"anyOf": []})", "non-empty array"},
      {"false", "'false'"},
      {"3", "must be an object or a boolean"},
      {R"({"type": "object", "properties": {"self": {"$ref": "#"}}, "required": ["self"]})", "no finite JSON value"},
  };
  for (const auto& [schema, message] : cases) {
    const std::string e = error_of(schema);
    EXPECT_NE(e.find(message), std::string::npos) << schema << " -> " << e;
  }
}

TEST(SchemaCompiler, DeadAlternativesArePrunedNotWalkedInto) {
  // The first alternative has no finite value: only the second remains.
  const auto g = compile_json_schema(OJson::parse(
      R"({"anyOf": [{"type": "object", "properties": {"x": {"$ref": "#/anyOf/0"}}, "required": ["x"]},
                    {"type": "object", "properties": {"y": {"type": "null"}}}]})"));
  EXPECT_TRUE(matches(*g, R"({"y":null})"));
  const Matcher m(*g);
  MatchState s = m.start();
  EXPECT_FALSE(m.feed(s, "{\"x\""));
}

TEST(ResponseFormat, ParsesTheOpenAIField) {
  const std::vector<std::string> bytes = {"{", "}", "a"};
  const auto vocab = TokenTrie::build(bytes);
  EXPECT_EQ(response_format_constraint(OJson::parse(R"({"type": "text"})"), vocab), nullptr);
  EXPECT_STREQ(response_format_constraint(OJson::parse(R"({"type": "json_object"})"), vocab)->name(), "json_object");
  const auto f = response_format_constraint(
      OJson::parse(R"({"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": {"type": "object"}}})"), vocab);
  ASSERT_NE(f, nullptr);
  EXPECT_STREQ(f->name(), "json_schema");
  for (const char* bad : {R"({"type": "xml"})", R"({"type": "json_schema"})", R"({"type": "json_schema", "json_schema": {}})",
                          R"([1])", R"({"type": "json_schema", "json_schema": {"schema": {"pattern": "a"}}})"}) {
    try {
      response_format_constraint(OJson::parse(bad), vocab);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("response_format", 0), 0u) << e.what();
    }
  }
}

}  // namespace
}  // namespace dsv4::structured
