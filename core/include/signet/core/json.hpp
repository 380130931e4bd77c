// Canonical JSON: the encoding the audit log hashes and the license payloads use.
// Object keys sorted by their UTF-8 bytes, no insignificant white space, strings
// as UTF-8 with only the escapes JSON requires (\" \\ \b \f \n \r \t, other
// control characters as \u00xx), integers only (no floats), invalid UTF-8
// refused. docs/audit-format.md specifies it for auditors.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace signet {

using Json = nlohmann::json;

// Encodes a value canonically; throws Error(bad_data) on a float or invalid UTF-8.
std::string canonical_json(const Json& value);

// Why the text is not exactly canonical_json of a value (the rule and its byte
// offset), or nullopt when it is; in one pass, without building the value.
// Nesting deeper than 32 levels is refused, as by parse_strict_json.
std::optional<std::string> canonical_json_problem(std::string_view text);

// Parses JSON text, refusing duplicate object keys (a second "seats" must not
// silently win), nesting deeper than 32 and NUL bytes. nullopt + why on
// failure; for a duplicate key, *pointer (when given) is its JSON Pointer.
std::optional<Json> parse_strict_json(std::string_view text, std::string& why, std::string* pointer = nullptr);

// The value when it is a JSON integer within the type's range; nullopt for
// anything else (floats, strings, larger numbers). get<> on a float would be
// undefined behaviour when it is out of range.
std::optional<std::uint64_t> json_uint(const Json& value) noexcept;
std::optional<std::int64_t> json_int(const Json& value) noexcept;

// Appends the string as canonical JSON encodes it (exactly canonical_json(Json(s))),
// for writers that assemble canonical text from parts; Error(bad_data) on invalid UTF-8.
void append_json_string(std::string& out, std::string_view s);

// One reference token of a JSON Pointer (RFC 6901): '~' as "~0", '/' as "~1".
std::string json_pointer_token(std::string_view key);

}  // namespace signet
