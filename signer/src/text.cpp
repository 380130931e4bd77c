#include "signet/signer/text.hpp"

#include <optional>

namespace signet {

namespace {

struct Decoded {
  char32_t c = 0;
  std::size_t length = 0;
};

// The UTF-8 sequence at s[i], or nothing when it is not valid UTF-8 (overlong,
// a surrogate, beyond U+10FFFF, cut short).
std::optional<Decoded> decode_at(std::string_view s, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return Decoded{b0, 1};
  std::size_t n = 0;
  char32_t c = 0;
  char32_t min = 0;
  if ((b0 & 0xE0U) == 0xC0U) {
    n = 2;
    c = b0 & 0x1FU;
    min = 0x80;
  } else if ((b0 & 0xF0U) == 0xE0U) {
    n = 3;
    c = b0 & 0x0FU;
    min = 0x800;
  } else if ((b0 & 0xF8U) == 0xF0U) {
    n = 4;
    c = b0 & 0x07U;
    min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (s.size() - i < n) return std::nullopt;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0U) != 0x80U) return std::nullopt;
    c = (c << 6U) | (b & 0x3FU);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return std::nullopt;
  return Decoded{c, n};
}

// \uXXXX, as JSON writes a character; above U+FFFF its UTF-16 surrogate pair.
std::string hex4(char32_t c) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  const auto unit = [](char32_t u) {
    std::string out = "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(u >> static_cast<unsigned>(shift)) & 0xFU];
    return out;
  };
  if (c <= 0xFFFF) return unit(c);
  const char32_t v = c - 0x10000;
  return unit(0xD800 + (v >> 10U)) + unit(0xDC00 + (v & 0x3FFU));
}

std::string code_point_name(char32_t c) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string hex;
  for (char32_t v = c; v != 0 || hex.size() < 4; v >>= 4U) hex.insert(hex.begin(), kHex[v & 0xFU]);
  return "U+" + hex;
}

}  // namespace

bool is_control_or_format(char32_t c) noexcept {
  // Not the zero-width non-joiner and joiner (U+200C, U+200D): Persian, Indic
  // scripts and emoji sequences need them, and they reorder nothing.
  // The rest are invisible or blank where they stand: the soft hyphen, the
  // combining grapheme joiner, the Hangul and Khmer fillers, the Mongolian vowel
  // separator, the interlinear annotation marks and the tag characters.
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x061C || c == 0x200B || (c >= 0x200E && c <= 0x200F) ||
         (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) || (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF ||
         c == 0x00AD || c == 0x034F || c == 0x115F || c == 0x1160 || c == 0x17B4 || c == 0x17B5 || c == 0x180E ||
         c == 0x3164 || c == 0xFFA0 || (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE0000 && c <= 0xE007F);
}

bool is_blank(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    const auto d = decode_at(text, i);
    if (!d) return false;
    const char32_t c = d->c;
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == 0x00A0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
                       c == 0x202F || c == 0x205F || c == 0x3000;
    if (!space) return false;
    i += d->length;
  }
  return true;
}

std::string text_rule_broken(std::string_view text, bool multiline) {
  for (std::size_t i = 0; i < text.size();) {
    const auto d = decode_at(text, i);
    if (!d) return "must be valid UTF-8 (byte " + std::to_string(i) + ")";
    if (is_control_or_format(d->c) && !(multiline && (d->c == '\n' || d->c == '\t'))) {
      return std::string("must not contain control characters or invisible formatting characters") +
             (multiline ? " other than newline and tab" : "") + " (" + code_point_name(d->c) + " at byte " +
             std::to_string(i) + ")";
    }
    i += d->length;
  }
  return "";
}

std::string escape_for_terminal(std::string_view text, bool keep_newlines) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto d = decode_at(text, i);
    if (!d) {
      const auto b = static_cast<unsigned char>(text[i]);
      out += "\\x";
      out += kHex[b >> 4U];
      out += kHex[b & 0xFU];
      ++i;
      continue;
    }
    if (d->c == '\\') out += "\\\\";
    else if (d->c == '\n') out += keep_newlines ? "\n" : "\\n";
    else if (d->c == '\t') out += "\\t";
    else if (d->c == '\r') out += "\\r";
    else if (is_control_or_format(d->c)) out += hex4(d->c);
    else out.append(text.substr(i, d->length));
    i += d->length;
  }
  return out;
}

std::string escape_json_for_terminal(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size();) {
    const auto d = decode_at(json, i);
    // A serializer's output is valid UTF-8 and escapes C0 controls already; what
    // is left to escape is DEL, C1 and the formatting characters, all in the BMP.
    if (d && d->c >= 0x7F && is_control_or_format(d->c)) {
      out += hex4(d->c);
      i += d->length;
      continue;
    }
    const std::size_t n = d ? d->length : 1;
    out.append(json.substr(i, n));
    i += n;
  }
  return out;
}

std::string json_for_terminal(const Json& value, int indent) {
  return escape_json_for_terminal(value.dump(indent, ' ', false, Json::error_handler_t::replace));
}

}  // namespace signet
