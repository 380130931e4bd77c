// PKCS#11 through p11-kit: module loading (by path or by p11-kit module name),
// RFC 7512 URIs (p11-kit's parser and matchers), one login per token, key-pair
// generation inside the token, C_Sign, public key export as SPKI DER, and small
// data objects (CKO_DATA) kept in the token.
// Only hsm/ includes PKCS#11 headers; handles cross this boundary as integers.
//
// Set-up: Module::load calls C_Initialize once with CKF_OS_LOCKING_OK, so a Token
// may sign from several threads at once: each signing thread takes its own
// session from the token's pool (one operation per session at a time).
#pragma once

#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"
#include "signet/core/error.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace signet::hsm {

// A PKCS#11 failure: the operation and the CKR_ name ("C_Login: CKR_PIN_INCORRECT").
class HsmError : public Error {
 public:
  HsmError(ErrorKind kind, const std::string& message, unsigned long rv = 0) : Error(kind, message), m_rv(rv) {}
  [[nodiscard]] unsigned long rv() const noexcept { return m_rv; }
  // C_Login answered CKR_USER_PIN_NOT_INITIALIZED: no PIN was checked.
  [[nodiscard]] bool no_user_pin() const noexcept;
  // Token::open found no token the URI matches (CKR_TOKEN_NOT_PRESENT).
  [[nodiscard]] bool token_not_present() const noexcept;

 private:
  unsigned long m_rv;
};

// "CKR_PIN_INCORRECT" for 0xA0, "CKR_0x..." for values it does not know.
std::string ckr_name(unsigned long rv);

// An RFC 7512 PKCS#11 URI, parsed by p11_kit_uri_parse.
class Uri {
 public:
  // Throws HsmError(config) naming the URI and p11-kit's reason when malformed.
  static Uri parse(const std::string& text);
  ~Uri() noexcept;
  Uri(Uri&& other) noexcept;
  Uri& operator=(Uri&& other) noexcept;
  Uri(const Uri&) = delete;  // owns a P11KitUri
  Uri& operator=(const Uri&) = delete;

  [[nodiscard]] const std::string& text() const noexcept { return m_text; }
  // The object label (object=...), id (id=...) and class (type=private|public|...), when given.
  [[nodiscard]] std::optional<std::string> object_label() const;
  [[nodiscard]] std::optional<Bytes> object_id() const;
  [[nodiscard]] std::optional<unsigned long> object_class() const;
  // p11_kit_uri_match_token_info against a token's label, serial, model, manufacturer.
  [[nodiscard]] bool matches_token(const std::string& label, const std::string& manufacturer,
                                   const std::string& model, const std::string& serial) const;

 private:
  friend class Token;  // matches the module's and the slots' info (PKCS#11 types stay inside hsm/)
  Uri(void* uri, std::string text) : m_uri(uri), m_text(std::move(text)) {}
  void* m_uri = nullptr;  // P11KitUri*
  std::string m_text;
};

// A loaded and initialised PKCS#11 module; C_Finalize and unload on destruction.
class Module {
 public:
  // A path containing '/' is loaded as a file (p11_kit_module_load); any other
  // name is looked up among p11-kit's registered modules. Throws HsmError(unavailable)
  // naming the module when it cannot be loaded or initialised.
  static std::shared_ptr<Module> load(const std::string& path_or_name);
  ~Module() noexcept;
  Module(const Module&) = delete;  // owns the module's initialisation
  Module& operator=(const Module&) = delete;

  [[nodiscard]] void* functions() const noexcept { return m_functions; }  // CK_FUNCTION_LIST*
  [[nodiscard]] const std::string& name() const noexcept { return m_name; }

 private:
  Module(void* functions, std::string name) : m_functions(functions), m_name(std::move(name)) {}
  void* m_functions = nullptr;
  std::string m_name;
  bool m_finalize = true;
};

enum class KeyType { ed25519, rsa };

// What to generate: Ed25519, or RSA with rsa_bits (2048, 3072, 4096).
struct KeySpec {
  KeyType type = KeyType::ed25519;
  unsigned long rsa_bits = 0;
  std::string label;
  Bytes id;  // CKA_ID for both halves
};

// A key pair found in (or generated into) a token.
struct KeyPair {
  unsigned long private_handle = 0;
  unsigned long public_handle = 0;  // 0 when the token holds no public object
  KeyType type = KeyType::ed25519;
  unsigned long bits = 0;  // RSA modulus bits; 255 for Ed25519
  std::string label;
  Bytes id;
};

struct TokenInfo {
  std::string label, manufacturer, model, serial;
  unsigned long flags = 0;  // CK_TOKEN_INFO.flags (CKF_USER_PIN_COUNT_LOW ...)
  unsigned long slot = 0;
};

// The attributes the trust model requires of a private key, as the token reports them.
struct PrivateKeyAttributes {
  bool token = false, is_private = false, sensitive = false, extractable = true, sign = false;
  unsigned long value_rv = 0;  // what C_GetAttributeValue(CKA_VALUE) returned
};

// One token: a slot found by URI, a login shared by all its sessions, and a pool
// of sessions so that sign() is thread-safe.
class Token {
 public:
  // C_GetSlotList + C_GetTokenInfo, matched with the URI; HsmError(not_found)
  // naming the URI when no token (or more than one) matches.
  static std::shared_ptr<Token> open(std::shared_ptr<Module> module, const Uri& uri);
  ~Token() noexcept;
  Token(const Token&) = delete;  // owns sessions and the login
  Token& operator=(const Token&) = delete;

  [[nodiscard]] const TokenInfo& info() const noexcept { return m_info; }
  // C_GetTokenInfo again (flags change after failed logins).
  [[nodiscard]] TokenInfo refresh_info() const;
  // C_Login(CKU_USER). The PIN is wiped once the token has answered it; a
  // token that shows no user PIN (HsmError::no_user_pin) checked nothing, and
  // the PIN is kept for the caller to try again. A wrong PIN gives
  // HsmError(login_refused) naming the token; it is never retried.
  void login(SecretBuffer& pin);

  // C_GenerateKeyPair inside the token; HsmError(already_exists) if the label or
  // the CKA_ID is taken, HsmError(usage) for a label over 255 bytes or an empty id.
  KeyPair generate(const KeySpec& spec);
  // The key pair whose private key has this CKA_ID; HsmError(bad_data) when several have it.
  [[nodiscard]] std::optional<KeyPair> find_by_id(ByteView id) const;
  // The private keys matching an object URI (object=, id=).
  [[nodiscard]] std::vector<KeyPair> find(const Uri& object_uri) const;
  // SubjectPublicKeyInfo DER of the key pair's public half (built with OpenSSL).
  [[nodiscard]] Bytes public_key_der(const KeyPair& key) const;
  // Ed25519: CKM_EDDSA in one C_Sign. RSA: CKM_SHA512_RSA_PKCS, or CKM_RSA_PKCS
  // over a software DigestInfo(SHA-512) where the token lacks it. Thread-safe.
  [[nodiscard]] Bytes sign(const KeyPair& key, ByteView message) const;
  // Read back the private key's security attributes and the CKA_VALUE refusal.
  [[nodiscard]] PrivateKeyAttributes private_attributes(const KeyPair& key) const;
  // C_GetMechanismList contains the mechanism.
  [[nodiscard]] bool has_mechanism(unsigned long mechanism) const;
  // For tests: sign RSA through the CKM_RSA_PKCS + DigestInfo path even if the token has CKM_SHA512_RSA_PKCS.
  void force_rsa_digest_info(bool on) noexcept { m_force_digest_info = on; }
  // The URI of a key in this token ("pkcs11:token=...;object=...;id=...;type=private").
  [[nodiscard]] std::string key_uri(const KeyPair& key) const;
  // C_DestroyObject on both halves of a key pair (the private half first), e.g. a
  // pair just generated that could not be recorded. Needs the login.
  void destroy(const KeyPair& key);

  // Token data objects (CKO_DATA; CKA_TOKEN, CKA_PRIVATE and CKA_MODIFIABLE true),
  // found by CKA_APPLICATION and CKA_LABEL (objects.cpp). All need the login.
  // CKA_VALUE of every data object with this application and label
  // (C_FindObjects, C_GetAttributeValue); empty when there is none.
  [[nodiscard]] std::vector<Bytes> read_data(const std::string& application, const std::string& label) const;
  // Makes `value` the value of the one data object with this application and
  // label: C_SetAttributeValue(CKA_VALUE) on the existing object; where there is
  // none, several, or the token refuses to change CKA_VALUE (SoftHSM2 2.6:
  // CKR_ATTRIBUTE_READ_ONLY), C_CreateObject a new one first and then
  // C_DestroyObject the others, so that an interruption leaves both, never none.
  void write_data(const std::string& application, const std::string& label, ByteView value);

 private:
  class SessionLease;
  friend class SessionLease;
  Token(std::shared_ptr<Module> module, TokenInfo info);
  unsigned long acquire_session() const;
  void release_session(unsigned long session) const noexcept;
  void discard_session(unsigned long session) const noexcept;

  std::shared_ptr<Module> m_module;
  TokenInfo m_info;
  unsigned long m_main_session = 0;  // keeps the login alive
  bool m_logged_in = false;          // this Token's C_Login succeeded: it logs out
  mutable std::mutex m_mutex;
  mutable std::vector<unsigned long> m_idle;
  std::vector<unsigned long> m_mechanisms;
  bool m_force_digest_info = false;
};

}  // namespace signet::hsm
