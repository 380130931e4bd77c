// libFuzzer target: the one-pass canonical JSON check against its definition.
// A text is canonical exactly when parse_strict_json accepts it and
// canonical_json writes it back byte for byte; canonical_json_problem must say
// so without building the value, and must never crash. A disagreement aborts.
#include "signet/core/error.hpp"
#include "signet/core/json.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto problem = signet::canonical_json_problem(text);
  bool by_dom = false;
  std::string why;
  if (const auto value = signet::parse_strict_json(text, why)) {
    try {
      by_dom = signet::canonical_json(*value) == text;
    } catch (const signet::Error&) {
      by_dom = false;
    }
  }
  if (by_dom == problem.has_value()) {
    std::fprintf(stderr, "disagreement: by parse and re-encode %s, one-pass check says %s\n",
                 by_dom ? "canonical" : "not canonical", problem ? problem->c_str() : "canonical");
    std::abort();
  }
  return 0;
}
