// Canonical JSON: the encoding the audit log hashes and the license payloads use.
// Object keys sorted by their UTF-8 bytes, no insignificant white space, strings
// as UTF-8 with only the escapes JSON requires (\" \\ \b \f \n \r \t, other
// control characters as \u00xx), integers only (no floats), invalid UTF-8
// refused. docs/audit-format.md specifies it for auditors.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace signet {

using Json = nlohmann::json;

// Encodes a value canonically; throws Error(bad_data) on a float or invalid UTF-8.
std::string canonical_json(const Json& value);

}  // namespace signet
