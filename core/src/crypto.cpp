#include "signet/core/crypto.hpp"

#include "signet/core/error.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <mutex>
#include <utility>

namespace signet {

static_assert(kSha256Bytes == SHA256_DIGEST_LENGTH);
static_assert(kSha512Bytes == SHA512_DIGEST_LENGTH);

namespace {

template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, ByteView data) {
  std::array<std::uint8_t, N> out{};
  unsigned int len = 0;
  if (::EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N) {
    throw Error(ErrorKind::software, "EVP_Digest failed");
  }
  return out;
}

// The algorithms fetched once: EVP_sha256() would fetch them again on every use.
const EVP_MD* fetched(const char* name, const EVP_MD* fallback) {
  const EVP_MD* md = ::EVP_MD_fetch(nullptr, name, nullptr);
  return md != nullptr ? md : fallback;
}

const EVP_MD* sha256_md() {
  static const EVP_MD* md = fetched("SHA256", ::EVP_sha256());
  return md;
}

const EVP_MD* sha512_md() {
  static const EVP_MD* md = fetched("SHA512", ::EVP_sha512());
  return md;
}

}  // namespace

Sha256Digest sha256(ByteView data) { return digest<kSha256Bytes>(sha256_md(), data); }

std::array<std::uint8_t, kSha512Bytes> sha512(ByteView data) { return digest<kSha512Bytes>(sha512_md(), data); }

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : m_ctx(std::make_unique<Ctx>()) {
  m_ctx->md = ::EVP_MD_CTX_new();
  if (m_ctx->md == nullptr || ::EVP_DigestInit_ex(m_ctx->md, sha256_md(), nullptr) != 1) {
    ::EVP_MD_CTX_free(m_ctx->md);
    throw Error(ErrorKind::software, "EVP_DigestInit_ex(SHA-256) failed");
  }
}

Sha256::~Sha256() noexcept { ::EVP_MD_CTX_free(m_ctx->md); }

Sha256& Sha256::update(ByteView data) {
  if (::EVP_DigestUpdate(m_ctx->md, data.data(), data.size()) != 1) {
    throw Error(ErrorKind::software, "EVP_DigestUpdate failed");
  }
  return *this;
}

Sha256Digest Sha256::finish() {
  Sha256Digest out{};
  unsigned int len = 0;
  if (::EVP_DigestFinal_ex(m_ctx->md, out.data(), &len) != 1 || len != kSha256Bytes ||
      ::EVP_DigestInit_ex(m_ctx->md, sha256_md(), nullptr) != 1) {
    throw Error(ErrorKind::software, "EVP_DigestFinal_ex failed");
  }
  return out;
}

void ensure_sodium() {
  static const int rc = ::sodium_init();
  if (rc < 0) throw Error(ErrorKind::software, "sodium_init failed");
}

void random_fill(std::span<std::uint8_t> out) {
  ensure_sodium();
  ::randombytes_buf(out.data(), out.size());
}

bool equal_constant_time(ByteView a, ByteView b) noexcept {
  return a.size() == b.size() && ::sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

SecretBuffer::SecretBuffer(std::size_t capacity) : m_capacity(capacity) {
  ensure_sodium();
  m_data = static_cast<std::uint8_t*>(::sodium_malloc(capacity == 0 ? 1 : capacity));
  if (m_data == nullptr) throw Error(ErrorKind::software, "sodium_malloc failed");
  ::sodium_memzero(m_data, capacity == 0 ? 1 : capacity);
}

SecretBuffer::~SecretBuffer() noexcept {
  if (m_data != nullptr) ::sodium_free(m_data);  // sodium_free wipes before freeing
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : m_data(std::exchange(other.m_data, nullptr)),
      m_size(std::exchange(other.m_size, 0)),
      m_capacity(std::exchange(other.m_capacity, 0)) {}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    if (m_data != nullptr) ::sodium_free(m_data);
    m_data = std::exchange(other.m_data, nullptr);
    m_size = std::exchange(other.m_size, 0);
    m_capacity = std::exchange(other.m_capacity, 0);
  }
  return *this;
}

void SecretBuffer::resize(std::size_t size) {
  if (size > m_capacity) throw Error(ErrorKind::bad_data, "secret longer than its buffer");
  if (size < m_size) ::sodium_memzero(m_data + size, m_size - size);
  m_size = size;
}

void SecretBuffer::push_back(std::uint8_t byte) {
  if (m_size >= m_capacity) throw Error(ErrorKind::bad_data, "secret longer than its buffer");
  m_data[m_size++] = byte;
}

void SecretBuffer::trim_newline() noexcept {
  while (m_size > 0 && (m_data[m_size - 1] == '\n' || m_data[m_size - 1] == '\r')) {
    m_data[--m_size] = 0;
  }
}

void SecretBuffer::clear() noexcept {
  if (m_data != nullptr) ::sodium_memzero(m_data, m_capacity);
  m_size = 0;
}

}  // namespace signet
