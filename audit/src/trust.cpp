#include "signet/audit/trust.hpp"

#include "signet/audit/log.hpp"

namespace signet::audit {

namespace {

std::optional<std::string> public_key_of(const Entry& e) {
  const auto record = Json::parse(e.record, nullptr, false);
  if (!record.is_object()) return std::nullopt;
  const auto it = record.find("public_key");
  if (it == record.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

KeyHistory key_history(Database& db, const std::string& key_id) {
  KeyHistory h;
  read_entries(db,
               [&](const Entry& e) {
                 if (e.kind == "key_generated" && !h.generated_seq) {
                   h.generated_seq = e.seq;
                   h.public_key_pem = public_key_of(e).value_or("");
                 } else if (e.kind == "key_retired" && !h.retired_seq) {
                   h.retired_seq = e.seq;
                 }
               },
               "kind IN ('key_generated', 'key_retired') AND key_id = ?", {key_id});
  return h;
}

std::vector<keystore::PublicKey> logged_keys(Database& db) {
  std::vector<keystore::PublicKey> out;
  read_entries(
      db,
      [&](const Entry& e) {
        const auto pem = public_key_of(e);
        if (!pem || !e.key_id) return;
        try {
          auto key = keystore::PublicKey::from_pem(*pem);
          if (key.key_id() == *e.key_id) out.push_back(std::move(key));
        } catch (const Error&) {
          // An unreadable announcement announces nothing.
        }
      },
      "kind = 'key_generated'");
  return out;
}

std::map<std::string, keystore::PublicKey> logged_desk_keys(Database& db) {
  std::map<std::string, keystore::PublicKey> out;
  read_entries(
      db,
      [&](const Entry& e) {
        const auto where =
            db.path().string() + ": audit entry " + std::to_string(e.seq) + " (desk_key_trusted)";
        const auto pem = public_key_of(e);
        if (!pem || !e.key_id)
          throw AuditError(ErrorKind::bad_data, where + ": no key_id or record.public_key");
        std::optional<keystore::PublicKey> key;
        try {
          key = keystore::PublicKey::from_pem(*pem);
        } catch (const Error& err) {
          throw AuditError(ErrorKind::bad_data, where + ": record.public_key: " + err.what());
        }
        if (key->key_id() != *e.key_id)
          throw AuditError(ErrorKind::bad_data, where + ": record.public_key is not key " + *e.key_id);
        out.emplace(key->key_id(), std::move(*key));
      },
      "kind = 'desk_key_trusted'");
  return out;
}

}  // namespace signet::audit
