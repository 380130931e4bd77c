// Whether a text is exactly what canonical_json writes, in one pass over its
// bytes: `signet audit verify` checks every record so, where parsing each ~3 KB
// record into a DOM and encoding it again made verify six times slower.
#include "signet/core/json.hpp"

#include <array>
#include <cctype>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace signet {

namespace {

constexpr int kMaxDepth = 32;  // as parse_strict_json

// A byte a canonical string holds as it is with nothing to check: printable
// ASCII (and DEL, which canonical JSON does not escape) other than '"' and '\\'.
constexpr bool plain(unsigned char c) noexcept { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

// The first byte at or after p that is not plain. Most of a record is the
// license text and base64, so runs are long: 16 bytes a step where SSE2 is there.
const unsigned char* skip_plain(const unsigned char* p, const unsigned char* end) noexcept {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1F);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: 0x20..0x7F are above 0x1F; control bytes and bytes >= 0x80 are not.
    const __m128i printable = _mm_cmpgt_epi8(v, below_space);
    const __m128i special = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_andnot_si128(special, printable)));
    if (mask != 0xFFFFU) return p + __builtin_ctz(~mask & 0xFFFFU);
    p += 16;
  }
#endif
  while (p < end && plain(*p)) ++p;
  return p;
}

// The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) noexcept {
  const auto left = end - p;
  const auto cont = [&](std::ptrdiff_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < left && p[i] >= lo && p[i] <= hi;
  };
  const unsigned char c = p[0];
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

int hex_digit(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case too: canonical JSON writes \u001f, not \u001F
}

class CanonicalChecker {
 public:
  explicit CanonicalChecker(std::string_view text)
      : m_begin(reinterpret_cast<const unsigned char*>(text.data())), m_p(m_begin), m_end(m_begin + text.size()) {}

  std::optional<std::string> run() {
    if (!value(0)) return m_why;
    if (m_p != m_end) return at("bytes after the JSON value");
    return std::nullopt;
  }

 private:
  bool value(int depth) {
    if (m_p == m_end) return fail("the text ends where a value should be");
    switch (*m_p) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return string(nullptr);
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      case ' ': case '\t': case '\n': case '\r': return fail_here("");
      default: return number();
    }
  }

  bool object(int depth) {
    if (depth > kMaxDepth) return fail("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    ++m_p;  // '{'
    if (m_p < m_end && *m_p == '}') {
      ++m_p;
      return true;
    }
    // A key is compared as the text between its quotes, which is its bytes
    // unless it holds an escape; then it is decoded into one of this depth's
    // two buffers (the other may hold the previous key).
    auto& buffers = m_keys[static_cast<std::size_t>(depth - 1)];
    std::size_t buffer = 0;
    std::string_view previous, previous_text;  // decoded, and as written (for messages)
    for (bool first = true;; first = false) {
      if (m_p == m_end || *m_p != '"') return fail_here("an object key should be here");
      const auto* key_start = m_p;
      bool escaped = false;
      if (!string(&escaped)) return false;
      std::string_view key(reinterpret_cast<const char*>(key_start + 1), static_cast<std::size_t>(m_p - key_start - 2));
      const auto key_text = key;
      if (escaped) {
        unescape(key, buffers[buffer]);
        key = buffers[buffer];
        buffer ^= 1U;
      }
      if (!first && !(previous < key)) {
        m_p = key_start;
        return fail(previous == key ? "the key \"" + std::string(key_text) + "\" appears twice in one object"
                                    : "the key \"" + std::string(key_text) + "\" comes after \"" +
                                          std::string(previous_text) + "\" (canonical JSON sorts keys by their UTF-8 bytes)");
      }
      previous = key;
      previous_text = key_text;
      if (!expect(':')) return false;
      if (!value(depth)) return false;
      if (m_p < m_end && *m_p == '}') {
        ++m_p;
        return true;
      }
      if (!expect(',')) return false;
    }
  }

  // The bytes a checked string's text stands for, its escapes undone.
  static void unescape(std::string_view text, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '\\') {
        out.push_back(text[i]);
        continue;
      }
      switch (text[++i]) {
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u':  // \u00xx, checked
          out.push_back(static_cast<char>(hex_digit(static_cast<unsigned char>(text[i + 3])) * 16 +
                                          hex_digit(static_cast<unsigned char>(text[i + 4]))));
          i += 4;
          break;
        default: out.push_back(text[i]);  // a quote or a backslash
      }
    }
  }

  bool array(int depth) {
    if (depth > kMaxDepth) return fail("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    ++m_p;  // '['
    if (m_p < m_end && *m_p == ']') {
      ++m_p;
      return true;
    }
    for (;;) {
      if (!value(depth)) return false;
      if (m_p < m_end && *m_p == ']') {
        ++m_p;
        return true;
      }
      if (!expect(',')) return false;
    }
  }

  // A string whose every character is written as canonical JSON writes it;
  // *escaped (when given) is set if it holds an escape.
  bool string(bool* escaped) {
    ++m_p;  // '"'
    for (;;) {
      m_p = skip_plain(m_p, m_end);
      if (m_p == m_end) return fail("the text ends inside a string");
      const unsigned char c = *m_p;
      if (c == '"') {
        ++m_p;
        return true;
      }
      if (c < 0x20) return fail("a control character not escaped in a string");
      if (c == '\\') {
        if (!escape()) return false;
        if (escaped != nullptr) *escaped = true;
        continue;
      }
      const auto n = utf8_sequence(m_p, m_end);
      if (n == 0) return fail("invalid UTF-8 in a string");
      m_p += n;
    }
  }

  // The escapes canonical JSON writes: \" \\ \b \f \n \r \t, and \u00xx (lower
  // case) for the other control characters; nothing else is escaped.
  bool escape() {
    if (m_end - m_p < 2) return fail("the text ends inside a string");
    switch (m_p[1]) {
      case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't': break;
      case 'u': {
        if (m_end - m_p < 6) return fail("a \\u escape cut short");
        for (int i = 2; i < 6; ++i) {
          if (std::isxdigit(m_p[i]) == 0) return fail("a \\u escape without four hex digits");
          if (hex_digit(m_p[i]) < 0) return fail("a \\u escape in upper-case hex (canonical JSON writes \\u001f)");
        }
        const int hi = hex_digit(m_p[4]), lo = hex_digit(m_p[5]);
        if (m_p[2] != '0' || m_p[3] != '0' || hi > 1)
          return fail("a \\u escape of a character canonical JSON writes as itself");
        const int v = hi * 16 + lo;
        if (v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
          return fail("a \\u escape where canonical JSON writes a short escape (\\b \\f \\n \\r \\t)");
        m_p += 6;
        return true;
      }
      default: return fail("an escape canonical JSON does not write");
    }
    m_p += 2;
    return true;
  }

  // An integer as canonical JSON writes it: no sign but a minus, no leading
  // zero, no "-0", no fraction or exponent, within int64 (negative) or uint64.
  bool number() {
    const auto* start = m_p;
    const bool negative = *m_p == '-';
    if (negative) ++m_p;
    const auto* digits = m_p;
    while (m_p < m_end && *m_p >= '0' && *m_p <= '9') ++m_p;
    const auto n = static_cast<std::size_t>(m_p - digits);
    if (n == 0) {
      m_p = start;
      return fail("not a JSON value");
    }
    if (m_p < m_end && (*m_p == '.' || *m_p == 'e' || *m_p == 'E')) {
      m_p = start;
      return fail("a floating-point number (canonical JSON has integers only)");
    }
    if (digits[0] == '0' && (n > 1 || negative)) {
      m_p = start;
      return fail(n > 1 ? "a number with a leading zero" : "-0 (canonical JSON writes 0)");
    }
    static constexpr std::string_view kMaxUnsigned = "18446744073709551615";
    static constexpr std::string_view kMaxNegative = "9223372036854775808";
    const auto limit = negative ? kMaxNegative : kMaxUnsigned;
    const std::string_view text(reinterpret_cast<const char*>(digits), n);
    if (n > limit.size() || (n == limit.size() && text > limit)) {
      m_p = start;
      return fail("an integer out of the 64-bit range (it would be read as a floating-point number)");
    }
    return true;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(m_end - m_p) < word.size() || std::memcmp(m_p, word.data(), word.size()) != 0)
      return fail("not a JSON value");
    m_p += word.size();
    return true;
  }

  bool expect(char c) {
    if (m_p < m_end && *m_p == static_cast<unsigned char>(c)) {
      ++m_p;
      return true;
    }
    return fail_here(std::string("'") + c + "' should be here");
  }

  // What is missing here, unless what is here is white space.
  bool fail_here(const std::string& missing) {
    if (m_p < m_end && (*m_p == ' ' || *m_p == '\t' || *m_p == '\n' || *m_p == '\r'))
      return fail("white space (canonical JSON has none)");
    return fail(missing);
  }

  bool fail(const std::string& why) {
    m_why = at(why);
    return false;
  }
  std::string at(const std::string& why) const {
    return why + " at byte offset " + std::to_string(m_p - m_begin);
  }

  const unsigned char* m_begin;
  const unsigned char* m_p;
  const unsigned char* m_end;
  std::array<std::array<std::string, 2>, kMaxDepth> m_keys;  // per depth: decoded keys (see object)
  std::string m_why;
};

}  // namespace

std::optional<std::string> canonical_json_problem(std::string_view text) {
  return CanonicalChecker(text).run();
}

}  // namespace signet
