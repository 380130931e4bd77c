// Text that order desks, officers and licenses supply, and that Signet stores,
// signs and prints: which characters it refuses (controls, and the invisible and
// bidirectional formatting characters that make a text read as something other
// than what it holds), and how it prints any text so that no such character
// reaches a terminal raw. Thread-safe (no state).
#pragma once

#include "signet/core/json.hpp"

#include <string>
#include <string_view>

namespace signet {

// True for a character refused in order and log text: C0 controls (U+0000–U+001F),
// DEL and the C1 controls (U+007F–U+009F), and the formatting characters U+061C,
// U+200B–U+200F, U+2028–U+202E, U+2060–U+2064, U+2066–U+2069 and U+FEFF, and
// the characters that show as nothing where they stand: U+00AD, U+034F,
// U+115F, U+1160, U+17B4, U+17B5, U+180E, U+3164, U+FFA0, U+FFF9–U+FFFB and the
// tag characters U+E0000–U+E007F.
[[nodiscard]] bool is_control_or_format(char32_t c) noexcept;

// True when `text` (valid UTF-8) holds only white space: spaces, tabs,
// newlines, U+00A0, U+1680, U+2000–U+200A, U+202F, U+205F, U+3000.
[[nodiscard]] bool is_blank(std::string_view text) noexcept;

// "" when `text` is valid UTF-8 without a character is_control_or_format() refuses
// (with `multiline`, newline U+000A and tab U+0009 are allowed); else the rule it
// breaks, naming the first such character and its byte offset.
[[nodiscard]] std::string text_rule_broken(std::string_view text, bool multiline);

// `text` with every character is_control_or_format() names written as an escape
// (\n, \t, \r, else \u001b, \u202e ...), a backslash as \\ and every byte that is
// not valid UTF-8 as \xNN: safe to print on a terminal, readable, and unambiguous.
// With `keep_newlines`, newlines stay (a message of several lines).
[[nodiscard]] std::string escape_for_terminal(std::string_view text, bool keep_newlines = false);

// JSON text (the output of a JSON serializer, which escapes C0 controls but
// writes other characters raw) with every character is_control_or_format()
// names inside it written as a \uXXXX escape: the same JSON value, safe to print.
[[nodiscard]] std::string escape_json_for_terminal(std::string_view json);

// A JSON value as text for a terminal or a script: dumped (with `indent`, -1 for
// one line), any invalid UTF-8 in its strings (a path, an environment value)
// replaced by U+FFFD rather than failing, then escape_json_for_terminal().
[[nodiscard]] std::string json_for_terminal(const Json& value, int indent = -1);

}  // namespace signet
