// What a writer proves before it appends (Log::append with trust): the log ends
// with a checkpoint signed by a key the HSM holds, its Merkle frontier has the
// signed root, it is at or beyond the head anchored in the HSM, and the
// checkpoint key is announced and not retired. Also verify's rules on which key
// may sign what. Real SQLite files; the in-memory key stands in for the HSM's.
#include <catch2/catch.hpp>

#include "log_fixture.hpp"
#include "signet/audit/merkle.hpp"
#include "signet/audit/trust.hpp"

using namespace signet;
using namespace signet::audit;
using namespace signet::audit::testing;

namespace {

// An anchor kept in memory, recording what it was asked; `ahead` is what a second
// load returns (another writer that moved the anchor meanwhile).
class MemoryAnchor final : public HeadAnchor {
 public:
  std::optional<LogHead> head;
  std::optional<LogHead> ahead;
  int loads = 0, stores = 0;
  bool fail_store = false;

  std::optional<LogHead> load(const std::string& log_id) override {
    ++loads;
    if (ahead && loads > 1) return ahead;
    if (head && head->log_id != log_id) return std::nullopt;
    return head;
  }
  void store(const LogHead& h) override {
    if (fail_store) throw Error(ErrorKind::unavailable, "C_CreateObject: CKR_DEVICE_REMOVED");
    ++stores;
    head = h;
  }
};

// The refusal an append must give, and that it appended nothing.
std::string refusal(TempLog& t, const std::vector<NewEntry>& entries, const AppendOptions& options) {
  const auto before = t.all();
  try {
    t.log.append(entries, options);
  } catch (const AuditError& e) {
    CHECK(same(t.all(), before));
    return std::to_string(static_cast<int>(e.kind())) + " " + e.what();
  }
  FAIL("the append was not refused");
  return {};
}

std::string bad_data() {
  return std::to_string(static_cast<int>(ErrorKind::bad_data)) + " ";
}

// Rewrites the whole log as someone with the file but without the HSM would:
// drops the entries `drop` says, renumbers the rest (and changes them as `edit`
// says, by their new seq), re-chains them, fixes the entry count, empties the
// frontier, and puts the triggers back as they were.
void rewrite(Database& db, const std::function<bool(const Entry&)>& drop,
             const std::function<void(Entry&)>& edit = {}) {
  std::vector<std::string> triggers;
  {
    auto st = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger'");
    while (st.step()) triggers.push_back(st.column_text(0));
  }
  std::vector<Entry> kept;
  read_entries(db, [&](const Entry& e) {
    if (!drop(e)) kept.push_back(e);
  });
  db.exec(
      "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete; DROP TRIGGER entries_chain; "
      "DROP TRIGGER entries_count; DELETE FROM entries; DELETE FROM merkle_frontier");
  std::string prev(kGenesisHash);
  std::int64_t seq = 0;
  for (auto& e : kept) {
    e.seq = ++seq;
    if (edit) edit(e);
    e.prev_hash = prev;
    e.hash = entry_hash(prev, entry_encoding(e));
    prev = e.hash;
    auto st = db.prepare("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.bind(1, e.seq)
        .bind(2, e.at)
        .bind(3, e.kind)
        .bind(4, e.actor)
        .bind(5, e.order_id)
        .bind(6, e.license_id)
        .bind(7, e.key_id)
        .bind(8, e.record)
        .bind(9, e.prev_hash)
        .bind(10, e.hash);
    st.run();
  }
  db.exec("UPDATE audit_meta SET value = '" + std::to_string(seq) + "' WHERE key = 'entries'");
  for (const auto& sql : triggers)
    if (sql.find("entries") != std::string::npos && sql.find("audit_meta_no_delete") == std::string::npos)
      db.exec(sql);
}

// Rebuilds the entries table as a plain (not STRICT) table of the same columns
// whose rows are `select` over the old one, with Signet's indexes and triggers
// made again from their own SQL: what someone with sqlite3 and the file can do.
void rebuild_entries(Database& db, const std::string& select) {
  std::vector<std::string> sql;
  {
    auto st = db.prepare("SELECT sql FROM sqlite_master WHERE tbl_name = 'entries' AND type IN ('index', 'trigger') "
                         "AND sql IS NOT NULL ORDER BY type");
    while (st.step()) sql.push_back(st.column_text(0));
  }
  db.exec("DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete; DROP TRIGGER entries_chain; "
          "DROP TRIGGER entries_count; ALTER TABLE entries RENAME TO entries_old; "
          "CREATE TABLE entries(seq INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, "
          "order_id TEXT, license_id TEXT, key_id TEXT, record TEXT NOT NULL, prev_hash TEXT NOT NULL, "
          "hash TEXT NOT NULL); "
          "INSERT INTO entries " + select + " FROM entries_old; DROP TABLE entries_old");
  for (const auto& statement : sql) db.exec(statement);
}

// An issued entry's kind and order id stored as BLOBs of their own bytes: the
// hash holds, but no lookup by order or kind sees the entry.
constexpr const char* kBlobbedIssue =
    "SELECT seq, at, CASE WHEN kind = 'issued' THEN CAST(kind AS BLOB) ELSE kind END, actor, "
    "CASE WHEN kind = 'issued' THEN CAST(order_id AS BLOB) ELSE order_id END, license_id, key_id, record, "
    "prev_hash, hash";

// Appends a checkpoint over every entry, signed by `key`, as someone holding the
// file and `key` (but not the HSM) would: by hand, through the triggers.
void forge_checkpoint(Database& db, keystore::SigningKey& key, const std::string& log_id,
                      std::optional<std::string> at = std::nullopt) {
  Frontier f;
  std::optional<Entry> last;
  read_entries(db, [&](const Entry& e) {
    f.append(leaf_hash(as_bytes(entry_encoding(e))));
    last = e;
  });
  Entry cp;
  cp.seq = last ? last->seq + 1 : 1;
  // After the last entry unless told: a later write.
  cp.at = at ? *at : format_rfc3339(std::max(now_utc(), *parse_rfc3339_utc(last ? last->at : "1970-01-01") +
                                                            std::chrono::milliseconds(1)));
  cp.kind = "checkpoint";
  cp.actor = "mallory";
  cp.key_id = key.key_id();
  const auto root = to_hex(f.root());
  const auto sig = key.sign(as_bytes(checkpoint_message(log_id, f.size(), root, cp.at)));
  cp.record = canonical_json(Json{{"alg", "ed25519"},
                                  {"key_id", key.key_id()},
                                  {"log_id", log_id},
                                  {"root_hash", root},
                                  {"signature", base64_encode(sig)},
                                  {"time", cp.at},
                                  {"tree_size", f.size()}});
  cp.prev_hash = last ? last->hash : std::string(kGenesisHash);
  cp.hash = entry_hash(cp.prev_hash, entry_encoding(cp));
  auto st = db.prepare("INSERT INTO entries VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)");
  st.bind(1, cp.seq)
      .bind(2, cp.at)
      .bind(3, cp.kind)
      .bind(4, cp.actor)
      .bind(5, cp.key_id)
      .bind(6, cp.record)
      .bind(7, cp.prev_hash)
      .bind(8, cp.hash);
  st.run();
}

NewEntry key_event(const char* kind, const keystore::SigningKey& key) {
  NewEntry n;
  n.kind = kind;
  n.key_id = key.key_id();
  n.record = Json{{"label", "test key"}, {"algorithm", "ed25519"}};
  return n;
}

NewEntry issued_by(const std::optional<std::string>& key_id, const std::string& order) {
  NewEntry n;
  n.kind = "issued";
  n.order_id = order;
  n.license_id = "lic-" + order;
  n.key_id = key_id;
  n.record = Json{{"manifest", Json{{"order_id", order}}}};
  return n;
}

// A log of two writes: seq 1 announces the key, 2 a note, 3 a checkpoint (tree 2);
// 4 and 5 notes ("secret" at 5), 6 a checkpoint (tree 5).
void two_writes(TempLog& t, SoftEd25519& key, HeadAnchor* anchor = nullptr) {
  t.log.append({announce(key), TempLog::note("one")}, signed_options(key, anchor));
  t.log.append({TempLog::note("two"), TempLog::note("secret")}, signed_options(key, anchor));
}

}  // namespace

TEST_CASE("a writer refuses a log that does not end with a checkpoint, naming the first entry after it",
          "[audit][head]") {
  TempLog t;
  SoftEd25519 key;
  SECTION("entries after the last checkpoint") {
    two_writes(t, key);
    t.append_notes(2);  // seqs 7, 8: no checkpoint
    const auto why = refusal(t, {TempLog::note("next")}, signed_options(key));
    CHECK_THAT(why, Catch::StartsWith(bad_data()));
    CHECK_THAT(why, Catch::Contains(t.path.string()));
    CHECK_THAT(why, Catch::Contains("entry 7 (note,"));
    CHECK_THAT(why, Catch::Contains("follows the last checkpoint (seq 6)"));
    CHECK_THAT(why, Catch::Contains("extended or cut outside signet"));
  }
  SECTION("a rewrite that removed an entry and every checkpoint, re-chained, triggers restored") {
    two_writes(t, key);
    rewrite(t.db, [](const Entry& e) {
      return e.kind == "checkpoint" || e.record.find("secret") != std::string::npos;
    });
    REQUIRE(holds_but_unprotected(verify_database(t.path, trusting(key.public_key()))));
    const auto why = refusal(t, {TempLog::note("next")}, signed_options(key));
    CHECK_THAT(why, Catch::Contains("entry 1 (key_generated,"));
    CHECK_THAT(why, Catch::Contains("follows no checkpoint"));
  }
  SECTION("a dropped trigger") {
    two_writes(t, key);
    t.db.exec("DROP TRIGGER entries_no_delete");
    CHECK_THAT(refusal(t, {TempLog::note("next")}, signed_options(key)),
               Catch::Contains("trigger entries_no_delete was dropped outside signet"));
  }
  SECTION("a trigger changed under its own name, to drop issued entries as they are inserted") {
    two_writes(t, key);
    t.db.exec("DROP TRIGGER entries_chain; CREATE TRIGGER entries_chain BEFORE INSERT ON entries "
              "WHEN NEW.kind = 'issued' BEGIN SELECT RAISE(IGNORE); END");
    const auto why = refusal(t, {issued_by(key.key_id(), "GHOST-1")}, signed_options(key));
    CHECK_THAT(why, Catch::StartsWith(bad_data()));
    CHECK_THAT(why, Catch::Contains("trigger entries_chain was changed outside signet"));
  }
  SECTION("a trigger added beside Signet's") {
    two_writes(t, key);
    t.db.exec("CREATE TRIGGER zz_extra BEFORE INSERT ON entries WHEN NEW.kind = 'issued' "
              "BEGIN SELECT RAISE(IGNORE); END");
    CHECK_THAT(refusal(t, {issued_by(key.key_id(), "GHOST-1")}, signed_options(key)),
               Catch::Contains("a trigger signet did not make (zz_extra)"));
  }
  SECTION("a trigger laid out differently but the same is Signet's") {
    two_writes(t, key);
    t.db.exec("DROP TRIGGER entries_no_delete; CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries\n"
              "  BEGIN\n    SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused');\n  END");
    CHECK(t.log.append({TempLog::note("next")}, signed_options(key)).back().seq == 8);
  }
  SECTION("the metadata table replaced by a view") {
    two_writes(t, key);
    t.db.exec("DROP TRIGGER audit_meta_no_delete; ALTER TABLE audit_meta RENAME TO meta_real; "
              "CREATE VIEW audit_meta AS SELECT * FROM meta_real");
    CHECK_THAT(refusal(t, {TempLog::note("next")}, signed_options(key)),
               Catch::Contains("table audit_meta is a view"));
  }
  SECTION("the entries table rebuilt without STRICT, an issued entry's kind and order id BLOBs") {
    two_writes(t, key);
    t.log.append({issued_by(key.key_id(), "HIDDEN-1")}, signed_options(key));
    rebuild_entries(t.db, kBlobbedIssue);
    auto hidden = t.db.prepare("SELECT COUNT(*) FROM entries WHERE order_id = 'HIDDEN-1'");
    REQUIRE(hidden.step());
    REQUIRE(hidden.column_int(0) == 0);  // the "already issued" lookup no longer sees it
    CHECK_THAT(refusal(t, {issued_by(key.key_id(), "HIDDEN-1")}, signed_options(key)),
               Catch::Contains("table entries is not the STRICT rowid table signet makes"));
  }
  SECTION("an entry count that does not match the rows") {
    two_writes(t, key);
    t.db.exec("UPDATE audit_meta SET value = '9' WHERE key = 'entries'");
    CHECK_THAT(refusal(t, {TempLog::note("next")}, signed_options(key)),
               Catch::Contains("audit_meta.entries records 9 entries but the log has 6"));
  }
}

TEST_CASE("a writer refuses a last checkpoint that a key in the HSM did not sign", "[audit][head]") {
  TempLog t;
  SoftEd25519 key;
  two_writes(t, key);
  SECTION("a key the HSM does not hold") {
    SoftEd25519 other;
    auto options = signed_options(key);
    options.trust.hsm_key = [](const std::string&) { return std::optional<keystore::PublicKey>(); };
    const auto why = refusal(t, {TempLog::note("next")}, options);
    CHECK_THAT(why, Catch::StartsWith(bad_data()));
    CHECK_THAT(why, Catch::Contains("the last checkpoint (seq 6) is signed by key " + key.key_id() +
                                    ", which is not in the HSM"));
  }
  SECTION("a checkpoint re-signed by a key of the attacker's, over a rewritten log") {
    // The attacker drops the "secret" entry and the checkpoint after it, and
    // signs the rewritten tree with a key of their own.
    SoftEd25519 mallory;
    rewrite(t.db, [](const Entry& e) { return e.record.find("secret") != std::string::npos || e.seq == 6; });
    forge_checkpoint(t.db, mallory, t.log.log_id());
    REQUIRE(t.all().size() == 5);
    const auto why = refusal(t, {TempLog::note("next")}, signed_options(key));
    CHECK_THAT(why, Catch::Contains("the last checkpoint (seq 5) is signed by key " + mallory.key_id() +
                                    ", which is not in the HSM"));
  }
  SECTION("a changed signature") {
    t.db.exec("DROP TRIGGER entries_no_update");
    auto cp = *t.log.get(6);
    auto record = Json::parse(cp.record);
    auto sig = *base64_decode(record["signature"].get<std::string>());
    sig[0] = static_cast<std::uint8_t>(sig[0] ^ 1U);
    record["signature"] = base64_encode(sig);
    auto st = t.db.prepare("UPDATE entries SET record = ? WHERE seq = 6");
    st.bind(1, canonical_json(record)).run();
    rechain(t.db, 6);
    const auto why = refusal(t, {TempLog::note("next")}, signed_options(key));
    CHECK_THAT(why, Catch::Contains("trigger entries_no_update was dropped"));
    t.db.exec(
        "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END");
    CHECK_THAT(refusal(t, {TempLog::note("next")}, signed_options(key)),
               Catch::Contains("its signature does not verify with the HSM's key"));
  }
}

TEST_CASE("what the last checkpoint holds beyond its signature is held to what signet writes, by the writer and by verify",
          "[audit][head]") {
  // The signature covers the log id, tree size, root and time only: an edit of
  // the rest of the last checkpoint (re-chained) must not pass, nor be sealed by
  // the next write's checkpoint.
  TempLog t;
  SoftEd25519 key;
  two_writes(t, key);
  std::string sql;
  std::string rule;
  SECTION("a field added to the record") {
    auto record = Json::parse(t.log.get(6)->record);
    record["comment"] = "licenses before seq 4 are void";
    sql = "UPDATE entries SET record = '" + canonical_json(record) + "' WHERE seq = 6";
    rule = "must have exactly the fields";
  }
  SECTION("an order named on it") {
    sql = "UPDATE entries SET order_id = 'ACME-1' WHERE seq = 6";
    rule = "order_id, license_id must be null";
  }
  SECTION("another algorithm named") {
    auto record = Json::parse(t.log.get(6)->record);
    record["alg"] = "rsa2048";
    sql = "UPDATE entries SET record = '" + canonical_json(record) + "' WHERE seq = 6";
    rule = "record.alg rsa2048 is not the algorithm of key " + key.key_id();
  }
  t.db.exec("DROP TRIGGER entries_no_update");
  t.db.exec(sql);
  rechain(t.db, 6);
  t.db.exec(
      "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries "
      "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END");
  const auto r = verify_database(t.path, trusting(key.public_key()));
  CHECK_FALSE(r.ok);
  CHECK(r.failed_seq == std::optional<std::int64_t>(6));
  CHECK_THAT(r.reason, Catch::Contains(rule));
  const auto why = refusal(t, {TempLog::note("next")}, signed_options(key));
  CHECK_THAT(why, Catch::StartsWith(bad_data()));
  CHECK_THAT(why, Catch::Contains("seq 6"));
  CHECK_THAT(why, Catch::Contains(rule));
}

TEST_CASE("a record rewritten out of canonical form by a holder of the checkpoint key fails verify at its seq",
          "[audit][verify][canonical]") {
  // The chain and a checkpoint signed by the key itself hold; only the form of
  // the record gives the rewrite away. A repeated key reads one way in
  // `signet audit log` and another in an auditor's json_extract.
  TempLog t;
  SoftEd25519 key;
  two_writes(t, key);
  std::string record, rule;
  SECTION("the same rewrite with a canonical record verifies: the forgery itself is sound") {
    record = R"({"text":"void"})";
  }
  SECTION("a key repeated") {
    record = R"({"text":"one","text":"void"})";
    rule = "the key \"text\" appears twice in one object at byte offset 14";
  }
  SECTION("white space") {
    record = R"({"text": "one"})";
    rule = "white space";
  }
  SECTION("a character escaped that canonical JSON writes as itself") {
    record = R"({"text":"\u006fne"})";
    rule = "writes as itself";
  }
  rewrite(t.db, [](const Entry& e) { return e.kind == "checkpoint"; },
          [&](Entry& e) {
            if (e.seq == 2) e.record = record;
          });
  forge_checkpoint(t.db, key, t.log.log_id());
  const auto r = verify_database(t.path, trusting(key.public_key()));
  if (rule.empty()) {
    CHECK(r.ok);
    CHECK(r.entries == 5);
  } else {
    CHECK_FALSE(r.ok);
    CHECK(r.failed_seq == std::optional<std::int64_t>(2));
    CHECK_THAT(r.reason, Catch::StartsWith("record is not in canonical JSON form: ") && Catch::Contains(rule));
  }
}

TEST_CASE("verify holds the entry count to the rows both ways", "[audit][verify]") {
  TempLog t;
  SoftEd25519 key;
  two_writes(t, key);
  t.db.exec("UPDATE audit_meta SET value = '4' WHERE key = 'entries'");
  const auto low = verify_database(t.path, trusting(key.public_key()));
  CHECK_FALSE(low.ok);
  CHECK(low.failed_seq == std::optional<std::int64_t>(5));
  CHECK_THAT(low.reason, Catch::Contains("the log recorded 4 entries but 6 are present"));
  CHECK_THAT(describe(low), !Catch::Contains("unprotected"));  // every entry is covered: the count is what fails
  {
    // An export carries the count the file records, so that it fails the same way.
    const auto file = t.dir / "low.jsonl";
    std::ofstream out(file, std::ios::binary);
    export_jsonl(t.db, out);
    out.close();
    const auto exported = verify_export(file, trusting(key.public_key()));
    CHECK_FALSE(exported.ok);
    CHECK(exported.failed_seq == std::optional<std::int64_t>(5));
  }
  t.db.exec("UPDATE audit_meta SET value = '7' WHERE key = 'entries'");
  const auto high = verify_database(t.path, trusting(key.public_key()));
  CHECK_FALSE(high.ok);
  CHECK(high.failed_seq == std::optional<std::int64_t>(7));
  CHECK_THAT(high.reason, Catch::Contains("recorded 7 entries but only 6"));
  t.db.exec("UPDATE audit_meta SET value = '6' WHERE key = 'entries'");
  CHECK(verify_database(t.path, trusting(key.public_key())).ok);
}

TEST_CASE("verify holds the file together beside its entries: indexes, tables and the entry count",
          "[audit][verify]") {
  TempLog t;
  SoftEd25519 key;
  two_writes(t, key);
  REQUIRE(verify_database(t.path, trusting(key.public_key())).ok);
  std::string rule;
  SECTION("an index rebuilt to leave an entry out, its text put back") {
    // Lookups through it would not see entry 2; every entry still verifies.
    t.db.exec("DROP INDEX entries_by_kind; CREATE INDEX entries_by_kind ON entries(kind, seq) WHERE seq <> 2; "
              "PRAGMA writable_schema=ON; "
              "UPDATE sqlite_master SET sql = 'CREATE INDEX entries_by_kind ON entries(kind, seq)' "
              "WHERE name = 'entries_by_kind'; PRAGMA writable_schema=OFF");
    rule = "row 2 missing from index entries_by_kind";
  }
  SECTION("the metadata table replaced by a view") {
    t.db.exec("ALTER TABLE audit_meta RENAME TO meta_real; CREATE VIEW audit_meta AS SELECT * FROM meta_real");
    rule = "table audit_meta is a view";
  }
  SECTION("the entry count removed") {
    t.db.exec("DROP TRIGGER audit_meta_no_delete; DELETE FROM audit_meta WHERE key = 'entries'");
    rule = "audit_meta has no entry count";
  }
  SECTION("the entry count not a number") {
    t.db.exec("UPDATE audit_meta SET value = 'abc' WHERE key = 'entries'");
    rule = "audit_meta.entries holds 'abc', not an entry count";
  }
  SECTION("the entry count beyond 64 bits") {
    t.db.exec("UPDATE audit_meta SET value = '99999999999999999999999' WHERE key = 'entries'");
    rule = "not an entry count";
  }
  SECTION("the entries table rebuilt without STRICT, an issued entry's kind and order id BLOBs") {
    t.log.append({issued_by(key.key_id(), "HIDDEN-1")}, signed_options(key));
    REQUIRE(verify_database(t.path, trusting(key.public_key())).ok);
    rebuild_entries(t.db, kBlobbedIssue);
    rule = "table entries is not the STRICT rowid table signet makes";
  }
  SECTION("the metadata table rebuilt with another column") {
    t.db.exec("ALTER TABLE audit_meta ADD COLUMN note TEXT");
    rule = "table audit_meta does not have signet's columns";
  }
  const auto r = verify_database(t.path, trusting(key.public_key()));
  CHECK_FALSE(r.ok);
  CHECK_FALSE(r.failed_seq.has_value());
  CHECK_THAT(r.reason, Catch::Contains(rule));
  CHECK(r.entries == t.log.last()->seq);  // every entry held
  CHECK_THAT(describe(r), Catch::Contains(": FAILED: "));
  CHECK(to_json(r).at("failed_seq").is_null());
}

TEST_CASE("the Merkle frontier a new checkpoint extends is proven against the last signed root",
          "[audit][head]") {
  TempLog t;
  SoftEd25519 key;
  two_writes(t, key);
  std::vector<std::string> warnings;
  auto options = signed_options(key);
  options.warn = [&](const std::string& w) { warnings.push_back(w); };
  const auto trusted = trusting(key.public_key());
  auto stored_size = [&] {
    auto st = t.db.prepare("SELECT size FROM merkle_frontier WHERE id = 1");
    REQUIRE(st.step());
    return st.column_int(0);
  };
  // The stored frontier is that of the tree the last checkpoint signs.
  CHECK(stored_size() == 5);

  SECTION("a changed frontier node is rebuilt from the entries, with a warning; the root signed is right") {
    t.db.exec("UPDATE merkle_frontier SET nodes = json_set(nodes, '$[0]', '" + std::string(64, 'a') + "')");
    const auto r = t.log.append({TempLog::note("next")}, options);
    REQUIRE(r.size() == 2);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::Contains("merkle_frontier was changed outside signet"));
    CHECK(verify_database(t.path, trusted).ok);
  }
  SECTION("an old-format frontier (with the checkpoint's own leaf) is rebuilt without a warning") {
    Frontier all;
    read_entries(t.db, [&](const Entry& e) { all.append(leaf_hash(as_bytes(entry_encoding(e)))); });
    Json nodes = Json::array();
    for (const auto& n : all.nodes()) nodes.push_back(to_hex(n));
    auto st = t.db.prepare("UPDATE merkle_frontier SET size = 6, nodes = ? WHERE id = 1");
    st.bind(1, nodes.dump()).run();
    REQUIRE(t.log.append({TempLog::note("next")}, options).size() == 2);
    CHECK(warnings.empty());
    CHECK(stored_size() == 7);
    CHECK(verify_database(t.path, trusted).ok);
  }
  SECTION("a missing frontier is rebuilt") {
    t.db.exec("DELETE FROM merkle_frontier");
    REQUIRE(t.log.append({TempLog::note("next")}, options).size() == 2);
    CHECK(verify_database(t.path, trusted).ok);
  }
  SECTION("a changed entry with the frontier rebuilt to match it is refused") {
    t.db.exec("DROP TRIGGER entries_no_update");
    t.db.exec(R"(UPDATE entries SET record = '{"text":"nothing to see"}' WHERE seq = 5)");
    rechain(t.db, 5);
    t.db.exec(
        "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END");
    Frontier forged;
    read_entries(t.db, [&](const Entry& e) {
      if (e.seq <= 5) forged.append(leaf_hash(as_bytes(entry_encoding(e))));
    });
    Json nodes = Json::array();
    for (const auto& n : forged.nodes()) nodes.push_back(to_hex(n));
    auto st = t.db.prepare("UPDATE merkle_frontier SET nodes = ? WHERE id = 1");
    st.bind(1, nodes.dump()).run();
    const auto why = refusal(t, {TempLog::note("next")}, options);
    CHECK_THAT(why, Catch::StartsWith(bad_data()));
    CHECK_THAT(why, Catch::Contains("does not match its own last signed checkpoint (seq 6)"));
    CHECK_THAT(why, Catch::Contains("at or before seq 5 was changed outside signet"));
  }
  SECTION(
      "a changed entry the stored frontier does not show stays detectable: the next root extends the signed "
      "tree") {
    // Only the entry is changed (and re-chained): the stored frontier still has
    // the signed root, so the writer extends that tree, and verify still fails
    // at the checkpoint that covered the original entry.
    t.db.exec("DROP TRIGGER entries_no_update");
    t.db.exec(R"(UPDATE entries SET record = '{"text":"nothing to see"}' WHERE seq = 5)");
    rechain(t.db, 5);
    t.db.exec(
        "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END");
    REQUIRE(t.log.append({TempLog::note("next")}, options).size() == 2);
    const auto r = verify_database(t.path, trusted);
    CHECK_FALSE(r.ok);
    CHECK(r.failed_seq == std::optional<std::int64_t>(6));
  }
}

TEST_CASE("the head anchored in the HSM: created, moved forward only, and a cut-back log refused",
          "[audit][head][anchor]") {
  TempLog t;
  SoftEd25519 key;
  MemoryAnchor anchor;
  two_writes(t, key, &anchor);
  REQUIRE(anchor.head.has_value());
  CHECK(anchor.stores == 2);
  CHECK(anchor.head->log_id == t.log.log_id());
  CHECK(anchor.head->tree_size == 5);
  CHECK(anchor.head->root_hash == Json::parse(t.log.get(6)->record).at("root_hash"));

  SECTION("a tail cut back to an earlier checkpoint, with the entry count fixed too") {
    t.db.exec(
        "DROP TRIGGER entries_no_delete; DELETE FROM entries WHERE seq > 3; "
        "UPDATE audit_meta SET value = '3' WHERE key = 'entries'");
    t.db.exec(
        "CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END");
    REQUIRE(verify_database(t.path, trusting(key.public_key())).ok);  // the file alone cannot show it
    const auto why = refusal(t, {TempLog::note("next")}, signed_options(key, &anchor));
    CHECK_THAT(why, Catch::StartsWith(bad_data()));
    CHECK_THAT(why, Catch::Contains("cut back outside signet"));
    CHECK_THAT(why, Catch::Contains("checkpoint of tree size 5"));
    CHECK_THAT(why, Catch::Contains("last checkpoint has tree size 2"));
    CHECK(anchor.head->tree_size == 5);
  }
  SECTION("an empty log where the HSM anchors a head") {
    TempLog other;
    other.db.exec("UPDATE audit_meta SET value = '" + t.log.log_id() + "' WHERE key = 'log_id'");
    Log relog(other.db);
    const auto before = other.all();
    CHECK_THROWS_WITH(relog.append({announce(key)}, signed_options(key, &anchor)),
                      Catch::Contains("the log has no checkpoint"));
    CHECK(other.all().empty());
  }
  SECTION("a log whose checkpoint at the anchored size is not the anchored one") {
    anchor.head->root_hash = std::string(64, 'b');
    const auto why = refusal(t, {TempLog::note("next")}, signed_options(key, &anchor));
    CHECK_THAT(why, Catch::Contains("rewritten outside signet"));
    CHECK_THAT(why, Catch::Contains("tree size 5 with root " + std::string(64, 'b')));
  }
  SECTION("an anchor another writer moved further is not moved back") {
    anchor.ahead = LogHead{.log_id = t.log.log_id(), .tree_size = 1000, .root_hash = std::string(64, 'c')};
    anchor.loads = 0;
    REQUIRE(t.log.append({TempLog::note("next")}, signed_options(key, &anchor)).size() == 2);
    CHECK(anchor.stores == 2);
    CHECK(anchor.head->tree_size == 5);
  }
  SECTION("an anchor that cannot be stored is a warning: the entries are committed") {
    anchor.fail_store = true;
    std::vector<std::string> warnings;
    auto options = signed_options(key, &anchor);
    options.warn = [&](const std::string& w) { warnings.push_back(w); };
    REQUIRE(t.log.append({TempLog::note("next")}, options).size() == 2);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::Contains("not anchored in the HSM"));
    CHECK_THAT(warnings[0], Catch::Contains("CKR_DEVICE_REMOVED"));
    CHECK(t.all().size() == 8);
    // The next write still accepts the log (it extends the anchored head) and anchors its own.
    anchor.fail_store = false;
    REQUIRE(t.log.append({TempLog::note("later")}, signed_options(key, &anchor)).size() == 2);
    CHECK(anchor.head->tree_size == 9);
  }
}

TEST_CASE("a checkpoint key must be announced in the log and not retired", "[audit][head]") {
  TempLog t;
  SoftEd25519 key;
  SECTION("a key no key_generated entry announces") {
    const auto why = refusal(t, {TempLog::note("x")}, signed_options(key));
    CHECK_THAT(why, Catch::StartsWith(bad_data()));
    CHECK_THAT(why, Catch::Contains("no key_generated entry"));
  }
  SECTION("an announcement of another public key") {
    SoftEd25519 other;
    auto lie = announce(other);
    lie.key_id = key.key_id();
    CHECK_THAT(refusal(t, {lie}, signed_options(key)), Catch::Contains("announces another public key"));
  }
  SECTION("a key retired in this append or before") {
    t.log.append({announce(key)}, signed_options(key));
    const auto why = refusal(t, {key_event("key_retired", key)}, signed_options(key));
    CHECK_THAT(why, Catch::StartsWith(std::to_string(static_cast<int>(ErrorKind::config)) + " "));
    CHECK_THAT(why, Catch::Contains("signs no more checkpoints"));
  }
  SECTION("a checkpoint without the HSM's keys is a programming error") {
    auto options = signed_options(key);
    options.trust.hsm_key = nullptr;
    CHECK_THROWS_WITH(t.log.append({announce(key)}, options), Catch::Contains("needs the HSM's keys"));
    CHECK(t.all().empty());
  }
}

TEST_CASE("verify: an issued or checkpoint entry needs a key announced before it and not retired",
          "[audit][verify]") {
  TempLog t;
  SoftEd25519 key, other;
  const auto options = [&] {
    VerifyOptions o;
    o.trusted_keys = {key.public_key(), other.public_key()};
    return o;
  }();
  SECTION("a checkpoint by a key no key_generated entry announces") {
    t.append_notes(1);
    forge_checkpoint(t.db, key, t.log.log_id());
    const auto r = verify_database(t.path, options);
    CHECK_FALSE(r.ok);
    CHECK(r.failed_seq == std::optional<std::int64_t>(2));
    CHECK_THAT(r.reason, Catch::Contains("checkpoint entry made by key " + key.key_id() +
                                         ", which has no earlier key_generated entry"));
  }
  SECTION("an issuance by a key no key_generated entry announces") {
    t.log.append({announce(other), issued_by(key.key_id(), "O-1")}, TempLog::options());
    forge_checkpoint(t.db, other, t.log.log_id());
    const auto r = verify_database(t.path, options);
    CHECK(r.failed_seq == std::optional<std::int64_t>(2));
    CHECK_THAT(r.reason, Catch::Contains("issued entry made by key " + key.key_id()));
  }
  SECTION("an issuance that names no key") {
    t.log.append({announce(other), issued_by(std::nullopt, "O-1")}, TempLog::options());
    forge_checkpoint(t.db, other, t.log.log_id());
    CHECK(verify_database(t.path, options).failed_seq == std::optional<std::int64_t>(2));
  }
  SECTION("an issuance after the key's key_retired entry") {
    t.log.append({announce(key), announce(other), issued_by(key.key_id(), "O-1"),
                  key_event("key_retired", key), issued_by(key.key_id(), "O-2")},
                 TempLog::options());
    forge_checkpoint(t.db, other, t.log.log_id());
    const auto r = verify_database(t.path, options);
    CHECK(r.failed_seq == std::optional<std::int64_t>(5));
    CHECK_THAT(r.reason, Catch::Contains("after its key_retired entry (seq 4)"));
  }
  SECTION("a checkpoint after the key's key_retired entry") {
    t.log.append({announce(key), key_event("key_retired", key)}, TempLog::options());
    forge_checkpoint(t.db, key, t.log.log_id());
    const auto r = verify_database(t.path, options);
    CHECK(r.failed_seq == std::optional<std::int64_t>(3));
    CHECK_THAT(r.reason, Catch::Contains("checkpoint entry made by key " + key.key_id() +
                                         " after its key_retired entry (seq 2)"));
  }
  SECTION("the checkpoint that closed its own retirement in the same write (Signet before this rule) holds") {
    const auto written = t.log.append({announce(key), key_event("key_retired", key)}, TempLog::options());
    forge_checkpoint(t.db, key, t.log.log_id(), written.back().at);
    CHECK(verify_database(t.path, options).ok);
    // The same key's next checkpoint does not.
    forge_checkpoint(t.db, key, t.log.log_id());
    const auto r = verify_database(t.path, options);
    CHECK(r.failed_seq == std::optional<std::int64_t>(4));
    CHECK_THAT(r.reason, Catch::Contains("after its key_retired entry (seq 2)"));
  }
  SECTION("the same log with the retirement's checkpoint made by another key holds") {
    t.log.append(
        {announce(key), announce(other), issued_by(key.key_id(), "O-1"), key_event("key_retired", key)},
        TempLog::options());
    forge_checkpoint(t.db, other, t.log.log_id());
    CHECK(verify_database(t.path, options).ok);
  }
}
