// What the write commands trust, and why: the key registry tables (`keys`,
// `desk_keys`) are bookkeeping outside the hash chain, so every trust decision
// is taken from what the audit log and the HSM vouch for, and the tables must
// agree with them. The log's head is anchored in the token (a CKO_DATA object
// per log id) so that a log cut back to an older checkpoint is refused.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "signet/audit/trust.hpp"
#include "signet/core/sqlite.hpp"
#include "signet/keystore/registry.hpp"
#include "signet/keystore/token.hpp"

namespace signet::cli {

// The label of a log's head anchor in the token.
std::string anchor_label(const std::string& log_id);

// The audit log's head in a token data object labelled anchor_label(log_id),
// CKA_APPLICATION "signet", value the canonical JSON {"log_id","root_hash","tree_size"}.
class TokenAnchor final : public audit::HeadAnchor {
 public:
  // `token` gives the logged-in token when first needed.
  explicit TokenAnchor(std::function<keystore::TokenKeys&()> token) : m_token(std::move(token)) {}
  // Error(bad_data) naming the object when its value is not such a head.
  [[nodiscard]] std::optional<audit::LogHead> load(const std::string& log_id) override;
  void store(const audit::LogHead& head) override;

 private:
  std::function<keystore::TokenKeys&()> m_token;
};

// A registered key as the log announces it: its key_generated entry has the
// registry's public key. KeyError(bad_data, 65) naming the key otherwise.
audit::KeyHistory announced_key(Database& db, const keystore::KeyRecord& record);

// A registered key checked against the log: its key_generated entry announces
// the same public key and it has no key_retired entry. KeyError(bad_data, 65)
// naming the key when the registry disagrees with the log (the table was changed
// outside signet), KeyError(config, 78) when it is retired.
keystore::KeyRecord vouched_key(Database& db, const keystore::KeyRecord& record);

// The trusted order-desk keys: exactly those with a desk_key_trusted entry in the
// log. KeyError(bad_data, 65) naming the key id when the desk_keys table differs.
std::vector<keystore::PublicKey> vouched_desk_keys(Database& db, const keystore::KeyRegistry& registry);

// A writer refuses a database that group or others may write (Error(config), with
// the chmod to run) and warns when they may read it; the -wal and -shm files too.
void check_permissions(const std::filesystem::path& database);

}  // namespace signet::cli
