#include "signet/audit/verify.hpp"

#include "head.hpp"
#include "signet/core/bytes.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>
#include <sstream>

namespace signet::audit {

namespace {

std::string seq_text(std::int64_t seq) { return std::to_string(seq); }

const Json* field(const Json& j, const char* name) {
  const auto it = j.find(name);
  return it == j.end() ? nullptr : &*it;
}

std::optional<std::string> string_field(const Json& j, const char* name) {
  const auto* f = field(j, name);
  if (f == nullptr || !f->is_string()) return std::nullopt;
  return f->get<std::string>();
}

}  // namespace

Verifier::Verifier(VerifyOptions options, std::string log_id, std::int64_t recorded_entries)
    : m_options(std::move(options)), m_recorded(recorded_entries) {
  m_report.log_id = std::move(log_id);
  for (const auto& k : m_options.trusted_keys) m_keys.emplace(k.key_id(), k);
  m_report.key_source = m_options.trusted_keys.empty()
                            ? "keys announced by the log's own key_generated entries (not independent: pass --pubkey)"
                            : std::to_string(m_options.trusted_keys.size()) + " key(s) given with --pubkey";
  for (const auto& cp : m_options.known_checkpoints) {
    const auto* size = field(cp, "tree_size");
    const auto n = size != nullptr ? json_uint(*size) : std::nullopt;
    if (!n) throw AuditError(ErrorKind::bad_data, "an external checkpoint has no tree_size (an unsigned integer)");
    m_expect.emplace(*n, cp);
  }
}

bool Verifier::fail(std::int64_t seq, std::string why) {
  if (m_report.ok) {
    m_report.ok = false;
    m_report.failed_seq = seq;
    m_report.reason = std::move(why);
  }
  return false;
}

void Verifier::learn_key(const Entry& e, const Json& record) {
  if (!m_options.trusted_keys.empty() || !e.key_id) return;
  const auto pem = string_field(record, "public_key");
  if (!pem) return;
  try {
    auto key = keystore::PublicKey::from_pem(*pem);
    if (key.key_id() == *e.key_id) m_keys.emplace(key.key_id(), std::move(key));
  } catch (const Error&) {
    // An unreadable key announces nothing; checkpoints it signed then fail.
  }
}

bool Verifier::check_checkpoint(const Entry& e, const Json& record) {
  const auto seq = e.seq;
  const auto log_id = string_field(record, "log_id");
  const auto root = string_field(record, "root_hash");
  const auto time = string_field(record, "time");
  const auto key_id = string_field(record, "key_id");
  const auto sig_b64 = string_field(record, "signature");
  const auto* size = field(record, "tree_size");
  if (!log_id || !root || !time || !key_id || !sig_b64 || size == nullptr || !size->is_number_unsigned())
    return fail(seq, "checkpoint record lacks log_id, tree_size, root_hash, time, key_id or signature");
  const auto tree_size = size->get<std::uint64_t>();
  if (*log_id != m_report.log_id) return fail(seq, "checkpoint names log " + *log_id + ", this log is " + m_report.log_id);
  if (tree_size != m_frontier.size())
    return fail(seq, "checkpoint tree_size " + std::to_string(tree_size) + " but " + std::to_string(m_frontier.size()) +
                         " entries precede it");
  const auto computed = m_frontier.root();
  if (*root != to_hex(computed))
    return fail(seq, "checkpoint root_hash " + *root + " does not match the Merkle root of entries 1.." +
                         std::to_string(tree_size) + " (" + to_hex(computed) +
                         "): an entry at or before seq " + std::to_string(tree_size) + " was changed");
  if (*time != e.at) return fail(seq, "checkpoint time " + *time + " differs from the entry's time " + e.at);
  if (!e.key_id || *e.key_id != *key_id) return fail(seq, "checkpoint key_id differs from the entry's key_id column");
  const auto key = m_keys.find(*key_id);
  if (key == m_keys.end()) return fail(seq, "checkpoint signed by key " + *key_id + ", which is not a trusted key");
  if (const auto shape = detail::checkpoint_shape_problem(e, record, &key->second); !shape.empty())
    return fail(seq, shape);
  const auto sig = detail::checkpoint_signature(*sig_b64);
  if (!sig) return fail(seq, "checkpoint signature " + std::string(detail::kSignatureTextRule));
  if (!key->second.verify(as_bytes(checkpoint_message(*log_id, tree_size, *root, *time)), *sig))
    return fail(seq, "checkpoint signature does not verify with key " + *key_id);
  // Every checkpoint signet signs is appended as an entry when it is made
  // (audit/src/log.cpp): one held outside must be recorded in the log too.
  for (auto [it, end] = m_expect.equal_range(tree_size); it != end; ++it) {
    const auto held_sig = string_field(it->second, "signature");
    const auto held_time = string_field(it->second, "time");
    if (held_sig && held_time && *held_sig == *sig_b64 && *held_time == *time) m_expect_recorded.insert(&it->second);
  }
  ++m_report.checkpoints;
  m_report.last_checkpoint_seq = seq;
  m_report.last_root = computed;
  m_report.last_tree_size = static_cast<std::int64_t>(tree_size);
  return true;
}

bool Verifier::check_key_use(const Entry& e) {
  if (!e.key_id)
    return fail(e.seq, std::string(e.kind.starts_with('i') ? "an " : "a ") + e.kind +
                           " entry must name its key (key_id is null)");
  const auto& id = *e.key_id;
  if (!m_generated.contains(id))
    return fail(e.seq, e.kind + " entry made by key " + id + ", which has no earlier key_generated entry in the log");
  if (const auto it = m_retired.find(id); it != m_retired.end()) {
    // Signet before this rule closed a retirement with a checkpoint signed by
    // the retired key itself, in the same write: that one checkpoint (the next
    // seq, the same time) is the old behaviour, not a use after retirement.
    const bool closes_own_retirement =
        e.kind == "checkpoint" && e.seq == it->second + 1 && e.at == m_retired_at[id];
    if (!closes_own_retirement)
      return fail(e.seq, e.kind + " entry made by key " + id + " after its key_retired entry (seq " +
                             seq_text(it->second) + ")");
  }
  return true;
}

bool Verifier::add(const Entry& e) {
  if (!m_report.ok) return false;
  return add(e, canonical_json_problem(e.record));
}

bool Verifier::add(const Entry& e, const std::optional<std::string>& record_problem) {
  if (!m_report.ok) return false;
  const auto expected = m_report.entries + 1;
  if (e.seq != expected)
    return fail(expected, "expected seq " + seq_text(expected) + " but found seq " + seq_text(e.seq) +
                              (e.seq > expected ? " (entries missing)" : " (entries out of order or duplicated)"));
  if (e.prev_hash != m_prev)
    return fail(e.seq, e.seq == 1 ? std::string("prev_hash of the first entry is not 64 zeros")
                                  : "prev_hash does not match the hash of entry " + seq_text(e.seq - 1));
  // Every record is held to canonical form in one pass over its text (the
  // chain pins its bytes, but a repeated key, say, would read one way in
  // `signet audit log` and another in json_extract); only the records whose
  // content verify reads (checkpoints, key announcements) are parsed.
  if (e.record.size() < 2 || e.record.front() != '{' || e.record.back() != '}')
    return fail(e.seq, "record is not a JSON object");
  if (record_problem) return fail(e.seq, "record is not in canonical JSON form: " + *record_problem);
  const bool read_record = e.kind == "checkpoint" || e.kind == "key_generated";
  Json record;
  if (read_record) {
    record = Json::parse(e.record, nullptr, false);
    if (!record.is_object()) return fail(e.seq, "record is not a JSON object");
  }
  const auto encoding = entry_encoding(e);
  if (entry_hash(e.prev_hash, encoding) != e.hash)
    return fail(e.seq, "hash does not match the entry's contents (an entry field was changed)");
  if (e.at != m_prev_at && !parse_rfc3339_utc(e.at)) return fail(e.seq, "at is not an RFC 3339 UTC time");
  if (!m_prev_at.empty() && e.at < m_prev_at) return fail(e.seq, "time goes backwards: " + e.at + " after " + m_prev_at);
  if (e.kind == "checkpoint" || e.kind == "issued") {
    if (!check_key_use(e)) return false;
  }
  if (e.kind == "issued" && e.order_id) {
    // The writer finds an order already issued through an index; an index
    // changed outside signet (then rebuilt) could have let it issue one twice.
    const auto [it, first] = m_issued_orders.try_emplace(*e.order_id, m_report.checkpoints, e.seq);
    if (!first && it->second.first != m_report.checkpoints)
      return fail(e.seq, "order " + *e.order_id + " is issued again: it was issued at seq " +
                             seq_text(it->second.second) + ", in an earlier write (an order id is issued once over "
                             "the whole log)");
  }
  if (e.kind == "checkpoint") {
    if (!check_checkpoint(e, record)) return false;
  } else if (e.kind == "key_generated") {
    learn_key(e, record);
    if (e.key_id) m_generated.emplace(*e.key_id, e.seq);
  } else if (e.kind == "key_retired") {
    if (e.key_id && m_retired.emplace(*e.key_id, e.seq).second) m_retired_at[*e.key_id] = e.at;
  }
  const auto leaf = leaf_hash(as_bytes(encoding));
  m_frontier.append(leaf);
  if (m_keep) m_leaves.push_back(leaf);
  for (auto [it, end] = m_expect.equal_range(m_frontier.size()); it != end; ++it) {
    const auto root = string_field(it->second, "root_hash");
    if (!root || *root != to_hex(m_frontier.root()))
      return fail(e.seq, "the log's first " + seq_text(e.seq) +
                             " entries do not match the external checkpoint of that size (the log was rewritten or forked)");
  }
  m_prev = e.hash;
  m_prev_at = e.at;
  ++m_report.entries;
  return true;
}

VerifyReport Verifier::finish() {
  const bool every_entry_held = m_report.ok;
  if (m_report.ok && m_recorded >= 0 && m_recorded > m_report.entries)
    fail(m_report.entries + 1, "the log recorded " + seq_text(m_recorded) + " entries but only " +
                                   seq_text(m_report.entries) + " are present (truncated after seq " +
                                   seq_text(m_report.entries) + ")");
  if (m_report.ok && m_recorded >= 0 && m_recorded < m_report.entries)
    fail(m_recorded + 1, "the log recorded " + seq_text(m_recorded) + " entries but " + seq_text(m_report.entries) +
                             " are present (entries after seq " + seq_text(m_recorded) +
                             " were added behind the triggers, or the count was changed outside signet)");
  if (m_report.ok) {
    for (const auto& [size, cp] : m_expect) {
      if (static_cast<std::int64_t>(size) > m_report.entries) {
        fail(m_report.entries + 1, "an external checkpoint covers " + std::to_string(size) + " entries but the log has " +
                                       seq_text(m_report.entries) + " (truncated after seq " +
                                       seq_text(m_report.entries) + ")");
        break;
      }
    }
  }
  // External checkpoints must themselves be signed by a trusted key.
  if (m_report.ok) {
    for (const auto& [size, cp] : m_expect) {
      const auto key_id = string_field(cp, "key_id");
      const auto sig = string_field(cp, "signature");
      const auto log_id = string_field(cp, "log_id");
      const auto root = string_field(cp, "root_hash");
      const auto time = string_field(cp, "time");
      const auto key = key_id ? m_keys.find(*key_id) : m_keys.end();
      const auto raw = sig ? detail::checkpoint_signature(*sig) : std::nullopt;
      if (key == m_keys.end() || !raw || !log_id || !root || !time || *log_id != m_report.log_id ||
          !key->second.verify(as_bytes(checkpoint_message(*log_id, size, *root, *time)), *raw)) {
        fail(static_cast<std::int64_t>(size) + 1, "the external checkpoint of tree size " + std::to_string(size) +
                                                      " is not validly signed for this log by a trusted key");
        break;
      }
    }
  }
  // A validly signed external checkpoint the log does not record: the entry that
  // recorded it (and, when it was the last, nothing else) was removed.
  if (m_report.ok) {
    for (const auto& [size, cp] : m_expect) {
      if (m_expect_recorded.contains(&cp)) continue;
      fail(static_cast<std::int64_t>(size) + 1,
           "the external checkpoint of tree size " + std::to_string(size) + " (time " +
               string_field(cp, "time").value_or("?") +
               ") is not recorded in the log: signet appends every checkpoint it signs as an entry after seq " +
               std::to_string(size) + ", and that entry is gone (removed, or the log cut back to it)");
      break;
    }
  }
  // Entries after the last checkpoint, counted only when every entry was read
  // (after a failure mid-log the entries past it were never checked).
  m_report.unprotected = every_entry_held ? m_report.entries - m_report.last_checkpoint_seq : 0;
  // Every signet write ends with a checkpoint: entries after the last one were
  // added, or the log was cut, by something other than signet.
  if (m_report.ok && m_report.unprotected > 0) {
    const auto first = m_report.last_checkpoint_seq + 1;
    fail(first, "entries " + seq_text(first) + ".." + seq_text(m_report.entries) + " (" + seq_text(m_report.unprotected) +
                    ") follow " +
                    (m_report.last_checkpoint_seq > 0 ? "the last checkpoint (seq " + seq_text(m_report.last_checkpoint_seq) + ")"
                                                      : std::string("no checkpoint at all")) +
                    ": signet ends every write with a checkpoint, so the log was extended or cut outside signet");
  }
  return m_report;
}

namespace {

// SQLite's own check of the file: every index holds exactly the rows of its
// table. An index changed outside signet could hide an issued entry from the
// lookups of `audit log` and of the next `signet sign` (which would then issue
// the order again) while every entry still verifies. Empty when it holds.
std::string integrity_problem(const std::filesystem::path& db_path) {
  try {
    auto db = Database::open(db_path, Database::Mode::read_only);
    auto st = db.prepare("PRAGMA integrity_check(20)");
    std::string found;
    while (st.step()) {
      const auto line = st.column_text(0);
      if (line == "ok") continue;
      found += (found.empty() ? "" : "; ") + line;
    }
    if (found.empty()) return {};
    return "the SQLite file does not hold together (an index or page changed outside signet): " + found;
  } catch (const std::exception& e) {
    return std::string("the SQLite file could not be checked: ") + e.what();
  }
}

// The objects verify reads must be the log's tables as Signet makes them
// (not views of the same name that show what they like, nor tables rebuilt
// without STRICT, whose text columns could hold BLOBs), and the entry count
// must be there. The triggers must be Signet's, as the writer demands: one
// dropped, changed or added means the file was edited with SQLite directly,
// whatever the hashes say (and signet would refuse to write to it).
std::string schema_problem(Database& db) {
  if (auto problem = detail::table_problem(db); !problem.empty()) return problem;
  auto st = db.prepare("SELECT 1 FROM audit_meta WHERE key = 'entries'");
  if (!st.step()) return "audit_meta has no entry count (removed outside signet)";
  return detail::trigger_problem(db);
}

}  // namespace

VerifyReport verify_database(const std::filesystem::path& db_path, const VerifyOptions& options) {
  auto db = Database::open(db_path, Database::Mode::read_only);
  Log log(db);
  // One consistent read of the whole file: the count and the schema are read
  // inside it, so that a signet appending meanwhile (the log is WAL) changes
  // neither what they say nor the rows the reader sees. BEGIN DEFERRED takes
  // its snapshot at the first read, which is the count's.
  Transaction snapshot(db, Transaction::Kind::deferred);
  // The count the trigger keeps; -1 (not compared) when it is not one, a fault of the file.
  std::string file_problem;
  const auto count = detail::recorded_count(db);
  const std::int64_t recorded = count.count.value_or(-1);
  if (count.text && !count.count)
    file_problem = "audit_meta.entries holds '" + count.text->substr(0, 40) + "', not an entry count (changed outside signet)";
  if (auto schema = schema_problem(db); !schema.empty()) file_problem = std::move(schema);
  // SQLite's check of the whole file runs on a connection of its own, beside the entries' check.
  std::string integrity;
  std::jthread integrity_thread([&] { integrity = integrity_problem(db_path); });  // joined on every way out
  Verifier v(options, log.log_id(), recorded);
  // Reading rows out of SQLite and hashing them take about as long as each
  // other: a reader thread fills batches while this thread verifies them in
  // order. The queue is bounded, so memory stays small on any log.
  constexpr std::size_t kBatch = 512;
  constexpr std::size_t kMaxQueued = 8;
  std::mutex mutex;
  std::condition_variable changed;
  // A batch of entries, and the first of them whose record is not canonical:
  // the reader checks each record while it is in its cache.
  struct Batch {
    std::vector<Entry> entries;
    std::size_t bad = SIZE_MAX;
    std::optional<std::string> problem;
  };
  std::deque<Batch> queue;
  bool finished = false;
  bool stop = false;
  std::exception_ptr error;
  std::thread reader([&] {
    try {
      Batch batch;
      batch.entries.reserve(kBatch);
      auto hand_over = [&] {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return queue.size() < kMaxQueued || stop; });
        queue.push_back(std::move(batch));
        changed.notify_all();
        batch = {};
        batch.entries.reserve(kBatch);
        return !stop;
      };
      bool go_on = true;
      scan_entries(db, [&](Entry&& e) {
        if (!go_on) return;
        if (!batch.problem) {
          batch.problem = canonical_json_problem(e.record);
          if (batch.problem) batch.bad = batch.entries.size();
        }
        batch.entries.push_back(std::move(e));
        if (batch.entries.size() == kBatch) go_on = hand_over();
      });
      if (go_on && !batch.entries.empty()) hand_over();
    } catch (...) {
      const std::lock_guard lock(mutex);
      error = std::current_exception();
    }
    const std::lock_guard lock(mutex);
    finished = true;
    changed.notify_all();
  });
  for (;;) {
    Batch batch;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return !queue.empty() || finished; });
      if (queue.empty()) break;
      batch = std::move(queue.front());
      queue.pop_front();
      changed.notify_all();
    }
    bool ok = true;
    static const std::optional<std::string> kCanonical;
    for (std::size_t i = 0; i < batch.entries.size(); ++i)
      ok = v.add(batch.entries[i], i == batch.bad ? batch.problem : kCanonical) && ok;
    if (!ok) {
      // The first failure is what the report names; the rest need not be read.
      const std::lock_guard lock(mutex);
      stop = true;
      changed.notify_all();
      break;
    }
  }
  reader.join();
  if (error) std::rethrow_exception(error);
  auto report = v.finish();
  integrity_thread.join();
  if (file_problem.empty()) file_problem = integrity;
  if (report.ok && !file_problem.empty()) {
    // A fault of the file, not of one entry: no seq is named.
    report.ok = false;
    report.failed_seq.reset();
    report.reason = file_problem;
  }
  return report;
}

ExportHeader read_export(const std::filesystem::path& path, const std::function<void(const Entry&)>& fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AuditError(ErrorKind::no_input, path.string() + ": cannot read the export");
  std::string line;
  std::size_t line_no = 0;
  auto bad = [&](const std::string& why) {
    return AuditError(ErrorKind::bad_data, path.string() + ":" + std::to_string(line_no) + ": " + why);
  };
  ExportHeader header;
  bool have_header = false;
  constexpr std::size_t kMaxLine = 1U << 20U;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.size() > kMaxLine) throw bad("line longer than 1 MiB");
    if (line.empty()) continue;
    std::string why;
    const auto parsed = parse_strict_json(line, why);
    if (!parsed) throw bad("not strict JSON: " + why);
    const Json& j = *parsed;
    if (!j.is_object()) throw bad("not a JSON object");
    // Signet writes every line in canonical form, and an auditor who hashes a
    // record's text as it stands in the file relies on it (checked once the
    // line is known to hold the fields it should).
    const auto canonical = [&] {
      if (const auto problem = canonical_json_problem(line))
        throw bad("not in canonical JSON form: " + *problem);
    };
    if (!have_header) {
      const auto fmt = j.find("signet_audit_export");
      const auto id = j.find("log_id");
      const auto n = j.find("entries");
      if (fmt == j.end() || *fmt != 1 || id == j.end() || !id->is_string() || n == j.end() || !n->is_number_integer() ||
          !json_int(*n) || *json_int(*n) < 0 || j.size() != 3)
        throw bad("first line must be the header {\"signet_audit_export\":1,\"log_id\":...,\"entries\":N}");
      header.log_id = id->get<std::string>();
      header.entries = n->get<std::int64_t>();
      canonical();
      have_header = true;
      continue;
    }
    static constexpr std::array<std::string_view, 10> kColumns = {
        "actor", "at", "hash", "key_id", "kind", "license_id", "order_id", "prev_hash", "record", "seq"};
    for (const auto& item : j.items()) {
      if (std::find(kColumns.begin(), kColumns.end(), item.key()) == kColumns.end())
        throw bad("an entry holds exactly the ten columns of the log; \"" + item.key() + "\" is not one");
    }
    Entry e;
    try {
      auto opt = [&](const char* name) -> std::optional<std::string> {
        const auto& v = j.at(name);
        if (v.is_null()) return std::nullopt;
        return v.get<std::string>();
      };
      const auto seq = json_int(j.at("seq"));
      if (!seq) throw bad("seq must be an integer");
      e.seq = *seq;
      e.at = j.at("at").get<std::string>();
      e.kind = j.at("kind").get<std::string>();
      e.actor = j.at("actor").get<std::string>();
      e.order_id = opt("order_id");
      e.license_id = opt("license_id");
      e.key_id = opt("key_id");
      const auto& rec = j.at("record");
      if (!rec.is_object()) throw bad("record must be an object");
      e.record = canonical_json(rec);
      e.prev_hash = j.at("prev_hash").get<std::string>();
      e.hash = j.at("hash").get<std::string>();
    } catch (const Json::exception& ex) {
      throw bad(std::string("entry field missing or of the wrong type: ") + ex.what());
    } catch (const AuditError&) {
      throw;
    } catch (const Error& ex) {
      throw bad(ex.what());
    }
    canonical();
    fn(e);
  }
  if (!have_header) throw AuditError(ErrorKind::bad_data, path.string() + ": empty export (no header line)");
  return header;
}

VerifyReport verify_export(const std::filesystem::path& path, const VerifyOptions& options, std::vector<Hash>* leaves) {
  // The header names the log; read it first so that the verifier knows the log id.
  std::string first;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw AuditError(ErrorKind::no_input, path.string() + ": cannot read the export");
    while (first.empty() && std::getline(in, first)) {
    }  // blank lines are skipped, as read_export skips them
  }
  const Json h = Json::parse(first, nullptr, false);
  std::string log_id;
  std::int64_t recorded = 0;
  if (h.is_object() && h.contains("log_id") && h["log_id"].is_string()) log_id = h["log_id"].get<std::string>();
  if (h.is_object() && h.contains("entries") && h["entries"].is_number_integer()) recorded = h["entries"].get<std::int64_t>();
  Verifier v(options, log_id, recorded);
  v.keep_leaves(leaves != nullptr);
  // read_export encodes each record canonically itself: nothing to check again.
  read_export(path, [&](const Entry& e) { v.add(e, std::nullopt); });
  auto report = v.finish();
  if (leaves != nullptr) *leaves = v.leaves();
  return report;
}

std::string describe(const VerifyReport& r) {
  std::ostringstream out;
  if (r.ok) {
    out << "audit log " << r.log_id << ": OK\n"
        << "  " << r.entries << " entries: hash chain intact\n"
        << "  " << r.checkpoints << " checkpoints: Merkle roots and signatures verified\n"
        << "  checkpoint keys: " << r.key_source << "\n";
    out << "  every entry is covered by a signed checkpoint\n";
  } else {
    if (!r.failed_seq) {
      out << "audit log " << r.log_id << ": FAILED: " << r.reason << "\n"
          << "  " << r.entries << " entries and " << r.checkpoints << " checkpoints verified, but the file does not hold\n";
      return out.str();
    }
    out << "audit log " << r.log_id << ": FAILED at seq " << *r.failed_seq << ": " << r.reason << "\n";
    if (r.entries >= *r.failed_seq) {
      // Every entry was checked: what fails is the tail, the count or an external checkpoint.
      out << "  " << r.entries << " entries: hash chain intact; " << r.checkpoints
          << " checkpoints: Merkle roots and signatures verified\n";
      if (r.unprotected > 0)
        out << "  " << r.unprotected << " entries after the last checkpoint (seq " << r.last_checkpoint_seq
            << ") are unprotected: chained but covered by no signed checkpoint\n";
    } else {
      out << "  " << r.entries << " entries and " << r.checkpoints << " checkpoints held before it\n";
    }
  }
  return out.str();
}

Json to_json(const VerifyReport& r) {
  Json j = {{"ok", r.ok},
            {"log_id", r.log_id},
            {"entries", r.entries},
            {"checkpoints", r.checkpoints},
            {"last_checkpoint_seq", r.last_checkpoint_seq},
            {"unprotected", r.unprotected},
            {"key_source", r.key_source}};
  if (!r.ok) {
    j["failed_seq"] = r.failed_seq ? Json(*r.failed_seq) : Json(nullptr);  // null: the file, not an entry
    j["reason"] = r.reason;
  }
  return j;
}

}  // namespace signet::audit
