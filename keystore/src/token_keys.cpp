#include "signet/keystore/token.hpp"

#include "signet/hsm/hsm.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

namespace signet::keystore {

namespace {

// CKA_APPLICATION of the data objects Signet keeps in the token.
constexpr std::string_view kApplication = "signet";

// A registered key signing through the token; thread-safe (Token::sign takes a pooled session).
class HsmSigningKey final : public SigningKey {
 public:
  HsmSigningKey(std::shared_ptr<hsm::Token> token, hsm::KeyPair pair, PublicKey public_key)
      : m_token(std::move(token)), m_pair(std::move(pair)), m_public(std::move(public_key)) {}

  Bytes sign(ByteView message) override { return m_token->sign(m_pair, message); }
  [[nodiscard]] const PublicKey& public_key() const noexcept override { return m_public; }

 private:
  std::shared_ptr<hsm::Token> m_token;
  hsm::KeyPair m_pair;
  PublicKey m_public;
};

hsm::KeySpec spec_for(Algorithm algorithm, const std::string& label, Bytes id) {
  switch (algorithm) {
    case Algorithm::ed25519: return {.type = hsm::KeyType::ed25519, .rsa_bits = 0, .label = label, .id = std::move(id)};
    case Algorithm::rsa2048: return {.type = hsm::KeyType::rsa, .rsa_bits = 2048, .label = label, .id = std::move(id)};
    case Algorithm::rsa3072: return {.type = hsm::KeyType::rsa, .rsa_bits = 3072, .label = label, .id = std::move(id)};
    case Algorithm::rsa4096: return {.type = hsm::KeyType::rsa, .rsa_bits = 4096, .label = label, .id = std::move(id)};
  }
  throw KeyError(ErrorKind::software, "unknown key algorithm");
}

}  // namespace

struct TokenKeys::Impl {
  std::shared_ptr<hsm::Module> module;
  std::shared_ptr<hsm::Token> token;
  std::string token_uri;  // as configured, for messages
  std::mutex mutex;
  std::map<std::string, PublicKey> in_token;  // key id -> public key, as read from the token
};

TokenKeys::TokenKeys(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
TokenKeys::~TokenKeys() noexcept = default;
TokenKeys::TokenKeys(TokenKeys&&) noexcept = default;
TokenKeys& TokenKeys::operator=(TokenKeys&&) noexcept = default;

TokenKeys TokenKeys::open(const TokenConfig& config, SecretBuffer pin) {
  const auto uri = hsm::Uri::parse(config.token_uri);
  // SoftHSM2 reads its tokens once, at C_Initialize, and another process's
  // login rewrites the token's file in place: read meanwhile, the token is
  // absent, or shows no user PIN, until the module is initialised again. No PIN
  // was checked then (no failed attempt counts), so the module is finalised and
  // loaded again, which reads the files anew, for about 2.5 s in all. A wrong
  // PIN is never tried twice.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(25 * attempt, 200)));
    auto impl = std::make_unique<Impl>();
    try {
      impl->module = hsm::Module::load(config.module);
      impl->token = hsm::Token::open(impl->module, uri);
      impl->token_uri = config.token_uri;
      impl->token->login(pin);
    } catch (const hsm::HsmError& e) {
      if (!(e.no_user_pin() || e.token_not_present()) || std::chrono::steady_clock::now() >= deadline) throw;
      continue;  // impl goes first: the token's sessions, then the module (C_Finalize)
    }
    return TokenKeys(std::move(impl));
  }
}

std::string TokenKeys::token_label() const { return m_impl->token->info().label; }

KeyRecord TokenKeys::generate(Algorithm algorithm, const std::string& label) {
  if (label.empty() || label.size() > 64)
    throw KeyError(ErrorKind::usage, "key label: must be 1 to 64 characters");
  std::array<std::uint8_t, 16> id{};
  random_fill(id);
  const auto pair = m_impl->token->generate(spec_for(algorithm, label, Bytes(id.begin(), id.end())));
  const auto spki = m_impl->token->public_key_der(pair);
  const auto parsed = PublicKey::from_der(spki);
  if (parsed.algorithm() != algorithm)
    throw KeyError(ErrorKind::software, "token generated a " + std::string(to_string(parsed.algorithm())) +
                                            " key where " + std::string(to_string(algorithm)) + " was asked");
  return KeyRecord{.key_id = parsed.key_id(),
                   .algorithm = algorithm,
                   .token_uri = m_impl->token->key_uri(pair),
                   .label = label,
                   .hsm_id = to_hex(pair.id),
                   .created_at = now_utc(),
                   .state = KeyState::active,
                   .spki_der = spki};
}

std::shared_ptr<SigningKey> TokenKeys::signing_key(const KeyRecord& key) {
  const auto id = from_hex(key.hsm_id);
  if (!id) throw KeyError(ErrorKind::bad_data, "key " + key.key_id + ": registry CKA_ID is not hex");
  auto pair = m_impl->token->find_by_id(*id);
  if (!pair) throw KeyError(ErrorKind::not_found, "key " + key.key_id + " not found in the token: " + key.token_uri);
  auto registered = PublicKey::from_der(key.spki_der);
  const auto in_token = m_impl->token->public_key_der(*pair);
  if (in_token != key.spki_der)
    throw KeyError(ErrorKind::unavailable, "key " + key.key_id + ": the token's key at " + key.token_uri +
                                               " is not the registered public key");
  return std::make_shared<HsmSigningKey>(m_impl->token, std::move(*pair), std::move(registered));
}

std::optional<PublicKey> TokenKeys::public_key_in_token(const std::string& key_id) {
  const std::lock_guard lock(m_impl->mutex);
  if (const auto it = m_impl->in_token.find(key_id); it != m_impl->in_token.end()) return it->second;
  // Not seen yet: read every key pair's public half again (a key may be new).
  const auto pairs = m_impl->token->find(hsm::Uri::parse("pkcs11:type=private"));
  for (const auto& pair : pairs) {
    if (pair.public_handle == 0) continue;
    auto key = PublicKey::from_der(m_impl->token->public_key_der(pair));
    m_impl->in_token.insert_or_assign(key.key_id(), key);
  }
  if (const auto it = m_impl->in_token.find(key_id); it != m_impl->in_token.end()) return it->second;
  // A token that shows no key pair at all is not one that holds other keys: it
  // went away or was emptied while signet ran (SoftHSM2 answers C_FindObjects
  // with nothing once its token folder is gone). "Not in the HSM" would then
  // wrongly say the log was signed by a stranger.
  if (pairs.empty())
    throw KeyError(ErrorKind::unavailable, "the token " + m_impl->token_uri +
                                               " shows no key pair at all: it was taken away or emptied "
                                               "while signet ran, or is not the appliance's token");
  return std::nullopt;
}

void TokenKeys::destroy(const KeyRecord& key) {
  const auto id = from_hex(key.hsm_id);
  if (!id) throw KeyError(ErrorKind::bad_data, "key " + key.key_id + ": CKA_ID is not hex");
  const auto pair = m_impl->token->find_by_id(*id);
  if (!pair) throw KeyError(ErrorKind::not_found, "key " + key.key_id + " not found in the token: " + key.token_uri);
  if (m_impl->token->public_key_der(*pair) != key.spki_der)
    throw KeyError(ErrorKind::unavailable, "key " + key.key_id + ": the token's key at " + key.token_uri +
                                               " is not this key; not destroyed");
  m_impl->token->destroy(*pair);
  const std::lock_guard lock(m_impl->mutex);
  m_impl->in_token.erase(key.key_id);
}

std::vector<Bytes> TokenKeys::read_objects(const std::string& label) {
  return m_impl->token->read_data(std::string(kApplication), label);
}

void TokenKeys::write_object(const std::string& label, ByteView value) {
  m_impl->token->write_data(std::string(kApplication), label, value);
}

}  // namespace signet::keystore
