// The append-only, hash-chained audit log in the appliance's SQLite file.
//
// Entry i: seq, at (RFC 3339 UTC, milliseconds), kind, actor, order_id,
// license_id, key_id (null where they do not apply) and record (canonical JSON).
// E(i) = canonical JSON of exactly those eight columns; hash(i) = SHA-256(
// "signet-audit-v1\n" || prev_hash || E(i)) with prev_hash the previous entry's
// hash in lowercase hex (64 zeros before entry 1). E(i) is also leaf i of the
// RFC 9162 Merkle tree; `checkpoint` entries carry a signed tree head.
// docs/audit-format.md is the specification for auditors.
//
// Thread-safety: a Log is used from the thread that owns its Database. Writers
// take the write lock with BEGIN IMMEDIATE and a bounded busy wait; a writer that
// cannot get it in time gets AuditError(busy) and changes nothing.
#pragma once

#include "signet/core/error.hpp"
#include "signet/core/json.hpp"
#include "signet/core/sqlite.hpp"
#include "signet/core/time.hpp"
#include "signet/audit/trust.hpp"
#include "signet/keystore/keys.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signet::audit {

class AuditError : public Error {
 public:
  using Error::Error;
};

inline constexpr int kSchemaVersion = 1;
inline constexpr std::string_view kGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr std::string_view kEntryDomain = "signet-audit-v1\n";
inline constexpr std::string_view kCheckpointDomain = "signet-checkpoint-v1\n";

// An entry as stored.
struct Entry {
  std::int64_t seq = 0;
  std::string at;  // RFC 3339, "2026-11-23T18:46:34.123Z"
  std::string kind;
  std::string actor;
  std::optional<std::string> order_id, license_id, key_id;
  std::string record;  // canonical JSON text of an object
  std::string prev_hash, hash;
};

// What a writer appends; seq, at, prev_hash and hash are the log's to set.
struct NewEntry {
  std::string kind;
  std::optional<std::string> order_id, license_id, key_id;
  Json record = Json::object();
  // When set, the record as canonical JSON text of an object, used as it is
  // (for writers that assemble it from canonical parts); `record` is then ignored.
  // append refuses one that is not canonical (ErrorKind::software), appending nothing.
  std::string record_text;
};

// E: the canonical JSON of an entry's columns other than prev_hash and hash.
std::string entry_encoding(const Entry& e);
// SHA-256("signet-audit-v1\n" || prev_hash || E) in lowercase hex.
std::string entry_hash(std::string_view prev_hash, std::string_view encoding);

// The message a checkpoint signature covers:
// "signet-checkpoint-v1\n" || canonical({log_id, root_hash, time, tree_size}).
std::string checkpoint_message(const std::string& log_id, std::uint64_t tree_size, const std::string& root_hash,
                               const std::string& time);

struct AppendOptions {
  std::string actor;
  // Signs the checkpoint that closes the append. Every Signet write has one; an
  // append without it (tests of the log alone) leaves the log unprotected, and
  // the next checked append refuses such a log.
  keystore::SigningKey* checkpoint_key = nullptr;
  // The HSM's keys and anchor, to prove the log's head before appending (see
  // trust.hpp). Required with a checkpoint key; without trust.hsm_key the head
  // is not checked (tests of the log alone).
  LogTrust trust;
  // Warn when the clock runs this far ahead of the last entry.
  std::chrono::minutes clock_margin{24 * 60};
  // Receives warnings (clock far ahead); default: stderr.
  std::function<void(const std::string&)> warn;
  // Milliseconds to wait for another writer before AuditError(busy).
  int busy_timeout_ms = 5000;
  // Runs inside the transaction before anything is appended (e.g. to re-check
  // that an order was not issued meanwhile); throwing aborts the append.
  std::function<void(Database&)> precheck;
};

class Log {
 public:
  // Creates the tables, indexes and triggers and a random log id, in the caller's transaction.
  static void create_schema(Database& db);

  // Checks that the file holds a Signet log of a known schema version;
  // AuditError(bad_data) naming the file otherwise.
  explicit Log(Database& db);

  [[nodiscard]] const std::string& log_id() const noexcept { return m_log_id; }

  // Appends the entries (and, with a checkpoint key, a checkpoint) in one
  // transaction, all dated now. With trust, first proves the log's head inside
  // the transaction (the log ends with a checkpoint signed by a key in the HSM,
  // at or beyond the head anchored there, and the Merkle tree it signs is the
  // one the new checkpoint extends): AuditError(bad_data, exit 65) naming the
  // seq and the rule when it does not hold. After the commit, anchors the new
  // head in the HSM (forward only). AuditError(config, exit 78) when the clock
  // is behind the last entry or the checkpoint key is retired, AuditError(busy)
  // when another writer holds the log.
  std::vector<Entry> append(std::vector<NewEntry> entries, const AppendOptions& options);

  [[nodiscard]] std::optional<Entry> last() const;
  // What append refuses before it appends, checked without writing (before a
  // batch is signed, and by a dry run): with trust.hsm_key, the log's head as
  // append proves it (AuditError(bad_data)); then AuditError(config) when `now`
  // is behind the last entry's time.
  void check_clock(TimePoint now, const LogTrust& trust) const;
  [[nodiscard]] std::optional<Entry> get(std::int64_t seq) const;
  // Calls fn for every entry in seq order (a streaming read).
  void for_each(const std::function<void(const Entry&)>& fn) const;
  // The `issued` entries of an order (the license and its non-production siblings).
  [[nodiscard]] std::vector<Entry> issued_for_order(const std::string& order_id) const;
  [[nodiscard]] std::optional<Entry> issued_license(const std::string& license_id) const;
  [[nodiscard]] bool is_revoked(const std::string& license_id) const;
  // Whether an `issued` entry supersedes the license (through the index on the
  // record's supersedes_license, confirmed with json_extract).
  [[nodiscard]] bool is_superseded(const std::string& license_id) const;

 private:
  Database& m_db;
  std::string m_log_id;
  bool m_indexes_current = false;  // the index set of this version is in place
};

// Whether an `issued` entry of the database supersedes the license (Log::is_superseded
// on a connection without a Log, e.g. inside AppendOptions::precheck).
bool superseded_by_any(Database& db, const std::string& license_id);

// Whether the license (the one parameter) has a `revoked` entry. The term
// kind <> 'issued' is the condition of the index that holds revoked entries
// (entries_by_license_not_issued), there so that SQLite uses that index; +kind
// keeps it from picking entries_by_kind instead.
inline constexpr std::string_view kRevokedQuery =
    "SELECT 1 FROM entries WHERE license_id = ? AND kind <> 'issued' AND +kind = 'revoked' LIMIT 1";

// Reads a database's entries in seq order, handing each over to be kept (moved).
void scan_entries(Database& db, const std::function<void(Entry&&)>& fn);

// Reads a database's entries in seq order (shared by verify, export and queries).
void read_entries(Database& db, const std::function<void(const Entry&)>& fn, const std::string& where = "",
                  const std::vector<std::string>& params = {});

}  // namespace signet::audit
