// The appliance's key registry, a table in its SQLite file (created by `signet
// init`): which token keys Signet signs with, and the order-desk keys trusted to
// sign manifests. The registry is bookkeeping outside the log's hash chain; the
// audit log is the record of key events (the CLI logs key_generated / key_retired
// / desk_key_trusted itself), and writers take trust decisions from the log and
// the token, refusing a registry that disagrees (signer/src/cli/trust.hpp).
// Not thread-safe: use from the thread that owns the Database.
#pragma once

#include "signet/core/sqlite.hpp"
#include "signet/core/time.hpp"
#include "signet/keystore/keys.hpp"

#include <optional>
#include <string>
#include <vector>

namespace signet::keystore {

enum class KeyState { active, retired };
std::string_view to_string(KeyState state) noexcept;

struct KeyRecord {
  std::string key_id;     // hex SHA-256 of the SPKI DER
  Algorithm algorithm = Algorithm::ed25519;
  std::string token_uri;  // RFC 7512 URI of the private key (token + object + id)
  std::string label;      // CKA_LABEL of both halves
  std::string hsm_id;     // CKA_ID, hex
  TimePoint created_at;
  KeyState state = KeyState::active;
  Bytes spki_der;         // the public key, SubjectPublicKeyInfo DER
};

struct DeskKey {
  std::string key_id;
  std::string label;
  Bytes spki_der;  // Ed25519 SPKI DER
  TimePoint added_at;
};

class KeyRegistry {
 public:
  // Creates the registry's tables if absent (inside the caller's transaction, if any).
  static void create_schema(Database& db);

  explicit KeyRegistry(Database& db) : m_db(db) {}

  // Adds a key; throws KeyError(already_exists) when its key id is registered.
  void add(const KeyRecord& key);
  // Finds by full key id or by a unique prefix of at least 8 hex digits;
  // throws KeyError(not_found) naming the id when none (or several) match.
  [[nodiscard]] KeyRecord get(std::string_view key_id_or_prefix) const;
  [[nodiscard]] std::optional<KeyRecord> find(std::string_view key_id) const;
  [[nodiscard]] std::vector<KeyRecord> list() const;
  // Marks a key retired; throws KeyError(not_found) or, when already retired, KeyError(bad_data).
  KeyRecord retire(std::string_view key_id_or_prefix);

  // Trusts an Ed25519 order-desk key for manifest signatures (already_exists if present).
  DeskKey trust_desk(const PublicKey& key, std::string_view label);
  [[nodiscard]] std::vector<DeskKey> desk_keys() const;

 private:
  Database& m_db;
};

}  // namespace signet::keystore
