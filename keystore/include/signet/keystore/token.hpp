// The appliance's keys in its token: opening the configured token and logging in
// once, generating key pairs inside it, and signing with a registered key through
// C_Sign, and the data objects Signet keeps there. This is the only keystore file
// that talks to hsm/. Thread-safety: a TokenKeys and the SigningKeys it hands out
// may sign from several threads at once (one PKCS#11 session per thread), and
// public_key_in_token/read_objects/write_object may be called from any thread;
// generate() and destroy() are for one thread.
#pragma once

#include "signet/core/crypto.hpp"
#include "signet/keystore/keys.hpp"
#include "signet/keystore/registry.hpp"

#include <memory>
#include <optional>
#include <string>

namespace signet::keystore {

struct TokenConfig {
  std::string module;     // PKCS#11 module file path or p11-kit module name
  std::string token_uri;  // RFC 7512 URI selecting the token
};

class TokenKeys {
 public:
  // Loads the module, finds the token named by the URI (Error(not_found) naming
  // the URI when absent) and logs in as the user with the PIN, which is wiped
  // afterwards (Error(login_refused) on a wrong PIN; never retried).
  static TokenKeys open(const TokenConfig& config, SecretBuffer pin);

  ~TokenKeys() noexcept;
  TokenKeys(TokenKeys&&) noexcept;
  TokenKeys& operator=(TokenKeys&&) noexcept;
  TokenKeys(const TokenKeys&) = delete;  // owns the module and the login
  TokenKeys& operator=(const TokenKeys&) = delete;

  // The token's label, for messages.
  [[nodiscard]] std::string token_label() const;

  // Generates a key pair inside the token (private: token, private, sensitive,
  // sign, not extractable; label and a random CKA_ID on both halves) and returns
  // its registry record (not yet registered). Error(already_exists) if the label
  // is taken in the token.
  KeyRecord generate(Algorithm algorithm, const std::string& label);

  // A signer for a registered key: finds its private key in the token by CKA_ID
  // and checks that the token's public key is the registered one.
  // Error(not_found) naming the key's URI when the token no longer has it.
  std::shared_ptr<SigningKey> signing_key(const KeyRecord& key);

  // The public key of the token's key pair whose key id (SHA-256 of its SPKI DER,
  // read from the token itself) is `key_id`; nullopt when the token holds other
  // key pairs but not that one, Error(unavailable) when it shows none at all (it
  // was taken away or emptied). Independent of the registry table. Thread-safe
  // (keeps what it found).
  [[nodiscard]] std::optional<PublicKey> public_key_in_token(const std::string& key_id);
  // Destroys a key pair that generate() made (C_DestroyObject on both halves),
  // e.g. when it could not be registered and logged. Error(not_found) when gone.
  void destroy(const KeyRecord& key);

  // Small data objects Signet keeps in the token (CKO_DATA, private, modifiable,
  // CKA_APPLICATION "signet"), by label: the values of the objects with that
  // label (none; one; two when a replacement was interrupted).
  [[nodiscard]] std::vector<Bytes> read_objects(const std::string& label);
  // Makes `value` the value of the one object with that label (hsm::Token::write_data).
  void write_object(const std::string& label, ByteView value);

 private:
  struct Impl;
  explicit TokenKeys(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace signet::keystore
