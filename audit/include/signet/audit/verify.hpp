// Verifying a log without trusting whoever had the file: the hash chain, the
// Merkle roots of every checkpoint and their signatures, recomputed from the
// entries alone (a database opened read-only, or a JSONL export). Needs no HSM,
// no PIN and no configuration. Also RFC 9162 inclusion and consistency proofs.
#pragma once

#include "signet/audit/log.hpp"
#include "signet/audit/merkle.hpp"
#include "signet/keystore/keys.hpp"

#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

namespace signet::audit {

struct VerifyOptions {
  // The keys checkpoints must be signed by. Empty: the keys the log itself
  // announces in its key_generated entries (reported as not independent).
  std::vector<keystore::PublicKey> trusted_keys;
  // Checkpoints seen outside the log (e.g. carried out with a batch): the log
  // must contain their trees, which detects truncation and forks.
  std::vector<Json> known_checkpoints;
};

struct VerifyReport {
  bool ok = true;
  std::string log_id;
  std::int64_t entries = 0;           // entries checked
  std::int64_t checkpoints = 0;       // checkpoints whose root and signature hold
  std::int64_t last_checkpoint_seq = 0;
  std::int64_t unprotected = 0;       // entries after the last checkpoint (a failure when > 0)
  std::optional<std::int64_t> failed_seq;
  std::string reason;                 // why failed_seq does not hold
  std::string key_source;             // where the checkpoint keys came from
  Hash last_root{};                   // root at the last checkpoint
  std::int64_t last_tree_size = 0;
};

// Streaming verifier: feed entries in file order, then finish().
class Verifier {
 public:
  // recorded_entries: the count the log (or the export header) gives; -1 when it gives none.
  Verifier(VerifyOptions options, std::string log_id, std::int64_t recorded_entries);
  // False once an entry fails (later entries are ignored).
  bool add(const Entry& entry);
  // The same, given canonical_json_problem(entry.record) worked out by the
  // caller (verify_database does it on its reading thread).
  bool add(const Entry& entry, const std::optional<std::string>& record_problem);
  VerifyReport finish();
  // The leaf hashes seen so far (kept only when asked, for proofs).
  void keep_leaves(bool on) noexcept { m_keep = on; }
  [[nodiscard]] const std::vector<Hash>& leaves() const noexcept { return m_leaves; }

 private:
  bool fail(std::int64_t seq, std::string why);
  bool check_checkpoint(const Entry& e, const Json& record);
  void learn_key(const Entry& e, const Json& record);
  // An issued or checkpoint entry's key must be announced earlier and not retired.
  bool check_key_use(const Entry& e);

  VerifyOptions m_options;
  VerifyReport m_report;
  std::int64_t m_recorded;
  std::string m_prev = std::string(kGenesisHash);
  std::string m_prev_at;
  Frontier m_frontier;
  std::map<std::string, keystore::PublicKey> m_keys;
  std::map<std::string, std::int64_t> m_generated;  // key id -> seq of its key_generated entry
  std::map<std::string, std::int64_t> m_retired;    // key id -> seq of its key_retired entry
  std::map<std::string, std::string> m_retired_at;  // key id -> time of its key_retired entry
  // External checkpoints by tree size: two of one size (a fork's two heads) are both held to the log.
  std::multimap<std::uint64_t, Json> m_expect;
  std::set<const Json*> m_expect_recorded;  // those the log holds as a checkpoint entry
  bool m_keep = false;
  std::vector<Hash> m_leaves;
  // Order id -> {checkpoints seen before its first issued entry, that entry's
  // seq}: an order is issued in one write (its license and its non-production
  // siblings), never again in a later one.
  std::unordered_map<std::string, std::pair<std::int64_t, std::int64_t>> m_issued_orders;
};

// Opens the file read-only and verifies it.
VerifyReport verify_database(const std::filesystem::path& db_path, const VerifyOptions& options);

// Reads a JSONL export (header line, then one entry per line); AuditError(bad_data)
// naming the line when malformed.
struct ExportHeader {
  std::string log_id;
  std::int64_t entries = 0;
};
ExportHeader read_export(const std::filesystem::path& path, const std::function<void(const Entry&)>& fn);
VerifyReport verify_export(const std::filesystem::path& path, const VerifyOptions& options,
                           std::vector<Hash>* leaves = nullptr);

// The report as text for people (several lines) and as JSON.
std::string describe(const VerifyReport& report);
Json to_json(const VerifyReport& report);

// An inclusion proof of entry seq against the latest checkpoint covering it.
Json prove_inclusion(const std::filesystem::path& db_path, std::int64_t seq);
// Checks a proof made by prove_inclusion; the checkpoint signature against the
// trusted keys when given. Returns "" when it holds, else why not.
[[nodiscard]] std::string verify_inclusion_proof(const Json& proof, const std::vector<keystore::PublicKey>& keys);
// Proves that the newer export extends the older one (RFC 9162 consistency
// between their last checkpoints). Returns "" when it holds, else why not.
[[nodiscard]] std::string check_consistency(const std::filesystem::path& old_export,
                                            const std::filesystem::path& new_export, const VerifyOptions& options,
                                            Json* proof_out = nullptr);

}  // namespace signet::audit
