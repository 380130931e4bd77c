#include "appliance.hpp"

#include "signet/hsm/pin.hpp"
#include "signet/signer/text.hpp"

#include <cstdlib>
#include <cstring>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace signet::cli {

namespace {

// A process holding a PIN must not leave it in a core file or let another
// process of the same user read its memory through /proc.
void disable_core_dumps() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0 || ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    throw Error(ErrorKind::software, "cannot disable core dumps before reading the PIN");
  }
}

}  // namespace

SecretBuffer read_pin(const PinSourceSpec& source) {
  disable_core_dumps();
  switch (source.kind) {
    case PinSourceSpec::Kind::prompt: return hsm::read_pin(hsm::PinSource::prompt());
    case PinSourceSpec::Kind::fd: return hsm::read_pin(hsm::PinSource::from_fd(std::stoi(source.value)));
    case PinSourceSpec::Kind::file: return hsm::read_pin(hsm::PinSource::from_file(source.value));
    case PinSourceSpec::Kind::env: return hsm::read_pin(hsm::PinSource::from_env(source.value));
  }
  throw Error(ErrorKind::software, "unknown PIN source");
}

std::string actor_name(const Config& config) {
  if (!config.actor.empty()) {
    if (const auto rule = text_rule_broken(config.actor, false); !rule.empty())
      throw Error(ErrorKind::config, config.file.string() + ": signing.actor: " + rule);
    return config.actor;
  }
  // Not getpwuid(): an NSS lookup may talk to nscd or LDAP over a socket, and
  // nothing in Signet opens one. A name with control characters is not logged.
  for (const char* var : {"LOGNAME", "USER"}) {
    if (const char* v = std::getenv(var);
        v != nullptr && *v != '\0' && std::strlen(v) <= 64 && text_rule_broken(v, false).empty())
      return v;
  }
  return "uid " + std::to_string(::geteuid());
}

Appliance::Appliance(Config c)
    : config(std::move(c)),
      db([this] {
        std::error_code ec;
        const auto type = std::filesystem::status(config.database, ec).type();
        if (type == std::filesystem::file_type::not_found) {
          throw Error(ErrorKind::config, config.file.string() + ": database.path: " + config.database.string() +
                                             " does not exist (run `signet init`)");
        }
        // SQLite would wait forever on a FIFO and fail obscurely on a folder.
        if (type != std::filesystem::file_type::regular) {
          throw Error(ErrorKind::config, config.file.string() + ": database.path: " + config.database.string() +
                                             (ec ? ": " + ec.message() : std::string(" is not a regular file")));
        }
        check_permissions(config.database);
        return Database::open(config.database, Database::Mode::read_write);
      }()),
      registry(db) {}

keystore::TokenKeys& Appliance::token() {
  if (!m_token) {
    m_token.emplace(keystore::TokenKeys::open({config.module, config.token_uri}, read_pin(config.pin)));
  }
  return *m_token;
}

keystore::KeyRecord Appliance::active_key(std::string_view key_id_or_prefix) {
  return vouched_key(db, registry.get(key_id_or_prefix));
}

std::shared_ptr<keystore::SigningKey> Appliance::audit_key(const std::shared_ptr<keystore::SigningKey>& fallback) {
  if (config.audit_key.empty()) {
    if (!fallback) throw Error(ErrorKind::config, config.file.string() + ": signing.audit_key: no key to sign checkpoints");
    return fallback;
  }
  const auto record = active_key(config.audit_key);
  if (fallback && fallback->key_id() == record.key_id) return fallback;
  return token().signing_key(record);
}

std::shared_ptr<keystore::SigningKey> Appliance::checkpoint_key(std::string_view except) {
  for (const auto& configured : {config.audit_key, config.signing_key}) {
    if (configured.empty()) continue;
    const auto record = registry.get(configured);
    if (record.key_id != except) return token().signing_key(active_key(record.key_id));
  }
  std::optional<keystore::KeyRecord> newest;
  for (auto& k : registry.list())
    if (k.state == keystore::KeyState::active && k.key_id != except && (!newest || k.created_at >= newest->created_at))
      newest = k;
  if (!newest) {
    if (!except.empty())
      throw Error(ErrorKind::config, "key " + std::string(except) +
                                         " is the last active key: a retired key signs nothing after its key_retired "
                                         "entry, not even the checkpoint that closes it; generate its successor first "
                                         "(signet key generate), then retire it");
    throw Error(ErrorKind::config, "no active key to sign the checkpoint (signet key generate)");
  }
  return token().signing_key(active_key(newest->key_id));
}

audit::AppendOptions Appliance::append_options(keystore::SigningKey* checkpoint_key) {
  audit::AppendOptions o;
  o.actor = actor_name(config);
  o.checkpoint_key = checkpoint_key;
  o.clock_margin = config.policy.clock_margin;
  o.trust.hsm_key = [this](const std::string& key_id) { return token().public_key_in_token(key_id); };
  o.trust.anchor = &m_anchor;
  return o;
}

}  // namespace signet::cli
