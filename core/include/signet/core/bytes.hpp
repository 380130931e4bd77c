// Byte strings and their text encodings: hex, base64 (standard, padded) and
// base64url (unpadded), all through OpenSSL's encoders. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace signet {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Views the characters of a string as bytes (no copy).
ByteView as_bytes(std::string_view text) noexcept;
// Copies bytes into a std::string (for payloads that are text).
std::string to_string(ByteView bytes);
Bytes to_bytes(std::string_view text);

// Lowercase hex.
std::string to_hex(ByteView bytes);
// Parses hex (either case); nullopt on an odd length or a non-hex character.
std::optional<Bytes> from_hex(std::string_view hex);

// Standard alphabet with '=' padding, no line breaks.
std::string base64_encode(ByteView bytes);
// What base64_decode makes of the unused bits of a last group before its
// padding: canonical (they must be zero: one text per byte string), or any (as
// Go's base64.StdEncoding without Strict(), which the product server reads
// licenses with, ignores them).
enum class Base64Bits { canonical, any };
// Strict standard-alphabet base64 with correct padding; every \r and \n is
// skipped (as Go's encoding/base64 does), any other character (including other
// white space) gives nullopt, and so do non-zero unused bits unless `bits` is any.
std::optional<Bytes> base64_decode(std::string_view text, Base64Bits bits = Base64Bits::canonical);

// URL-safe alphabet, no padding (RFC 4648 section 5).
std::string base64url_encode(ByteView bytes);
// Strict: rejects padding, white space and non-canonical trailing bits.
std::optional<Bytes> base64url_decode(std::string_view text);

}  // namespace signet
