#include "signet/audit/log.hpp"

#include "head.hpp"
#include "signet/audit/merkle.hpp"
#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"

#include <algorithm>
#include <iostream>
#include <span>

namespace signet::audit {

namespace detail {

// Indexes on license_id: issued entries are in the unique one only. License
// ids are random, so a chunk's issued entries land on as many leaf pages of a
// license index as there are entries (up to all of them), and each commit
// rewrites those pages; a second index over the same ids doubled that (about a
// sixth of a signing run's time, measured on 10,000 orders against an
// 83,000-entry log). The other kinds (revoked) have an index of their own,
// and a lookup of every entry of a license uses both (query.cpp). Logs made
// before this keep their index over every kind, which serves the same queries.
const std::string_view kSchemaSql = R"sql(
CREATE TABLE audit_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE entries(
  seq INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  order_id TEXT,
  license_id TEXT,
  key_id TEXT,
  record TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE INDEX entries_by_order ON entries(order_id, kind);
CREATE INDEX entries_by_license_not_issued ON entries(license_id, kind) WHERE kind <> 'issued';
CREATE INDEX entries_by_kind ON entries(kind, seq);
CREATE INDEX entries_by_time ON entries(at);
CREATE UNIQUE INDEX entries_one_issue_per_license ON entries(license_id) WHERE kind = 'issued';
CREATE TABLE merkle_frontier(id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, nodes TEXT NOT NULL) STRICT;
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END;
CREATE TRIGGER entries_chain BEFORE INSERT ON entries
BEGIN
  SELECT RAISE(ABORT, 'audit log: seq must be the last seq + 1')
   WHERE NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM entries), 0) + 1;
  SELECT RAISE(ABORT, 'audit log: prev_hash must be the hash of the last entry')
   WHERE NEW.prev_hash IS NOT COALESCE((SELECT hash FROM entries ORDER BY seq DESC LIMIT 1),
     '0000000000000000000000000000000000000000000000000000000000000000');
END;
CREATE TRIGGER entries_count AFTER INSERT ON entries
BEGIN UPDATE audit_meta SET value = CAST(NEW.seq AS TEXT) WHERE key = 'entries'; END;
CREATE TRIGGER audit_meta_no_delete BEFORE DELETE ON audit_meta
BEGIN SELECT RAISE(ABORT, 'audit log metadata cannot be deleted'); END;
)sql";

}  // namespace detail

namespace {

// The license an `issued` entry supersedes, found without parsing the record:
// supersedes_license is the last key of an issued record (canonical JSON, keys
// sorted; signer/src/issue/issuer.cpp writes it last and a test holds it
// there), so a record that supersedes one ends with
// "supersedes_license":"<26-character id>"}. Replaces an index on
// json_extract(record, '$.supersedes_license'), which parsed every ~3 KB
// record on insert; lookups still confirm with json_extract (superseded_by_any).
// The record is read as a BLOB so that substr() counts bytes from the end
// instead of counting the characters of the whole text.
constexpr std::string_view kSupersededIndex = R"sql(
DROP INDEX IF EXISTS entries_by_superseded;
CREATE INDEX IF NOT EXISTS entries_by_superseded_tail ON entries(substr(CAST(record AS BLOB), -28, 26))
  WHERE kind = 'issued' AND substr(CAST(record AS BLOB), -50, 22) = CAST('"supersedes_license":"' AS BLOB);
)sql";

// Rows per INSERT: one statement for many rows journals each page it changes
// once, not once per row (the triggers make SQLite keep a statement journal).
constexpr std::size_t kRowsPerInsert = 64;

constexpr std::string_view kColumns = "seq, at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash";

Entry entry_from_row(const Statement& st) {
  return Entry{.seq = st.column_int(0),
               .at = st.column_text(1),
               .kind = st.column_text(2),
               .actor = st.column_text(3),
               .order_id = st.column_optional_text(4),
               .license_id = st.column_optional_text(5),
               .key_id = st.column_optional_text(6),
               .record = st.column_text(7),
               .prev_hash = st.column_text(8),
               .hash = st.column_text(9)};
}


// INSERT INTO entries ... VALUES (...), (...) for `rows` rows.
std::string insert_sql(std::size_t rows) {
  std::string sql = "INSERT INTO entries(" + std::string(kColumns) + ") VALUES ";
  for (std::size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?)";
  return sql;
}

// Inserts the entries (hashes set) in statements of up to kRowsPerInsert rows.
// The texts are bound without copies; they stay put until each insert has run.
void insert_entries(Database& db, std::span<const Entry> entries) {
  for (std::size_t start = 0; start < entries.size(); start += kRowsPerInsert) {
    const auto rows = entries.subspan(start, std::min(kRowsPerInsert, entries.size() - start));
    auto insert = db.prepare_cached(insert_sql(rows.size()));
    int p = 0;
    for (const auto& e : rows) {
      insert->bind(p + 1, e.seq).bind_view(p + 2, e.at).bind_view(p + 3, e.kind).bind_view(p + 4, e.actor);
      insert->bind(p + 5, e.order_id).bind(p + 6, e.license_id).bind(p + 7, e.key_id);
      insert->bind_view(p + 8, e.record).bind_view(p + 9, e.prev_hash).bind_view(p + 10, e.hash);
      p += 10;
    }
    insert->run();
  }
}

std::string meta(Database& db, const std::string& key) {
  auto st = db.prepare_cached("SELECT value FROM audit_meta WHERE key = ?");
  st->bind(1, key);
  if (!st->step()) return {};
  return st->column_text(0);
}

}  // namespace

namespace {

void append_optional(std::string& out, const std::optional<std::string>& v) {
  if (v) append_json_string(out, *v);
  else out += "null";
}

}  // namespace

std::string entry_encoding(const Entry& e) {
  // Keys in sorted order; the record is already canonical JSON text (verify
  // checks that separately), so E is built without re-encoding it.
  std::string out;
  out.reserve(e.record.size() + e.actor.size() + 256);
  out += "{\"actor\":";
  append_json_string(out, e.actor);
  out += ",\"at\":";
  append_json_string(out, e.at);
  out += ",\"key_id\":";
  append_optional(out, e.key_id);
  out += ",\"kind\":";
  append_json_string(out, e.kind);
  out += ",\"license_id\":";
  append_optional(out, e.license_id);
  out += ",\"order_id\":";
  append_optional(out, e.order_id);
  out += ",\"record\":";
  out += e.record;
  out += ",\"seq\":";
  out += std::to_string(e.seq);
  out += '}';
  return out;
}

std::string entry_hash(std::string_view prev_hash, std::string_view encoding) {
  Sha256 h;
  h.update(kEntryDomain).update(prev_hash).update(encoding);
  return to_hex(h.finish());
}

std::string checkpoint_message(const std::string& log_id, std::uint64_t tree_size, const std::string& root_hash,
                               const std::string& time) {
  const Json j = {{"log_id", log_id}, {"tree_size", tree_size}, {"root_hash", root_hash}, {"time", time}};
  return std::string(kCheckpointDomain) + canonical_json(j);
}

void Log::create_schema(Database& db) {
  db.exec(detail::kSchemaSql);
  db.exec(kSupersededIndex);
  std::array<std::uint8_t, 16> id{};
  random_fill(id);
  auto st = db.prepare("INSERT INTO audit_meta(key, value) VALUES (?, ?)");
  st.bind(1, "schema_version").bind(2, std::to_string(kSchemaVersion));
  st.run();
  st.reset();
  st.bind(1, "log_id").bind(2, signet::to_hex(id));
  st.run();
  st.reset();
  st.bind(1, "entries").bind(2, "0");
  st.run();
  detail::save_frontier(db, Frontier{});
}

Log::Log(Database& db) : m_db(db) {
  std::string version;
  try {
    version = meta(db, "schema_version");
  } catch (const SqliteError& e) {
    // Bad data says so itself; a log locked by another process is busy (75),
    // not "not a Signet audit log".
    if (e.kind() == ErrorKind::bad_data || e.kind() == ErrorKind::busy) throw;
    throw AuditError(ErrorKind::bad_data, db.path().string() + ": not a Signet audit log (" + e.what() + ")");
  }
  if (version.empty()) throw AuditError(ErrorKind::bad_data, db.path().string() + ": not a Signet audit log (no schema version)");
  if (version != std::to_string(kSchemaVersion))
    throw AuditError(ErrorKind::bad_data, db.path().string() + ": audit log schema version " + version +
                                              " is not one this signet knows (" + std::to_string(kSchemaVersion) + ")");
  m_log_id = meta(db, "log_id");
}

namespace {

// The last entry's time; AuditError(config) when `now` is behind it.
TimePoint clock_problem(const Entry& last_entry, TimePoint now) {
  const auto last_at = parse_rfc3339_utc(last_entry.at);
  if (!last_at) throw AuditError(ErrorKind::bad_data, "audit log entry " + std::to_string(last_entry.seq) + ": bad time");
  if (now < *last_at)
    throw AuditError(ErrorKind::config, "the clock is behind the audit log: now " + format_rfc3339(now) +
                                            ", last entry (seq " + std::to_string(last_entry.seq) + ") " +
                                            last_entry.at + "; refusing to append (fix the clock)");
  return *last_at;
}

}  // namespace

void Log::check_clock(TimePoint now, const LogTrust& trust) const {
  // The last entry's time counts only once the head is proven: an entry
  // appended outside signet is refused as such (65), never taken as the time
  // the clock must reach (78).
  // The head and the HSM's anchor are read under the write lock, as append
  // reads them: another signet advances the anchor, under that lock, after its
  // commit, so a read snapshot taken before that commit would look cut back.
  m_db.busy_timeout(AppendOptions{}.busy_timeout_ms);
  std::optional<Entry> last_entry;
  try {
    Transaction tx(m_db, trust.anchor != nullptr ? Transaction::Kind::immediate : Transaction::Kind::deferred);
    last_entry = last();
    if (trust.hsm_key) (void)detail::check_head(m_db, m_log_id, trust, last_entry, nullptr);
  } catch (const SqliteError& e) {
    if (e.kind() == ErrorKind::busy)
      throw AuditError(ErrorKind::busy, "audit log busy: another signet process is writing to " +
                                            m_db.path().string() + "; nothing was signed, try again");
    throw;
  }
  if (last_entry) (void)clock_problem(*last_entry, now);
}

std::vector<Entry> Log::append(std::vector<NewEntry> entries, const AppendOptions& options) {
  if (options.checkpoint_key != nullptr && !options.trust.hsm_key)
    throw AuditError(ErrorKind::software, "appending a checkpoint needs the HSM's keys to check the log's head");
  m_db.busy_timeout(options.busy_timeout_ms);
  const auto warn = [&options](const std::string& msg) {
    if (options.warn) options.warn(msg);
    else std::cerr << msg << '\n';
  };
  // A record assembled from parts is used as it is: never log one that verify
  // would refuse as not canonical.
  for (const auto& n : entries) {
    if (n.record_text.empty()) continue;
    auto problem = canonical_json_problem(n.record_text);
    if (!problem && n.record_text.front() != '{') problem = "not a JSON object";
    if (problem)
      throw AuditError(ErrorKind::software, "the " + n.kind + " entry's record is not canonical JSON (" + *problem +
                                                "); nothing was appended");
  }
  std::vector<Entry> appended;
  appended.reserve(entries.size() + 1);
  std::optional<LogHead> head;
  try {
    m_db.exec("PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY");
    Transaction tx(m_db, Transaction::Kind::immediate);
    if (!m_indexes_current) {
      m_db.exec(kSupersededIndex);  // logs made by earlier versions get the current index once
      m_indexes_current = true;
    }
    const auto last_entry = last();
    // The head is proven before anything else runs in the transaction.
    auto frontier = options.trust.hsm_key ? detail::check_head(m_db, m_log_id, options.trust, last_entry, warn)
                                          : detail::unchecked_frontier(m_db, last_entry ? last_entry->seq : 0);
    if (options.checkpoint_key != nullptr) detail::check_checkpoint_key(m_db, *options.checkpoint_key, entries);
    if (options.precheck) options.precheck(m_db);
    const auto now = now_utc();
    if (last_entry) {
      const auto last_at = clock_problem(*last_entry, now);
      if (now - last_at > options.clock_margin) {
        const auto msg = "warning: the clock (" + format_rfc3339(now) + ") is more than " +
                         std::to_string(options.clock_margin.count()) + " minutes ahead of the last audit entry (" +
                         last_entry->at + "); check the clock";
        warn(msg);
      }
    }
    std::string prev = last_entry ? last_entry->hash : std::string(kGenesisHash);
    std::int64_t seq = last_entry ? last_entry->seq : 0;
    const auto at = format_rfc3339(now);
    auto add = [&](NewEntry&& n) {
      Entry e{.seq = ++seq, .at = at, .kind = std::move(n.kind), .actor = options.actor, .order_id = std::move(n.order_id),
              .license_id = std::move(n.license_id), .key_id = std::move(n.key_id),
              .record = n.record_text.empty() ? canonical_json(n.record) : std::move(n.record_text),
              .prev_hash = std::move(prev), .hash = {}};
      const auto encoding = entry_encoding(e);
      e.hash = entry_hash(e.prev_hash, encoding);
      frontier.append(leaf_hash(as_bytes(encoding)));
      prev = e.hash;
      appended.push_back(std::move(e));  // reserved: no reallocation moves what insert_entries binds
    };
    for (auto& n : entries) add(std::move(n));
    if (options.checkpoint_key != nullptr) {
      auto& key = *options.checkpoint_key;
      const auto root = to_hex(frontier.root());
      const auto size = frontier.size();
      const auto signature = key.sign(as_bytes(checkpoint_message(m_log_id, size, root, at)));
      const Json record = {{"log_id", m_log_id}, {"tree_size", size},
                           {"root_hash", root}, {"time", at},
                           {"key_id", key.key_id()}, {"alg", std::string(keystore::to_string(key.algorithm()))},
                           {"signature", base64_encode(signature)}};
      // The stored frontier is the tree this checkpoint signs, so that the next
      // writer can compare it with the signed root directly.
      detail::save_frontier(m_db, frontier);
      head = LogHead{.log_id = m_log_id, .tree_size = size, .root_hash = root};
      add(NewEntry{.kind = "checkpoint", .order_id = std::nullopt, .license_id = std::nullopt, .key_id = key.key_id(),
                   .record = record, .record_text = {}});
    } else {
      detail::save_frontier(m_db, frontier);
    }
    insert_entries(m_db, appended);
    detail::check_appended(m_db, appended);
    tx.commit();
  } catch (const SqliteError& e) {
    if (e.kind() == ErrorKind::busy)
      throw AuditError(ErrorKind::busy, "audit log busy: another signet process is writing to " + m_db.path().string() +
                                            "; nothing was appended, try again");
    throw AuditError(e.kind(), "appending to the audit log " + m_db.path().string() + ": " + e.what());
  }
  if (head && options.trust.anchor != nullptr) detail::advance_anchor(m_db, *options.trust.anchor, *head, warn);
  return appended;
}

void read_entries(Database& db, const std::function<void(const Entry&)>& fn, const std::string& where,
                  const std::vector<std::string>& params) {
  auto st = db.prepare_cached("SELECT " + std::string(kColumns) + " FROM entries" +
                              (where.empty() ? "" : " WHERE " + where) + " ORDER BY seq");
  for (std::size_t i = 0; i < params.size(); ++i) st->bind(static_cast<int>(i + 1), params[i]);
  while (st->step()) fn(entry_from_row(*st));
}

void scan_entries(Database& db, const std::function<void(Entry&&)>& fn) {
  auto st = db.prepare("SELECT " + std::string(kColumns) + " FROM entries ORDER BY seq");
  while (st.step()) fn(entry_from_row(st));
}

std::optional<Entry> Log::last() const {
  auto st = m_db.prepare_cached("SELECT " + std::string(kColumns) + " FROM entries ORDER BY seq DESC LIMIT 1");
  if (!st->step()) return std::nullopt;
  return entry_from_row(*st);
}

std::optional<Entry> Log::get(std::int64_t seq) const {
  auto st = m_db.prepare("SELECT " + std::string(kColumns) + " FROM entries WHERE seq = ?");
  st.bind(1, seq);
  if (!st.step()) return std::nullopt;
  return entry_from_row(st);
}

void Log::for_each(const std::function<void(const Entry&)>& fn) const { read_entries(m_db, fn); }

std::vector<Entry> Log::issued_for_order(const std::string& order_id) const {
  std::vector<Entry> out;
  read_entries(m_db, [&](const Entry& e) { out.push_back(e); }, "order_id = ? AND kind = 'issued'", {order_id});
  return out;
}

std::optional<Entry> Log::issued_license(const std::string& license_id) const {
  // At most one row (entries_one_issue_per_license): no ORDER BY, no sort.
  auto st = m_db.prepare_cached("SELECT " + std::string(kColumns) +
                                " FROM entries WHERE license_id = ? AND kind = 'issued'");
  st->bind(1, license_id);
  if (!st->step()) return std::nullopt;
  return entry_from_row(*st);
}

bool superseded_by_any(Database& db, const std::string& license_id) {
  // The same terms as the partial index's WHERE, so that SQLite uses it.
  auto st = db.prepare_cached(
      "SELECT 1 FROM entries WHERE kind = 'issued' "
      "AND substr(CAST(record AS BLOB), -50, 22) = CAST('\"supersedes_license\":\"' AS BLOB) "
      "AND substr(CAST(record AS BLOB), -28, 26) = CAST(?1 AS BLOB) "
      "AND json_extract(record, '$.supersedes_license') = ?1 LIMIT 1");
  st->bind(1, license_id);
  return st->step();
}

bool Log::is_superseded(const std::string& license_id) const { return superseded_by_any(m_db, license_id); }

bool Log::is_revoked(const std::string& license_id) const {
  auto st = m_db.prepare_cached(kRevokedQuery);
  st->bind(1, license_id);
  return st->step();
}

}  // namespace signet::audit
