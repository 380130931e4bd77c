// canonical_json_problem against its definition: a text is canonical exactly
// when it parses (strictly) and canonical_json writes it back byte for byte.
#include "signet/core/json.hpp"

#include "signet/core/error.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>

using namespace signet;

namespace {

bool canonical_by_dom(const std::string& text) {
  std::string why;
  const auto value = parse_strict_json(text, why);
  if (!value) return false;
  try {
    return canonical_json(*value) == text;
  } catch (const Error&) {
    return false;  // a float, or a string canonical JSON cannot hold
  }
}

// A random value of the shapes records hold, with strings of every kind of byte.
Json random_value(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> pick(0, depth >= 4 ? 4 : 6);
  const auto random_string = [&] {
    static const std::string kPieces[] = {"a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f",
                                          "é", "日", "😀", "\xef\xbf\xbf", "-----BEGIN", "{\"alg\":\"x\"}"};
    std::string s;
    const auto n = std::uniform_int_distribution<int>(0, 8)(rng);
    for (int i = 0; i < n; ++i) s += kPieces[std::uniform_int_distribution<std::size_t>(0, std::size(kPieces) - 1)(rng)];
    return s;
  };
  switch (pick(rng)) {
    case 0: return nullptr;
    case 1: return std::uniform_int_distribution<int>(0, 1)(rng) == 1;
    case 2: return std::uniform_int_distribution<std::int64_t>(INT64_MIN, INT64_MAX)(rng);
    case 3: return std::uniform_int_distribution<std::uint64_t>(0, UINT64_MAX)(rng);
    case 4: return random_string();
    case 5: {
      Json a = Json::array();
      for (int i = std::uniform_int_distribution<int>(0, 4)(rng); i > 0; --i) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      Json o = Json::object();
      for (int i = std::uniform_int_distribution<int>(0, 5)(rng); i > 0; --i) o[random_string()] = random_value(rng, depth + 1);
      return o;
    }
  }
}

}  // namespace

TEST_CASE("canonical JSON text passes the one-pass check, and so does nothing else", "[core][json]") {
  for (const std::string text :
       {"{}", "[]", "0", "-1", "\"\"", "null", "true", "false", "18446744073709551615", "-9223372036854775808",
        R"({"B":"x","a":{"z":[1,2,{"x":true,"y":null}],"é":"\u0001"},"b":1})", R"({"a":"\"\\\b\f\n\r\t\u0000\u001f/"})",
        "{\"\x7f\":\"\xf0\x9f\x98\x80\"}", R"({"":1,"a":{},"aa":[]})"}) {
    INFO(text);
    CHECK(canonical_by_dom(text));
    CHECK_FALSE(canonical_json_problem(text));
  }
  const std::pair<std::string, std::string> refused[] = {
      {R"({"b":1,"a":2})", "comes after \"b\""},
      {R"({"a":1,"a":2})", "appears twice"},
      {R"({"a":{"x":1,"x":1}})", "appears twice"},
      {R"({"a": 1})", "white space"},
      {"{\"a\":1}\n", "bytes after"},
      {" {}", "white space"},
      {R"([1 ,2])", "white space"},
      {R"({"a":1.0})", "floating-point"},
      {R"({"a":1e3})", "floating-point"},
      {R"({"a":-0})", "-0"},
      {R"({"a":01})", "leading zero"},
      {R"({"a":+1})", "not a JSON value"},
      {"18446744073709551616", "64-bit range"},
      {"-9223372036854775809", "64-bit range"},
      {R"("\u0041")", "writes as itself"},
      {R"("\u000a")", "short escape"},
      {R"("\u001F")", "upper-case"},
      {R"({"a":"\u00"})", "without four hex digits"},
      {R"("\u00g1")", "without four hex digits"},
      {R"({"a#":1,"a\"":2})", "the key \"a\\\"\" comes after \"a#\""},
      {R"("\ud83d\ude00")", "writes as itself"},
      {R"("\/")", "does not write"},
      {"\"a\nb\"", "control character"},
      {"\"\xff\"", "invalid UTF-8"},
      {"\"\xc0\xaf\"", "invalid UTF-8"},          // overlong '/'
      {"\"\xed\xa0\x80\"", "invalid UTF-8"},      // a surrogate
      {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},  // above U+10FFFF
      {"\"\xe6\x97\"", "invalid UTF-8"},          // cut short
      {"\"abc", "ends inside a string"},
      {R"({"a":1,})", "object key"},
      {R"([1,])", "not a JSON value"},
      {R"({"a"})", "':'"},
      {"nul", "not a JSON value"},
      {"", "ends where a value"},
      {std::string("{\"a\":1}\0", 8), "bytes after"},
      {std::string(33, '[') + std::string(33, ']'), "deeper than 32"},
  };
  for (const auto& [text, why] : refused) {
    INFO(text);
    CHECK_FALSE(canonical_by_dom(text));
    const auto problem = canonical_json_problem(text);
    REQUIRE(problem);
    CHECK_THAT(*problem, Catch::Contains(why) && Catch::Contains("at byte offset"));
  }
  CHECK(*canonical_json_problem(R"({"a":1, "b":2})") == "white space (canonical JSON has none) at byte offset 7");
  CHECK_FALSE(canonical_json_problem(std::string(32, '[') + std::string(32, ']')));
}

TEST_CASE("the one-pass check agrees with parse and re-encode on random values and their mutations", "[core][json]") {
  std::mt19937 rng(20261203);
  const std::string kBytes = "{}[]\":,\\-0129aeE.tfnu \n\x01\x7f\xc3\xa9\xff";
  int canonical = 0, mutated_canonical = 0;
  for (int round = 0; round < 3000; ++round) {
    const auto text = canonical_json(random_value(rng, 0));
    INFO(text);
    REQUIRE_FALSE(canonical_json_problem(text));
    ++canonical;
    for (int m = 0; m < 8; ++m) {
      auto changed = text;
      const auto at = std::uniform_int_distribution<std::size_t>(0, changed.size())(rng);
      const char byte = kBytes[std::uniform_int_distribution<std::size_t>(0, kBytes.size() - 1)(rng)];
      switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
        case 0: changed.insert(at, 1, byte); break;
        case 1: if (at < changed.size()) changed.erase(at, 1); break;
        default: if (at < changed.size()) changed[at] = byte;
      }
      INFO(changed);
      const bool by_dom = canonical_by_dom(changed);
      CHECK(by_dom == !canonical_json_problem(changed).has_value());
      if (by_dom) ++mutated_canonical;
    }
  }
  CHECK(canonical == 3000);
  // Some mutations stay canonical (a digit for a digit, a letter in a string), most do not.
  CHECK(mutated_canonical > 0);
  CHECK(mutated_canonical < 3000 * 8);
}
