// Hashes (OpenSSL EVP), random bytes (libsodium) and a locked, wiped buffer for
// secrets. sodium_init() is called on first use; all functions are thread-safe.
#pragma once

#include "signet/core/bytes.hpp"

#include <array>
#include <cstddef>
#include <memory>

namespace signet {

inline constexpr std::size_t kSha256Bytes = 32;
inline constexpr std::size_t kSha512Bytes = 64;
using Sha256Digest = std::array<std::uint8_t, kSha256Bytes>;

// SHA-256 of bytes (EVP_Digest).
Sha256Digest sha256(ByteView data);
// SHA-512 of bytes (EVP_Digest).
std::array<std::uint8_t, kSha512Bytes> sha512(ByteView data);

// Incremental SHA-256 (EVP_DigestInit/Update/Final); not copyable: it owns an EVP_MD_CTX.
class Sha256 {
 public:
  Sha256();
  ~Sha256() noexcept;
  Sha256(const Sha256&) = delete;  // owns an EVP_MD_CTX
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(ByteView data);
  Sha256& update(std::string_view text) { return update(as_bytes(text)); }
  Sha256Digest finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> m_ctx;
};

// Calls sodium_init() once; throws Error(software) if libsodium cannot start.
void ensure_sodium();
// Fills the buffer with random bytes (randombytes_buf).
void random_fill(std::span<std::uint8_t> out);
// Constant-time comparison (sodium_memcmp).
bool equal_constant_time(ByteView a, ByteView b) noexcept;

// A buffer for secrets (PINs): allocated with sodium_malloc (guard pages, mlock),
// wiped by sodium_free on destruction. Move-only: a secret is never copied.
class SecretBuffer {
 public:
  SecretBuffer() = default;
  explicit SecretBuffer(std::size_t capacity);
  ~SecretBuffer() noexcept;
  SecretBuffer(const SecretBuffer&) = delete;  // secrets are never copied
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;

  [[nodiscard]] std::uint8_t* data() noexcept { return m_data; }
  [[nodiscard]] const std::uint8_t* data() const noexcept { return m_data; }
  [[nodiscard]] std::size_t size() const noexcept { return m_size; }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }
  [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
  // Sets the used length (<= capacity); the rest stays wiped.
  void resize(std::size_t size);
  // Appends one byte; throws Error(bad_data) when full.
  void push_back(std::uint8_t byte);
  // Removes trailing '\n' and '\r', wiping them.
  void trim_newline() noexcept;
  // Wipes the content and sets the size to 0 (sodium_memzero).
  void clear() noexcept;

 private:
  std::uint8_t* m_data = nullptr;
  std::size_t m_size = 0;
  std::size_t m_capacity = 0;
};

}  // namespace signet
