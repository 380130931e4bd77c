// Public keys, software verification and the signing-key interface. A PublicKey
// is parsed from SubjectPublicKeyInfo (DER or PEM) with OpenSSL; verification uses
// libsodium for Ed25519 and OpenSSL for RSA (PKCS#1 v1.5 with SHA-512, the only
// RSA scheme Signet signs with). Key id = lowercase hex SHA-256 of the SPKI DER.
#pragma once

#include "signet/core/bytes.hpp"
#include "signet/core/error.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct evp_pkey_st;

namespace signet::keystore {

// A key error: unknown key (not_found), a retired key, an unreadable key file.
class KeyError : public Error {
 public:
  using Error::Error;
};

enum class Algorithm { ed25519, rsa2048, rsa3072, rsa4096 };

// "ed25519", "rsa2048", ...
std::string_view to_string(Algorithm alg) noexcept;
std::optional<Algorithm> parse_algorithm(std::string_view text) noexcept;
[[nodiscard]] inline bool is_rsa(Algorithm alg) noexcept { return alg != Algorithm::ed25519; }

inline constexpr std::size_t kEd25519PublicKeyBytes = 32;
inline constexpr std::size_t kEd25519SignatureBytes = 64;

class PublicKey {
 public:
  // Parses SPKI DER; throws KeyError(bad_data) for anything but Ed25519 or RSA 2048/3072/4096.
  static PublicKey from_der(ByteView spki_der);
  // Parses a "BEGIN PUBLIC KEY" PEM.
  static PublicKey from_pem(std::string_view pem);
  // Reads a PEM or DER file; throws KeyError(no_input) naming the file when unreadable.
  static PublicKey from_file(const std::filesystem::path& path);

  [[nodiscard]] Algorithm algorithm() const noexcept { return m_alg; }
  [[nodiscard]] const Bytes& der() const noexcept { return m_der; }
  [[nodiscard]] std::string pem() const;
  // Lowercase hex SHA-256 of the SPKI DER.
  [[nodiscard]] const std::string& key_id() const noexcept { return m_key_id; }
  // Ed25519 only: the 32-byte public key.
  [[nodiscard]] const Bytes& raw_ed25519() const noexcept { return m_raw; }

  // Ed25519 (crypto_sign_verify_detached) or RSASSA-PKCS1-v1_5 SHA-512 (OpenSSL).
  [[nodiscard]] bool verify(ByteView message, ByteView signature) const;

 private:
  Algorithm m_alg = Algorithm::ed25519;
  Bytes m_der;
  Bytes m_raw;
  std::string m_key_id;
  std::shared_ptr<evp_pkey_st> m_pkey;  // parsed once, shared by copies (read-only use)
};

// A key that signs. Ed25519 keys sign the message itself (PureEdDSA); RSA keys
// make RSASSA-PKCS1-v1_5 signatures with SHA-512 over the message. sign() is
// thread-safe for the HSM-backed implementation (one session per thread).
class SigningKey {
 public:
  virtual ~SigningKey() = default;
  virtual Bytes sign(ByteView message) = 0;
  [[nodiscard]] virtual const PublicKey& public_key() const noexcept = 0;
  [[nodiscard]] const std::string& key_id() const noexcept { return public_key().key_id(); }
  [[nodiscard]] Algorithm algorithm() const noexcept { return public_key().algorithm(); }
};

}  // namespace signet::keystore
