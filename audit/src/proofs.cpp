#include "signet/audit/verify.hpp"

#include "head.hpp"
#include "signet/core/bytes.hpp"

#include <algorithm>
#include <array>

namespace signet::audit {

namespace {

Json hashes_json(const std::vector<Hash>& hashes) {
  Json out = Json::array();
  for (const auto& h : hashes) out.push_back(to_hex(h));
  return out;
}

std::optional<std::vector<Hash>> hashes_from(const Json& j) {
  if (!j.is_array()) return std::nullopt;
  std::vector<Hash> out;
  for (const auto& v : j) {
    if (!v.is_string()) return std::nullopt;
    const auto h = hash_from_hex(v.get<std::string>());
    if (!h) return std::nullopt;
    out.push_back(*h);
  }
  return out;
}

// The checkpoint signature against the keys; "" when it holds.
std::string check_signature(const Json& cp, const std::vector<keystore::PublicKey>& keys) {
  try {
    const auto log_id = cp.at("log_id").get<std::string>();
    const auto size = json_uint(cp.at("tree_size"));
    if (!size) return "checkpoint tree_size is not a non-negative integer";
    const auto root = cp.at("root_hash").get<std::string>();
    const auto time = cp.at("time").get<std::string>();
    const auto key_id = cp.at("key_id").get<std::string>();
    const auto sig = detail::checkpoint_signature(cp.at("signature").get<std::string>());
    if (!sig) return "checkpoint signature " + std::string(detail::kSignatureTextRule);
    for (const auto& k : keys) {
      if (k.key_id() != key_id) continue;
      // The signature covers log id, size, root and time: the rest of the
      // checkpoint is held to what Signet writes, as verify holds it.
      if (cp.at("alg") != keystore::to_string(k.algorithm()))
        return "checkpoint alg " + cp.at("alg").dump() + " is not the algorithm of key " + key_id;
      return k.verify(as_bytes(checkpoint_message(log_id, *size, root, time)), *sig)
                 ? ""
                 : "checkpoint signature does not verify with key " + key_id;
    }
    return "checkpoint signed by key " + key_id + ", which is not among the given --pubkey keys";
  } catch (const Json::exception&) {
    return "checkpoint lacks log_id, tree_size, root_hash, time, key_id or signature";
  }
}

}  // namespace

Json prove_inclusion(const std::filesystem::path& db_path, std::int64_t seq) {
  auto db = Database::open(db_path, Database::Mode::read_only);
  Log log(db);
  Transaction snapshot(db, Transaction::Kind::deferred);
  std::vector<Hash> leaves;
  std::optional<Entry> target, checkpoint;
  std::string target_encoding;
  read_entries(db, [&](const Entry& e) {
    const auto encoding = entry_encoding(e);
    if (e.kind == "checkpoint" && e.seq > seq) checkpoint = e;
    if (e.seq == seq) { target = e; target_encoding = encoding; }
    leaves.push_back(leaf_hash(as_bytes(encoding)));
  });
  if (!target) throw AuditError(ErrorKind::not_found, "audit log has no entry with seq " + std::to_string(seq));
  if (!checkpoint)
    throw AuditError(ErrorKind::not_found, "entry " + std::to_string(seq) +
                                               " is not yet covered by a checkpoint (run `signet audit checkpoint`)");
  const Json cp = Json::parse(checkpoint->record);
  const auto size = json_uint(cp.at("tree_size")).value_or(0);
  if (size < static_cast<std::uint64_t>(seq) || size > leaves.size())
    throw AuditError(ErrorKind::bad_data, "checkpoint " + std::to_string(checkpoint->seq) + " has a bad tree_size");
  const auto index = static_cast<std::uint64_t>(seq - 1);
  const auto tree = std::span<const Hash>(leaves).first(size);
  return Json{{"signet_inclusion_proof", 1},
              {"log_id", log.log_id()},
              {"seq", seq},
              {"leaf_index", index},
              {"entry", target_encoding},
              {"tree_size", size},
              {"root_hash", to_hex(tree_root(tree))},
              {"path", hashes_json(inclusion_proof(tree, index))},
              {"checkpoint_seq", checkpoint->seq},
              {"checkpoint", cp}};
}

std::string verify_inclusion_proof(const Json& proof, const std::vector<keystore::PublicKey>& keys) {
  try {
    if (!proof.is_object() || proof.value("signet_inclusion_proof", 0) != 1) return "not a signet inclusion proof";
    // Exactly what prove_inclusion writes: every field is checked below, so
    // that what `audit verify-proof` then says (entry N, checkpoint M) holds.
    static constexpr std::array<std::string_view, 10> kFields = {
        "checkpoint", "checkpoint_seq", "entry", "leaf_index", "log_id", "path", "root_hash", "seq",
        "signet_inclusion_proof", "tree_size"};
    for (const auto& item : proof.items())
      if (std::find(kFields.begin(), kFields.end(), item.key()) == kFields.end())
        return "the proof holds a field signet does not write: " + item.key();
    static constexpr std::array<std::string_view, 7> kCheckpointFields = {
        "alg", "key_id", "log_id", "root_hash", "signature", "time", "tree_size"};
    const auto& checkpoint = proof.at("checkpoint");
    if (!checkpoint.is_object() || checkpoint.size() != kCheckpointFields.size()) return "the checkpoint must have exactly its seven fields";
    for (const auto& item : checkpoint.items())
      if (std::find(kCheckpointFields.begin(), kCheckpointFields.end(), item.key()) == kCheckpointFields.end())
        return "the checkpoint must have exactly its seven fields (not " + item.key() + ")";
    const auto entry = proof.at("entry").get<std::string>();
    const auto index_value = json_uint(proof.at("leaf_index"));
    const auto size_value = json_uint(proof.at("tree_size"));
    if (!index_value || !size_value) return "leaf_index and tree_size must be non-negative integers";
    const auto index = *index_value;
    const auto size = *size_value;
    const auto root = hash_from_hex(proof.at("root_hash").get<std::string>());
    const auto path = hashes_from(proof.at("path"));
    const auto& cp = proof.at("checkpoint");
    if (!root || !path) return "root_hash or path is not hex SHA-256";
    const Json e = Json::parse(entry, nullptr, false);
    if (!e.is_object() || !e.contains("seq") || e["seq"] != index + 1) return "entry's seq does not match leaf_index + 1";
    if (json_uint(proof.at("seq")) != index + 1) return "seq does not match leaf_index + 1";
    // Signet appends the checkpoint over entries 1..N as entry N + 1.
    if (json_uint(proof.at("checkpoint_seq")) != size + 1) return "checkpoint_seq is not tree_size + 1";
    if (json_uint(cp.at("tree_size")) != size || cp.at("root_hash").get<std::string>() != to_hex(*root))
      return "the proof's tree is not the checkpoint's tree";
    if (cp.at("log_id") != proof.at("log_id")) return "the checkpoint is for another log";
    if (!verify_inclusion(index, size, leaf_hash(as_bytes(entry)), *path, *root))
      return "the inclusion path does not lead to the checkpoint's root";
    if (!keys.empty()) return check_signature(cp, keys);
    return "";
  } catch (const Json::exception& ex) {
    return std::string("malformed proof: ") + ex.what();
  }
}

std::string check_consistency(const std::filesystem::path& old_export, const std::filesystem::path& new_export,
                              const VerifyOptions& options, Json* proof_out) {
  std::vector<Hash> old_leaves, new_leaves;
  const auto old_report = verify_export(old_export, options, &old_leaves);
  if (!old_report.ok) return old_export.string() + " does not verify: " + describe(old_report);
  const auto new_report = verify_export(new_export, options, &new_leaves);
  if (!new_report.ok) return new_export.string() + " does not verify: " + describe(new_report);
  if (old_report.log_id != new_report.log_id) return "the exports are of different logs";
  if (old_report.last_tree_size == 0) return old_export.string() + " has no checkpoint to be consistent with";
  const auto m = static_cast<std::uint64_t>(old_report.last_tree_size);
  const auto n = static_cast<std::uint64_t>(new_report.last_tree_size);
  if (n < m) return new_export.string() + "'s last checkpoint covers fewer entries than " + old_export.string() + "'s";
  const auto proof = consistency_proof(std::span<const Hash>(new_leaves).first(n), m);
  if (proof_out != nullptr)
    *proof_out = Json{{"old_size", m}, {"new_size", n}, {"old_root", to_hex(old_report.last_root)},
                      {"new_root", to_hex(new_report.last_root)}, {"proof", hashes_json(proof)}};
  if (!verify_consistency(m, n, old_report.last_root, new_report.last_root, proof))
    return "the newer log does not extend the older one: its first " + std::to_string(m) +
           " entries differ (consistency proof fails)";
  // The proof covers the older checkpoint's tree, not that checkpoint's own
  // entry (whose actor no signature covers): the older log's entries after its
  // tree must be the newer log's entries of the same seq, leaf for leaf.
  if (new_leaves.size() < old_leaves.size())
    return new_export.string() + " holds fewer entries (" + std::to_string(new_leaves.size()) + ") than " +
           old_export.string() + " (" + std::to_string(old_leaves.size()) + ")";
  for (std::size_t i = static_cast<std::size_t>(m); i < old_leaves.size(); ++i) {
    if (old_leaves[i] != new_leaves[i])
      return "the newer log does not extend the older one: its entry " + std::to_string(i + 1) +
             " differs from the older log's (which no signed tree of the older log covers)";
  }
  if (proof_out != nullptr) (*proof_out)["old_entries"] = old_leaves.size();
  return "";
}

}  // namespace signet::audit
