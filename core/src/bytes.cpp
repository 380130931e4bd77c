#include "signet/core/bytes.hpp"

#include "signet/core/error.hpp"

#include <openssl/evp.h>

#include <array>

namespace signet {

ByteView as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string to_string(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Bytes to_bytes(std::string_view text) {
  const auto view = as_bytes(text);
  return {view.begin(), view.end()};
}

std::string to_hex(ByteView bytes) {
  static constexpr std::string_view kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const auto b : bytes) {
    out.push_back(kDigits[b >> 4U]);
    out.push_back(kDigits[b & 0x0FU]);
  }
  return out;
}

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::string_view kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Decodes standard base64 with padding through OpenSSL's block decoder, after the
// caller has checked the alphabet and length (EVP_DecodeBlock alone accepts too much).
std::optional<Bytes> decode_padded(const std::string& text, Base64Bits bits = Base64Bits::canonical) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0 || kStd.find(c) == std::string_view::npos) return std::nullopt;
  }
  if (pad > 2) return std::nullopt;
  Bytes out(text.size() / 4 * 3);
  const int n = ::EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - pad);
  if (bits == Base64Bits::any) return out;
  // Reject non-canonical encodings: unused trailing bits must be zero.
  std::string again(out.size() / 3 * 4 + 8, '\0');
  const int m = ::EVP_EncodeBlock(reinterpret_cast<unsigned char*>(again.data()), out.data(),
                                  static_cast<int>(out.size()));
  again.resize(static_cast<std::size_t>(m));
  if (again != text) return std::nullopt;
  return out;
}

}  // namespace

std::optional<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  Bytes out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

std::string base64_encode(ByteView bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  const int n = ::EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                  static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<Bytes> base64_decode(std::string_view text, Base64Bits bits) {
  std::string compact;
  compact.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    // Go's encoding/base64 decoder, which the product server reads licenses
    // with, skips every \r and \n wherever they stand.
    if (c == '\n' || c == '\r') continue;
    compact.push_back(c);
  }
  return decode_padded(compact, bits);
}

std::string base64url_encode(ByteView bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

std::optional<Bytes> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string std_text;
  std_text.reserve(text.size() + 3);
  for (const char c : text) {
    if (kUrl.find(c) == std::string_view::npos) return std::nullopt;
    std_text.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  while (std_text.size() % 4 != 0) std_text.push_back('=');
  return decode_padded(std_text);
}

}  // namespace signet
