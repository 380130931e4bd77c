#include "head.hpp"

#include <algorithm>
#include <array>
#include <set>

#include "signet/core/bytes.hpp"

namespace signet::audit::detail {

namespace {

// Runs of white space as one space, none at the ends: the triggers' text as
// stored in sqlite_master is compared without regard to layout.
std::string squeezed(std::string_view sql) {
  std::string out;
  bool space = false;
  for (const char c : sql) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Trigger name -> its CREATE TRIGGER statement (squeezed, without the ';'), as
// the schema makes it, in the schema's order.
const std::vector<std::pair<std::string, std::string>>& schema_triggers() {
  static const std::vector<std::pair<std::string, std::string>> triggers = [] {
    std::vector<std::pair<std::string, std::string>> out;
    constexpr std::string_view kCreate = "CREATE TRIGGER ";
    constexpr std::string_view kEnd = "END;";
    const std::string_view sql = kSchemaSql;
    for (auto at = sql.find(kCreate); at != std::string_view::npos; at = sql.find(kCreate, at + 1)) {
      const auto name_at = at + kCreate.size();
      const auto name = sql.substr(name_at, sql.find(' ', name_at) - name_at);
      const auto end = sql.find(kEnd, at);
      out.emplace_back(name, squeezed(sql.substr(at, end + kEnd.size() - 1 - at)));
    }
    return out;
  }();
  return triggers;
}

constexpr std::string_view kRecovery =
    " (see docs/operator-guide.md, \"The audit log was changed outside signet\")";

// A refusal to append to a log that does not hold what signet wrote.
[[noreturn]] void refuse(const Database& db, const std::string& why) {
  throw AuditError(ErrorKind::bad_data,
                   db.path().string() + ": " + why + "; nothing was appended" + std::string(kRecovery));
}

std::optional<Entry> entry_at(Database& db, std::int64_t seq) {
  std::optional<Entry> out;
  read_entries(db, [&](const Entry& e) { out = e; }, "seq = ?", {std::to_string(seq)});
  return out;
}

std::int64_t scalar(Database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  return st.step() ? st.column_int(0) : 0;
}

// The fields of a checkpoint entry that a writer relies on.
struct Checkpoint {
  std::int64_t seq = 0;
  std::uint64_t tree_size = 0;
  Hash root{};
  std::string root_hex, time, key_id;
  Bytes signature;
  Json record;
  Entry entry;
};

}  // namespace

RecordedCount recorded_count(Database& db) {
  RecordedCount r;
  auto st = db.prepare("SELECT value FROM audit_meta WHERE key = 'entries'");
  if (!st.step()) return r;
  r.text = st.column_text(0);
  try {
    const auto n = std::stoll(*r.text);
    if (n >= 0 && std::to_string(n) == *r.text) r.count = n;
  } catch (const std::exception&) {
    r.count.reset();  // not a number, or beyond 64 bits
  }
  return r;
}

std::string table_problem(Database& db) {
  // Each table's columns as pragma_table_xinfo gives them: name, type, not null, primary key, hidden.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kTables = {{
      {"entries",
       "seq INTEGER 0 1 0, at TEXT 1 0 0, kind TEXT 1 0 0, actor TEXT 1 0 0, order_id TEXT 0 0 0, "
       "license_id TEXT 0 0 0, key_id TEXT 0 0 0, record TEXT 1 0 0, prev_hash TEXT 1 0 0, hash TEXT 1 0 0"},
      {"audit_meta", "key TEXT 1 1 0, value TEXT 1 0 0"},
      {"merkle_frontier", "id INTEGER 0 1 0, size INTEGER 1 0 0, nodes TEXT 1 0 0"},
  }};
  for (const auto& [table, columns] : kTables) {
    const std::string name(table);
    auto type = db.prepare("SELECT type FROM sqlite_master WHERE name = ?");
    type.bind(1, name);
    const auto what = type.step() ? type.column_text(0) : std::string("nothing");
    if (what != "table") return "the audit log's table " + name + " is a " + what + " (changed outside signet)";
    // STRICT: a TEXT column holds text only. In a table rebuilt without it, a
    // BLOB of an entry's own bytes hashes the same, but no lookup by order id
    // or kind matches it, and the order could be issued again.
    auto strict = db.prepare("SELECT strict, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?");
    strict.bind(1, name);
    if (!strict.step() || strict.column_int(0) != 1 || strict.column_int(1) != 0)
      return "the audit log's table " + name + " is not the STRICT rowid table signet makes (rebuilt outside signet)";
    auto info = db.prepare(
        "SELECT group_concat(name || ' ' || type || ' ' || \"notnull\" || ' ' || pk || ' ' || hidden, ', ') "
        "FROM (SELECT * FROM pragma_table_xinfo(?) ORDER BY cid)");
    info.bind(1, name);
    const auto found = info.step() && !info.is_null(0) ? info.column_text(0) : std::string();
    if (found != columns)
      return "the audit log's table " + name + " does not have signet's columns (" + std::string(columns) + "): it has " + found +
             " (rebuilt outside signet)";
  }
  return {};
}

std::string trigger_problem(Database& db) {
  const auto& expected = schema_triggers();
  std::set<std::string> present;
  auto triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name");
  while (triggers.step()) {
    const auto name = triggers.column_text(0);
    const auto it = std::find_if(expected.begin(), expected.end(), [&](const auto& t) { return t.first == name; });
    if (it == expected.end()) return "the audit log has a trigger signet did not make (" + name + "), added outside signet";
    if (triggers.is_null(1) || squeezed(triggers.column_text(1)) != it->second)
      return "the audit log's trigger " + name + " was changed outside signet";
    present.insert(name);
  }
  for (const auto& [name, sql] : expected)
    if (!present.contains(name)) return "the audit log's trigger " + name + " was dropped outside signet";
  return {};
}

std::optional<Bytes> checkpoint_signature(std::string_view text) {
  // base64_decode skips line breaks, as the product server's license decoder
  // does; a checkpoint's signature is held to the one text Signet writes.
  auto sig = base64_decode(text);
  if (!sig || base64_encode(*sig) != text) return std::nullopt;
  return sig;
}

std::string checkpoint_shape_problem(const Entry& e, const Json& record, const keystore::PublicKey* key) {
  static constexpr std::array<std::string_view, 7> kFields = {"alg",       "key_id", "log_id",   "root_hash",
                                                             "signature", "time",   "tree_size"};
  if (!record.is_object() || record.size() != kFields.size() ||
      !std::all_of(kFields.begin(), kFields.end(), [&](std::string_view f) { return record.contains(f); }))
    return "checkpoint record must have exactly the fields alg, key_id, log_id, root_hash, signature, time, tree_size";
  if (e.order_id || e.license_id) return "checkpoint entry names an order or a license (order_id, license_id must be null)";
  const auto& alg = record.at("alg");
  if (!alg.is_string()) return "checkpoint record.alg is not a string";
  if (key != nullptr && alg.get<std::string>() != keystore::to_string(key->algorithm()))
    return "checkpoint record.alg " + alg.get<std::string>() + " is not the algorithm of key " + key->key_id() + " (" +
           std::string(keystore::to_string(key->algorithm())) + ")";
  return {};
}

namespace {

Checkpoint read_checkpoint(Database& db, const Entry& e, const std::string& log_id) {
  const auto where = "the checkpoint at seq " + std::to_string(e.seq);
  std::string why;
  const auto record = parse_strict_json(e.record, why);
  if (!record || !record->is_object()) refuse(db, where + ": record is not a JSON object (" + why + ")");
  try {
    if (canonical_json(*record) != e.record) refuse(db, where + ": record is not in canonical JSON form");
  } catch (const Error& err) {
    refuse(db, where + ": record: " + err.what());
  }
  auto text = [&](const char* name) {
    const auto it = record->find(name);
    if (it == record->end() || !it->is_string())
      refuse(db, where + ": record." + name + " is missing or not a string");
    return it->get<std::string>();
  };
  if (const auto shape = checkpoint_shape_problem(e, *record, nullptr); !shape.empty()) refuse(db, where + ": " + shape);
  Checkpoint cp;
  cp.seq = e.seq;
  cp.record = *record;
  cp.entry = e;
  const auto size = record->contains("tree_size") ? json_uint(record->at("tree_size")) : std::nullopt;
  if (!size) refuse(db, where + ": record.tree_size is missing or not an unsigned integer");
  cp.tree_size = *size;
  cp.root_hex = text("root_hash");
  cp.time = text("time");
  cp.key_id = text("key_id");
  const auto sig = checkpoint_signature(text("signature"));
  if (text("log_id") != log_id) refuse(db, where + ": record.log_id is not this log's id " + log_id);
  if (cp.tree_size != static_cast<std::uint64_t>(e.seq - 1))
    refuse(db, where + ": record.tree_size " + std::to_string(cp.tree_size) + " must be its seq - 1");
  if (cp.time != e.at) refuse(db, where + ": record.time differs from the entry's time " + e.at);
  if (!e.key_id || *e.key_id != cp.key_id)
    refuse(db, where + ": record.key_id differs from the entry's key_id column");
  const auto root = hash_from_hex(cp.root_hex);
  if (!root) refuse(db, where + ": record.root_hash is not 64 hex digits");
  if (!sig) refuse(db, where + ": record.signature " + std::string(kSignatureTextRule));
  cp.root = *root;
  cp.signature = *sig;
  return cp;
}

// The objects an append writes through are Signet's: the tables are tables (a
// view of the same name could show what it likes), and the triggers are exactly
// the schema's. A trigger changed or added outside signet could drop a row as
// it is inserted (RAISE(IGNORE)) and let a license go out unlogged.
void check_schema(Database& db, std::int64_t last_seq) {
  if (const auto problem = table_problem(db); !problem.empty()) refuse(db, problem);
  if (const auto problem = trigger_problem(db); !problem.empty()) refuse(db, problem);
  auto st = db.prepare("SELECT value FROM audit_meta WHERE key = 'entries'");
  const auto recorded = st.step() ? st.column_text(0) : std::string("(none)");
  if (recorded != std::to_string(last_seq))
    refuse(db, "audit_meta.entries records " + recorded + " entries but the log has " +
                   std::to_string(last_seq) + " (entries were removed or added outside signet)");
}

void check_signature(Database& db, const std::string& log_id, const Checkpoint& cp,
                     const HsmKeyLookup& hsm_key) {
  const auto where = "the last checkpoint (seq " + std::to_string(cp.seq) + ")";
  const auto key = hsm_key(cp.key_id);
  if (!key || key->key_id() != cp.key_id)
    refuse(db, where + " is signed by key " + cp.key_id +
                   ", which is not in the HSM: only a key the token holds vouches for the log");
  if (const auto shape = checkpoint_shape_problem(cp.entry, cp.record, &*key); !shape.empty())
    refuse(db, where + ": " + shape);
  if (!key->verify(as_bytes(checkpoint_message(log_id, cp.tree_size, cp.root_hex, cp.time)), cp.signature))
    refuse(db, where + ": its signature does not verify with the HSM's key " + cp.key_id +
                   " (the checkpoint was forged or changed outside signet)");
}

void check_anchor(Database& db, const std::string& log_id, const std::optional<Checkpoint>& cp,
                  HeadAnchor& anchor) {
  const auto head = anchor.load(log_id);
  if (!head) return;  // the first write to this log, or an appliance from before anchors
  if (head->log_id != log_id) refuse(db, "the HSM's anchor for log " + log_id + " names log " + head->log_id);
  const auto size = std::to_string(head->tree_size);
  if (!cp || cp->tree_size < head->tree_size)
    refuse(db, "the audit log was cut back outside signet: the HSM anchors a checkpoint of tree size " +
                   size +
                   " (the head after the last signet write), but the log's last checkpoint has tree size " +
                   (cp ? std::to_string(cp->tree_size) : std::string("0 (the log has no checkpoint)")));
  const auto anchored = entry_at(db, static_cast<std::int64_t>(head->tree_size) + 1);
  const auto record =
      anchored && anchored->kind == "checkpoint" ? Json::parse(anchored->record, nullptr, false) : Json();
  const auto root = record.is_object() ? record.value("root_hash", std::string()) : std::string();
  if (root != head->root_hash)
    refuse(db, "the audit log was rewritten outside signet: the HSM anchors the checkpoint of tree size " +
                   size + " with root " + head->root_hash + ", but the log's entry " +
                   std::to_string(head->tree_size + 1) +
                   (root.empty() ? " is not that checkpoint" : " has root " + root) +
                   " (the log's last checkpoint has tree size " + std::to_string(cp->tree_size) + ")");
}

std::optional<Frontier> stored_frontier(Database& db) {
  auto st = db.prepare_cached("SELECT size, nodes FROM merkle_frontier WHERE id = 1");
  if (!st->step()) return std::nullopt;
  const auto size = st->column_int(0);
  const auto parsed = Json::parse(st->column_view(1), nullptr, false);
  if (size < 0 || !parsed.is_array()) return std::nullopt;
  std::vector<Hash> nodes;
  for (const auto& n : parsed) {
    const auto h = n.is_string() ? hash_from_hex(n.get<std::string>()) : std::nullopt;
    if (!h) return std::nullopt;
    nodes.push_back(*h);
  }
  return Frontier::restore(static_cast<std::uint64_t>(size), std::move(nodes));
}

Frontier rebuild(Database& db, std::int64_t size) {
  Frontier f;
  read_entries(db, [&](const Entry& e) { f.append(leaf_hash(as_bytes(entry_encoding(e)))); }, "seq <= ?",
               {std::to_string(size)});
  return f;
}

}  // namespace

Frontier check_head(Database& db, const std::string& log_id, const LogTrust& trust,
                    const std::optional<Entry>& last, const std::function<void(const std::string&)>& warn) {
  const std::int64_t last_seq = last ? last->seq : 0;
  check_schema(db, last_seq);
  std::optional<Checkpoint> cp;
  if (last) {
    if (last->kind != "checkpoint") {
      const auto last_cp = scalar(db, "SELECT COALESCE(MAX(seq), 0) FROM entries WHERE kind = 'checkpoint'");
      const auto first = entry_at(db, last_cp + 1);
      refuse(db, "the audit log was extended or cut outside signet: entry " + std::to_string(last_cp + 1) +
                     " (" + (first ? first->kind + ", " + first->at : std::string("?")) + ") follows " +
                     (last_cp > 0 ? "the last checkpoint (seq " + std::to_string(last_cp) + ")"
                                  : std::string("no checkpoint")) +
                     ", but every signet write ends with a checkpoint");
    }
    if (entry_hash(last->prev_hash, entry_encoding(*last)) != last->hash)
      refuse(db, "entry " + std::to_string(last->seq) + ": its hash does not match its contents");
    cp = read_checkpoint(db, *last, log_id);
    check_signature(db, log_id, *cp, trust.hsm_key);
  }
  if (trust.anchor != nullptr) check_anchor(db, log_id, cp, *trust.anchor);
  if (!cp) return Frontier{};
  const auto stored = stored_frontier(db);
  Frontier f;
  if (stored && stored->size() == cp->tree_size && stored->root() == cp->root) {
    f = *stored;
  } else {
    // Missing, stale (logs written before this check stored the frontier with the
    // checkpoint's own leaf) or changed: the entries and the signed root decide.
    f = rebuild(db, static_cast<std::int64_t>(cp->tree_size));
    if (f.root() != cp->root)
      refuse(db, "the audit log does not match its own last signed checkpoint (seq " +
                     std::to_string(cp->seq) + "): the Merkle root of entries 1.." +
                     std::to_string(cp->tree_size) + " is " + to_hex(f.root()) + ", the checkpoint signed " +
                     cp->root_hex + "; an entry at or before seq " + std::to_string(cp->tree_size) +
                     " was changed outside signet");
    if (stored && stored->size() == cp->tree_size && warn)
      warn("warning: " + db.path().string() +
           ": the stored Merkle frontier did not match the last checkpoint (seq " + std::to_string(cp->seq) +
           ") and was rebuilt from the entries (merkle_frontier was changed outside signet)");
  }
  f.append(leaf_hash(as_bytes(entry_encoding(*last))));
  return f;
}

Frontier unchecked_frontier(Database& db, std::int64_t last_seq) {
  if (auto stored = stored_frontier(db); stored && stored->size() == static_cast<std::uint64_t>(last_seq))
    return *stored;
  return rebuild(db, last_seq);
}

void save_frontier(Database& db, const Frontier& f) {
  Json nodes = Json::array();
  for (const auto& n : f.nodes()) nodes.push_back(to_hex(n));
  auto st = db.prepare_cached("INSERT OR REPLACE INTO merkle_frontier(id, size, nodes) VALUES (1, ?, ?)");
  st->bind(1, static_cast<std::int64_t>(f.size())).bind(2, nodes.dump());
  st->run();
}

void check_checkpoint_key(Database& db, const keystore::SigningKey& key,
                          const std::vector<NewEntry>& pending) {
  const auto& id = key.key_id();
  const auto history = key_history(db, id);
  std::optional<std::string> pem;
  if (history.generated_seq) pem = history.public_key_pem;
  bool retired = history.retired_seq.has_value();
  for (const auto& n : pending) {
    if (n.key_id != id) continue;
    if (n.kind == "key_retired") retired = true;
    if (n.kind != "key_generated" || pem) continue;
    const Json record = n.record_text.empty() ? n.record : Json::parse(n.record_text, nullptr, false);
    if (record.is_object() && record.contains("public_key") && record["public_key"].is_string())
      pem = record["public_key"].get<std::string>();
  }
  const auto file = db.path().string();
  if (!pem)
    throw AuditError(
        ErrorKind::bad_data,
        file + ": key " + id + " has no key_generated entry in the audit log: it cannot sign checkpoints");
  bool same = false;
  try {
    same = keystore::PublicKey::from_pem(*pem).der() == key.public_key().der();
  } catch (const Error&) {
    same = false;
  }
  if (!same)
    throw AuditError(ErrorKind::bad_data, file + ": the key_generated entry of key " + id +
                                              " announces another public key: it cannot sign checkpoints");
  if (retired)
    throw AuditError(ErrorKind::config,
                     file + ": key " + id + " is retired in the audit log" +
                         (history.retired_seq ? " (seq " + std::to_string(*history.retired_seq) + ")" : "") +
                         ": it signs no more checkpoints");
}

void advance_anchor(Database& db, HeadAnchor& anchor, const LogHead& head,
                    const std::function<void(const std::string&)>& warn) {
  try {
    const Transaction lock(db, Transaction::Kind::immediate);
    const auto current = anchor.load(head.log_id);
    if (!current || current->tree_size < head.tree_size) anchor.store(head);
  } catch (const Error& e) {
    if (warn)
      warn("warning: the checkpoint of tree size " + std::to_string(head.tree_size) +
           " is committed but its head was not anchored in the HSM (" + e.what() +
           "); the next write anchors its own");
  }
}

void check_appended(Database& db, const std::vector<Entry>& appended) {
  if (appended.empty()) return;
  const auto first = appended.front().seq;
  const auto landed = [&](const std::string& what) {
    return AuditError(ErrorKind::bad_data, db.path().string() + ": the entries being appended did not land as written (" +
                                               what + "): the log's schema was changed outside signet; nothing was "
                                               "appended" + std::string(kRecovery));
  };
  auto st = db.prepare("SELECT seq, hash FROM entries WHERE seq >= ? ORDER BY seq");
  st.bind(1, first);
  std::size_t i = 0;
  while (st.step()) {
    if (i == appended.size()) throw landed("the file holds more entries from seq " + std::to_string(first));
    const auto& e = appended[i++];
    if (st.column_int(0) != e.seq || st.column_text(1) != e.hash)
      throw landed("entry " + std::to_string(e.seq) + " is missing or differs");
  }
  if (i != appended.size()) throw landed("entry " + std::to_string(appended[i].seq) + " is missing");
  auto count = db.prepare("SELECT value FROM audit_meta WHERE key = 'entries'");
  if (!count.step() || count.column_text(0) != std::to_string(appended.back().seq))
    throw landed("audit_meta.entries does not name the last entry");
}

}  // namespace signet::audit::detail
