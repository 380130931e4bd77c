#include "trust.hpp"

#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <iostream>
#include <utility>
#include <vector>

#include "signet/core/json.hpp"

namespace signet::cli {

namespace {

std::string octal_mode(mode_t mode) {
  std::array<char, 8> buf{};
  (void)std::snprintf(buf.data(), buf.size(), "%04o", static_cast<unsigned>(mode & 07777U));
  return buf.data();
}

}  // namespace

std::string anchor_label(const std::string& log_id) {
  return "signet-audit-head:" + log_id;
}

std::optional<audit::LogHead> TokenAnchor::load(const std::string& log_id) {
  const auto label = anchor_label(log_id);
  const auto bad = [&](const std::string& why) {
    return Error(ErrorKind::bad_data,
                 "the token's data object '" + label + "' is not a Signet audit head: " + why);
  };
  std::optional<audit::LogHead> furthest;
  // Two objects remain when a replacement was interrupted: the furthest head counts.
  for (const auto& value : m_token().read_objects(label)) {
    std::string why;
    const auto j =
        parse_strict_json(std::string_view(reinterpret_cast<const char*>(value.data()), value.size()), why);
    if (!j || !j->is_object()) throw bad(why.empty() ? "not a JSON object" : why);
    const auto size = j->contains("tree_size") ? json_uint(j->at("tree_size")) : std::nullopt;
    if (!size || !j->contains("log_id") || !j->at("log_id").is_string() || !j->contains("root_hash") ||
        !j->at("root_hash").is_string())
      throw bad("needs log_id, root_hash (strings) and tree_size (an unsigned integer)");
    audit::LogHead head{.log_id = j->at("log_id").get<std::string>(),
                        .tree_size = *size,
                        .root_hash = j->at("root_hash").get<std::string>()};
    if (head.log_id != log_id) throw bad("it names log " + head.log_id);
    if (furthest && furthest->tree_size == head.tree_size && furthest->root_hash != head.root_hash)
      throw bad("two heads of tree size " + std::to_string(head.tree_size) + " with different roots");
    if (!furthest || head.tree_size > furthest->tree_size) furthest = std::move(head);
  }
  return furthest;
}

void TokenAnchor::store(const audit::LogHead& head) {
  const auto text = canonical_json(
      Json{{"log_id", head.log_id}, {"tree_size", head.tree_size}, {"root_hash", head.root_hash}});
  m_token().write_object(anchor_label(head.log_id), as_bytes(text));
}

namespace {

constexpr std::string_view kKeysOutside =
    " (the keys table was changed outside signet; the log and the HSM decide what signs)";

}  // namespace

audit::KeyHistory announced_key(Database& db, const keystore::KeyRecord& record) {
  const auto& id = record.key_id;
  auto history = audit::key_history(db, id);
  const std::string outside(kKeysOutside);
  if (!history.generated_seq)
    throw keystore::KeyError(
        ErrorKind::bad_data,
        "key " + id + " is in the key registry but the audit log has no key_generated entry for it" +
            outside);
  std::optional<keystore::PublicKey> announced;
  try {
    announced = keystore::PublicKey::from_pem(history.public_key_pem);
  } catch (const Error&) {
    announced.reset();
  }
  if (!announced || announced->der() != record.spki_der)
    throw keystore::KeyError(ErrorKind::bad_data,
                             "key " + id +
                                 ": the registry's public key is not the one its key_generated entry (seq " +
                                 std::to_string(*history.generated_seq) + ") announces" + outside);
  // The algorithm decides the encoding and the signing mechanism: the table's
  // column must be the announced key's own.
  if (announced->algorithm() != record.algorithm)
    throw keystore::KeyError(ErrorKind::bad_data,
                             "key " + id + ": the key registry says " + std::string(keystore::to_string(record.algorithm)) +
                                 " but the key its key_generated entry (seq " + std::to_string(*history.generated_seq) +
                                 ") announces is " + std::string(keystore::to_string(announced->algorithm())) + outside);
  return history;
}

keystore::KeyRecord vouched_key(Database& db, const keystore::KeyRecord& record) {
  const auto& id = record.key_id;
  const auto history = announced_key(db, record);
  const std::string outside(kKeysOutside);
  if (history.retired_seq && record.state == keystore::KeyState::active)
    throw keystore::KeyError(ErrorKind::bad_data,
                             "key " + id +
                                 " is active in the key registry but the audit log retired it (seq " +
                                 std::to_string(*history.retired_seq) + ")" + outside);
  if (!history.retired_seq && record.state == keystore::KeyState::retired)
    throw keystore::KeyError(ErrorKind::bad_data,
                             "key " + id + " is retired in the key registry but the audit log never retired it "
                                           "(no key_retired entry)" + outside);
  if (history.retired_seq || record.state == keystore::KeyState::retired)
    throw keystore::KeyError(
        ErrorKind::config,
        "key " + id + " (" + record.label + ") is retired: it signs nothing more (see `signet key list`)");
  return record;
}

std::vector<keystore::PublicKey> vouched_desk_keys(Database& db, const keystore::KeyRegistry& registry) {
  const auto logged = audit::logged_desk_keys(db);
  const auto outside =
      " (the desk_keys table was changed outside signet; only `signet key trust-desk` trusts an order desk)";
  std::size_t matched = 0;
  for (const auto& desk : registry.desk_keys()) {
    const auto it = logged.find(desk.key_id);
    if (it == logged.end())
      throw keystore::KeyError(
          ErrorKind::bad_data,
          "order-desk key " + desk.key_id +
              " is in the desk_keys table but has no desk_key_trusted entry in the audit log" + outside);
    if (it->second.der() != desk.spki_der)
      throw keystore::KeyError(ErrorKind::bad_data,
                               "order-desk key " + desk.key_id +
                                   ": the desk_keys table's public key is not the one the audit log trusts" +
                                   outside);
    ++matched;
  }
  if (matched != logged.size()) {
    for (const auto& [id, key] : logged) {
      bool present = false;
      for (const auto& desk : registry.desk_keys()) present = present || desk.key_id == id;
      if (!present)
        throw keystore::KeyError(ErrorKind::bad_data,
                                 "order-desk key " + id +
                                     " is trusted by the audit log but missing from the desk_keys table" +
                                     outside);
    }
  }
  std::vector<keystore::PublicKey> out;
  out.reserve(logged.size());
  for (const auto& [id, key] : logged) out.push_back(key);
  return out;
}

void check_permissions(const std::filesystem::path& database) {
  std::vector<std::pair<std::string, mode_t>> files;
  for (const auto* suffix : {"", "-wal", "-shm"}) {
    struct stat st {};
    const auto file = database.string() + suffix;
    if (::stat(file.c_str(), &st) == 0) files.emplace_back(file, st.st_mode);
  }
  std::string chmod = "chmod 600";
  for (const auto& [file, mode] : files) chmod += " " + file;
  for (const auto& [file, mode] : files) {
    if ((mode & (S_IWGRP | S_IWOTH)) != 0)
      throw Error(ErrorKind::config,
                  file + ": mode " + octal_mode(mode) +
                      " lets other users write the appliance database (key registry and audit log); "
                      "refusing to use it: run `" +
                      chmod + "` (and find out who changed it)");
  }
  for (const auto& [file, mode] : files) {
    if ((mode & (S_IRGRP | S_IROTH)) != 0) {
      std::cerr << "signet: warning: " << file << ": mode " << octal_mode(mode)
                << " lets other users read the appliance database; run `" << chmod << "`\n";
      break;
    }
  }
}

}  // namespace signet::cli
