#include "events.hpp"

#include "signet/core/time.hpp"

namespace signet::cli {

void Events::key_generated(const keystore::KeyRecord& record, const std::shared_ptr<keystore::SigningKey>& key) {
  audit::Log log(m_app.db);
  const auto checkpoint_key = m_app.audit_key(key);
  auto options = m_app.append_options(checkpoint_key.get());
  options.precheck = [&](Database&) { m_app.registry.add(record); };
  audit::NewEntry entry{.kind = "key_generated",
                        .order_id = std::nullopt,
                        .license_id = std::nullopt,
                        .key_id = record.key_id,
                        .record = Json{{"algorithm", std::string(keystore::to_string(record.algorithm))},
                                       {"label", record.label},
                                       {"token_uri", record.token_uri},
                                       {"hsm_id", record.hsm_id},
                                       {"public_key", key->public_key().pem()}},
                        .record_text = {}};
  log.append({entry}, options);
}

void Events::key_retired(const keystore::KeyRecord& record) {
  audit::Log log(m_app.db);
  // A retired key signs nothing after its key_retired entry, not even the
  // checkpoint that closes it: another active key signs that one.
  const auto signer = m_app.checkpoint_key(record.key_id);
  auto options = m_app.append_options(signer.get());
  options.precheck = [&](Database&) { m_app.registry.retire(record.key_id); };
  audit::NewEntry entry{.kind = "key_retired",
                        .order_id = std::nullopt,
                        .license_id = std::nullopt,
                        .key_id = record.key_id,
                        .record = Json{{"label", record.label}, {"algorithm", std::string(keystore::to_string(record.algorithm))}},
                        .record_text = {}};
  log.append({entry}, options);
}

keystore::DeskKey Events::desk_trusted(const keystore::PublicKey& key, const std::string& label) {
  if (key.algorithm() != keystore::Algorithm::ed25519)
    throw keystore::KeyError(ErrorKind::bad_data, "order-desk keys must be Ed25519");
  audit::Log log(m_app.db);
  const auto signer = m_app.checkpoint_key();
  keystore::DeskKey desk;
  auto options = m_app.append_options(signer.get());
  options.precheck = [&](Database&) { desk = m_app.registry.trust_desk(key, label); };
  audit::NewEntry entry{.kind = "desk_key_trusted",
                        .order_id = std::nullopt,
                        .license_id = std::nullopt,
                        .key_id = key.key_id(),
                        .record = Json{{"label", label}, {"public_key", key.pem()}},
                        .record_text = {}};
  log.append({entry}, options);
  return desk;
}

}  // namespace signet::cli
