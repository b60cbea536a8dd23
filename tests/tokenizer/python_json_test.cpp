// python_json_dumps against strings printed by CPython 3.11's json.dumps(..., ensure_ascii=False).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tokenizer/python_json.h"
#include "tokenizer/tokenizer_test_util.h"

namespace {

using dsv4::chat::Json;
using dsv4::chat::python_json_dumps;

TEST(PythonJson, FloatsLikePythonRepr) {
  const Json v = Json::array({1.0, 0.1, 1e16, 1e-7, 123456789012345678.0, -0.0, 2.5e-300, 1e22, 3.14159, 100.0, 1e15,
                              12345.678});
  EXPECT_EQ(python_json_dumps(v),
            "[1.0, 0.1, 1e+16, 1e-07, 1.2345678901234568e+17, -0.0, 2.5e-300, 1e+22, 3.14159, 100.0, "
            "1000000000000000.0, 12345.678]");
}

TEST(PythonJson, StringsAndContainers) {
  Json v = Json::object();
  v["k"] = "é\u2028\x7f\x01\n\"\\/";
  v["n"] = Json::array({nullptr, true, false, Json::object(), Json::array()});
  EXPECT_EQ(python_json_dumps(v), "{\"k\": \"é\u2028\x7f\\u0001\\n\\\"\\\\/\", \"n\": [null, true, false, {}, []]}");
  // Key order is kept as given (ordered_json), not sorted.
  const Json o = Json::parse(R"({"z": 1, "a": 2})");
  EXPECT_EQ(python_json_dumps(o), "{\"z\": 1, \"a\": 2}");
}

}  // namespace

namespace {

TEST(PythonJson, RandomFloatsMatchCPython) {
  const std::string python = dsv4::test::venv_python();
  ASSERT_TRUE(std::filesystem::exists(python)) << "the project venv is missing (" << python << "): run scripts/setup.sh";
  const uint64_t seed = dsv4::test::fresh_seed("python float repr");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::vector<double> values;
  std::string hex_list;
  while (values.size() < 3000) {
    uint64_t bits = rng();
    if (values.size() % 3 == 0) bits = (bits & 0x800FFFFFFFFFFFFFull) | (uint64_t(1000 + rng() % 60) << 52);  // near 1e-7..1e17
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d)) continue;
    values.push_back(d);
    hex_list += fmt::format("{:016x}\n", bits);
  }
  const std::string dir = dsv4::test::make_temp_dir("dsv4-pyfloat");
  std::ofstream(dir + "/in.txt") << hex_list;
  std::string out;
  const std::string cmd = "'" + python + "' -c 'import json,struct,sys\nfor l in open(sys.argv[1]):\n print(json.dumps(" +
                          "struct.unpack(\"<d\", bytes.fromhex(l.strip())[::-1])[0]))' " + dir + "/in.txt";
  ASSERT_EQ(dsv4::test::run_command(cmd, &out), 0) << out;
  std::istringstream lines(out);
  std::string want;
  for (double d : values) {
    ASSERT_TRUE(std::getline(lines, want));
    ASSERT_EQ(python_json_dumps(Json(d)), want) << fmt::format("{:a}", d);
  }
}

}  // namespace
