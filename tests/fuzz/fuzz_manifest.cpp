// libFuzzer target: an order manifest as the signer reads it. The input is parsed
// with signet::parse_strict_json (duplicate keys and deep nesting refused) and, when
// it parses, checked field by field with signet::validate_manifest under the default
// policy. Neither may crash, leak or throw: refusals come back as values.
#include "signet/signer/config.hpp"
#include "signet/signer/manifest.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  const auto json = signet::parse_strict_json(text, why);
  if (!json) return 0;
  static const signet::Policy policy{};
  const auto result = signet::validate_manifest(*json, "fuzz.json", policy);
  if (const auto* problems = std::get_if<std::vector<signet::ManifestProblem>>(&result)) {
    for (const auto& p : *problems) (void)p.text();  // the refusal texts must be printable too
  }
  return 0;
}
