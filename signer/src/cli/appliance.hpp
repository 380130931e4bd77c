// What the write commands share: the configuration, the appliance database (key
// registry + audit log), the token logged in once, and the choice of keys.
#pragma once

#include "cli.hpp"
#include "trust.hpp"

#include "signet/audit/log.hpp"
#include "signet/core/sqlite.hpp"
#include "signet/keystore/registry.hpp"
#include "signet/keystore/token.hpp"

#include <memory>
#include <optional>
#include <string>

namespace signet::cli {

// Reads the PIN from the configured source into a locked buffer. Core dumps are
// disabled first (RLIMIT_CORE 0, PR_SET_DUMPABLE 0) for the rest of the process.
SecretBuffer read_pin(const PinSourceSpec& source);

// The name recorded as `actor` in the log: the config's signing.actor, else the login name.
std::string actor_name(const Config& config);

struct Appliance {
  Config config;
  Database db;
  keystore::KeyRegistry registry;

  // Opens the configured database read-write: Error(config) if it does not exist
  // or group or others may write it (check_permissions).
  explicit Appliance(Config c);
  Appliance(const Appliance&) = delete;  // the registry refers to db
  Appliance& operator=(const Appliance&) = delete;

  // Logs in to the token (reads the PIN once); later calls reuse the login.
  keystore::TokenKeys& token();
  // An active registered key by id or prefix, as the log vouches for it
  // (vouched_key): Error(not_found), KeyError(bad_data) when the registry and the
  // log disagree, KeyError(config) when retired.
  keystore::KeyRecord active_key(std::string_view key_id_or_prefix);
  // The key that signs checkpoints: signing.audit_key, else `fallback`.
  std::shared_ptr<keystore::SigningKey> audit_key(const std::shared_ptr<keystore::SigningKey>& fallback);
  // The key that signs a checkpoint when no other key is at hand: signing.audit_key,
  // else signing.key, else the newest active key, leaving out the key `except`;
  // Error(config) when there is none.
  std::shared_ptr<keystore::SigningKey> checkpoint_key(std::string_view except = {});
  // Append options: this actor, the configured clock margin, a checkpoint signed
  // by `checkpoint_key`, and the token's keys and head anchor to check the log's head.
  [[nodiscard]] audit::AppendOptions append_options(keystore::SigningKey* checkpoint_key);

 private:
  std::optional<keystore::TokenKeys> m_token;
  TokenAnchor m_anchor{[this]() -> keystore::TokenKeys& { return token(); }};
};

}  // namespace signet::cli
