// A writer never launders a log changed behind its back. Someone with write
// access to the file but without the HSM rewrites, re-chains, cuts or rolls it
// back (with SQLite directly, triggers put back); the next `signet sign` refuses
// with exit 65 and a message naming what does not hold, and appends nothing.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "appliance.hpp"
#include "signet/audit/log.hpp"
#include "signet/audit/merkle.hpp"
#include "signet/core/bytes.hpp"
#include "signet/core/sqlite.hpp"

using nlohmann::json;
using signet::test::date_in;
using signet::test::TestAppliance;

namespace {

void write_order(const TestAppliance& app, const std::string& id) {
  const json o{
      {"manifest_version", 1},
      {"order_id", id},
      {"kind", "new"},
      {"channel", "direct"},
      {"customer", {{"id", "c-" + id}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
      {"sku", "enterprise"},
      {"seats", 10},
      {"starts_at", date_in(-30)},
      {"expires_at", date_in(335)}};
  signet::test::write_file(app.dir() / (id + ".json"), o.dump());
}

signet::test::RunResult sign(const TestAppliance& app, const std::string& id,
                             const std::string& out = "out") {
  write_order(app, id);
  return app.signet({"sign", id + ".json", "--out", out, "--key", app.ed_kid});
}

std::string query(const TestAppliance& app, const std::string& sql) {
  const auto r = app.shell("sqlite3 signet.db \"" + sql + "\"");
  INFO(sql << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

// What an append would change: the row count and the last hash.
std::string log_state(const TestAppliance& app) {
  return query(app,
               "SELECT COUNT(*) || ' ' || COALESCE((SELECT hash FROM entries ORDER BY seq DESC LIMIT 1), '') "
               "FROM entries");
}

signet::test::RunResult audit_verify(const TestAppliance& app) {
  return app.signet({"audit", "verify", "--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()});
}

// The next sign is refused with exit 65 and a message containing `why`; nothing is appended or written.
void next_sign_refused(const TestAppliance& app, const std::string& why) {
  const auto before = log_state(app);
  const auto r = sign(app, "NEXT-1", "after");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find(why) != std::string::npos);
  CHECK(r.err.find("nothing was appended") != std::string::npos);
  CHECK(log_state(app) == before);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "after" / "NEXT-1.license"));
}

// Rewrites the log without the HSM: drops the entries `drop` says, renumbers and
// re-chains the rest, fixes audit_meta's count, empties the frontier, and (when
// asked) puts the triggers back exactly as they were.
void rewrite(const TestAppliance& app, const std::function<bool(const signet::audit::Entry&)>& drop,
             bool restore_triggers) {
  auto db = signet::Database::open(app.db(), signet::Database::Mode::read_write);
  std::vector<std::string> triggers;
  {
    auto st = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'");
    while (st.step()) triggers.push_back(st.column_text(0));
  }
  std::vector<signet::audit::Entry> kept;
  signet::audit::read_entries(db, [&](const signet::audit::Entry& e) {
    if (!drop(e)) kept.push_back(e);
  });
  db.exec(
      "DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete; DROP TRIGGER entries_chain; "
      "DROP TRIGGER entries_count; DELETE FROM entries; DELETE FROM merkle_frontier");
  std::string prev(signet::audit::kGenesisHash);
  std::int64_t seq = 0;
  for (auto& e : kept) {
    e.seq = ++seq;
    e.prev_hash = prev;
    e.hash = signet::audit::entry_hash(prev, signet::audit::entry_encoding(e));
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
  if (restore_triggers)
    for (const auto& sql : triggers) db.exec(sql);
}

}  // namespace

TEST_CASE("a log rewritten and re-chained without the HSM, checkpoints removed: the next sign refuses (65)",
          "[e2e][writers][tamper]") {
  TestAppliance app("e2e-rewrite");
  for (const auto* id : {"GOOD-1", "SECRET-1", "GOOD-2"}) REQUIRE(sign(app, id).exit_code == 0);
  const auto drop = [](const signet::audit::Entry& e) {
    return e.kind == "checkpoint" || e.order_id == "SECRET-1";
  };
  SECTION("triggers put back") {
    rewrite(app, drop, true);
    const auto v = audit_verify(app);
    CHECK(v.exit_code == 1);
    CHECK(v.err.find("FAILED at seq 1") != std::string::npos);
    CHECK(v.err.find("no checkpoint at all") != std::string::npos);
    next_sign_refused(app, "entry 1 (key_generated, ");
    next_sign_refused(app, "extended or cut outside signet");
    CHECK(audit_verify(app).exit_code == 1);  // still visible to the auditor
  }
  SECTION("triggers left dropped") {
    rewrite(app, drop, false);
    next_sign_refused(app, "trigger entries_no_update was dropped outside signet");
  }
}

TEST_CASE(
    "a tail cut back to an earlier checkpoint, entry count fixed: the next sign refuses (65) naming both "
    "sizes",
    "[e2e][writers][tamper]") {
  TestAppliance app("e2e-cutback");
  for (const auto* id : {"T-1", "T-2", "T-3"}) REQUIRE(sign(app, id).exit_code == 0);
  const auto last_tree =
      query(app, "SELECT json_extract(record, '$.tree_size') FROM entries ORDER BY seq DESC LIMIT 1");
  const auto cut = std::stoll(query(app,
                                    "SELECT MAX(seq) FROM entries WHERE kind = 'checkpoint' AND seq < "
                                    "(SELECT seq FROM entries WHERE order_id = 'T-3')"));
  rewrite(
      app, [&](const signet::audit::Entry& e) { return e.seq > cut; }, true);
  // From the file alone the shorter log holds...
  CHECK(audit_verify(app).exit_code == 0);
  // ...but the HSM anchored the head of the last write.
  next_sign_refused(app, "cut back outside signet: the HSM anchors a checkpoint of tree size " +
                             last_tree.substr(0, last_tree.size() - 1));
  next_sign_refused(app, "the log's last checkpoint has tree size " + std::to_string(cut - 1));
}

TEST_CASE("the database file without its -wal (a committed write lost): the next sign refuses (65)",
          "[e2e][writers][tamper]") {
  TestAppliance app("e2e-wal");
  REQUIRE(sign(app, "A").exit_code == 0);
  std::filesystem::path main_only = app.dir() / "main-only.db";
  {
    // A reader holds its snapshot, so the next commit stays in signet.db-wal.
    auto reader = signet::Database::open(app.db(), signet::Database::Mode::read_only);
    signet::Transaction snapshot(reader, signet::Transaction::Kind::deferred);
    auto st = reader.prepare("SELECT COUNT(*) FROM entries");
    REQUIRE(st.step());
    REQUIRE(sign(app, "W-1").exit_code == 0);
    REQUIRE(std::filesystem::file_size(app.dir() / "signet.db-wal") > 0);
    std::filesystem::copy_file(app.db(), main_only);
  }
  std::filesystem::rename(main_only, app.db());
  std::filesystem::remove(app.dir() / "signet.db-wal");
  std::filesystem::remove(app.dir() / "signet.db-shm");
  REQUIRE(query(app, "SELECT COUNT(*) FROM entries WHERE order_id = 'W-1'") == "0\n");
  // A rerun of W-1 would issue a second license for it; it is refused instead.
  const auto r = app.signet({"sign", "W-1.json", "--out", "again", "--key", app.ed_kid});
  INFO(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("cut back outside signet") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "again" / "W-1.license"));
}

TEST_CASE("a changed merkle_frontier never reaches a signature; with a changed entry the sign refuses (65)",
          "[e2e][writers][tamper]") {
  TestAppliance app("e2e-frontier");
  REQUIRE(sign(app, "A").exit_code == 0);
  SECTION("the frontier alone: rebuilt from the entries, with a warning, and the log verifies") {
    query(app,
          "UPDATE merkle_frontier SET nodes = json_set(nodes, '\\$[0]', '" + std::string(64, 'a') + "')");
    const auto r = sign(app, "B");
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("merkle_frontier was changed outside signet") != std::string::npos);
    CHECK(audit_verify(app).exit_code == 0);
  }
  SECTION("an entry changed and the frontier rebuilt to match it") {
    {
      auto db = signet::Database::open(app.db(), signet::Database::Mode::read_write);
      db.exec("DROP TRIGGER entries_no_update");
      std::vector<signet::audit::Entry> entries;
      signet::audit::read_entries(db, [&](const signet::audit::Entry& e) { entries.push_back(e); });
      std::string prev(signet::audit::kGenesisHash);
      signet::audit::Frontier frontier;
      for (auto& e : entries) {
        if (e.order_id == "A") {
          auto r = json::parse(e.record);
          r["payload"]["features"]["users"] = 999999;
          e.record = r.dump();
        }
        e.prev_hash = prev;
        e.hash = signet::audit::entry_hash(prev, signet::audit::entry_encoding(e));
        prev = e.hash;
        if (e.seq < entries.back().seq)
          frontier.append(signet::audit::leaf_hash(signet::as_bytes(signet::audit::entry_encoding(e))));
        auto st = db.prepare("UPDATE entries SET record = ?, prev_hash = ?, hash = ? WHERE seq = ?");
        st.bind(1, e.record).bind(2, e.prev_hash).bind(3, e.hash).bind(4, e.seq).run();
      }
      json nodes = json::array();
      for (const auto& n : frontier.nodes()) nodes.push_back(signet::audit::to_hex(n));
      auto st = db.prepare("UPDATE merkle_frontier SET size = ?, nodes = ?");
      st.bind(1, static_cast<std::int64_t>(frontier.size())).bind(2, nodes.dump()).run();
      db.exec(
          "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries "
          "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END");
    }
    next_sign_refused(app, "does not match its own last signed checkpoint");
  }
}

TEST_CASE(
    "the head is anchored in the token: a private data object that moves forward, recreated when missing",
    "[e2e][writers][anchor]") {
  TestAppliance app("e2e-anchor");
  const auto log_id = query(app, "SELECT value FROM audit_meta WHERE key = 'log_id'");
  const auto label = "signet-audit-head:" + log_id.substr(0, log_id.size() - 1);
  const auto tool = "pkcs11-tool --module '" + app.hsm().module_path() +
                    "' --token-label e2e-anchor --login --pin " + app.hsm().user_pin();
  auto anchored = [&] {
    const auto r = app.shell(tool + " --read-object --type data --application-label signet --label " + label +
                             " 2>/dev/null");
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  };
  auto last_checkpoint = [&] {
    return json::parse(
        query(app, "SELECT record FROM entries WHERE kind = 'checkpoint' ORDER BY seq DESC LIMIT 1"));
  };
  // Two key generations so far: the anchor has the head of the second.
  CHECK(anchored().at("tree_size") == last_checkpoint().at("tree_size"));
  CHECK(anchored().at("root_hash") == last_checkpoint().at("root_hash"));
  REQUIRE(sign(app, "A").exit_code == 0);
  CHECK(anchored().at("tree_size") == last_checkpoint().at("tree_size"));
  CHECK(anchored().at("root_hash") == last_checkpoint().at("root_hash"));
  const auto listing = app.shell(tool + " --list-objects --type data 2>/dev/null");
  CHECK(listing.out.find("label:          '" + label + "'") != std::string::npos);
  CHECK(listing.out.find("modifiable private") != std::string::npos);
  // An appliance from before anchors has none: the next write creates it.
  REQUIRE(app.shell(tool + " --delete-object --type data --application-label signet --label " + label)
              .exit_code == 0);
  REQUIRE(app.signet({"audit", "checkpoint"}).exit_code == 0);
  CHECK(anchored().at("tree_size") == last_checkpoint().at("tree_size"));
  CHECK(audit_verify(app).exit_code == 0);
}

namespace {

// A FAT file system (as on a USB stick) mounted through FUSE in `dir`/fat, or
// nothing where this machine cannot (no /dev/fuse, no fusefat, not allowed).
class FatMount {
 public:
  explicit FatMount(const TestAppliance& app) : m_app(app) {
    m_ok = app.shell("truncate -s 32M fat.img && mkfs.vfat -F 32 fat.img >/dev/null 2>&1 && mkdir -p fat && "
                     "fusefat -o rw+ fat.img fat >/dev/null 2>&1 && touch fat/probe && rm fat/probe")
               .exit_code == 0;
  }
  ~FatMount() noexcept {
    try {
      m_app.shell("umount fat 2>/dev/null || fusermount -u fat 2>/dev/null || true");
    } catch (...) {  // a destructor does not throw: the mount goes with the temporary folder's machine
    }
  }
  FatMount(const FatMount&) = delete;
  FatMount& operator=(const FatMount&) = delete;
  [[nodiscard]] bool ok() const noexcept { return m_ok; }

 private:
  const TestAppliance& m_app;
  bool m_ok = false;
};

std::string case_order(const std::string& id, const std::string& customer) {
  return nlohmann::json{{"manifest_version", 1}, {"order_id", id}, {"kind", "new"}, {"channel", "direct"},
                        {"customer", {{"id", customer}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
                        {"sku", "enterprise"}, {"seats", 10}, {"starts_at", date_in(-30)}, {"expires_at", date_in(335)}}
             .dump();
}

}  // namespace

TEST_CASE("on a FAT stick, orders whose ids differ only in letter case are refused before signing; no license "
          "replaces another",
          "[e2e][writers][fat]") {
  TestAppliance app("e2e-fat");
  const FatMount fat(app);
  if (!fat.ok()) {
    WARN("no FAT file system can be mounted here (fusefat, /dev/fuse): case-insensitive folders not tested");
    return;
  }
  signet::test::write_file(app.dir() / "both.jsonl", case_order("CASE-x", "c-upper") + "\n" + case_order("case-X", "c-lower") + "\n");
  signet::test::write_file(app.dir() / "upper.json", case_order("CASE-x", "c-upper"));
  signet::test::write_file(app.dir() / "lower.json", case_order("case-X", "c-lower"));

  // One batch: refused whole (exit 65), naming the order, the field and the rule; nothing signed or logged.
  auto r = app.signet({"sign", "both.jsonl", "--out", "fat/out", "--key", app.ed_kid});
  INFO(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("case-X") != std::string::npos);
  CHECK(r.err.find("/order_id") != std::string::npos);
  CHECK(r.err.find("ignores letter case") != std::string::npos);
  CHECK(app.signet({"audit", "log", "--order", "CASE-x", "--json"}).out.find("issued") == std::string::npos);

  // Two batches: the second order's license would replace the first's file: refused.
  r = app.signet({"sign", "upper.json", "--out", "fat/out", "--key", app.ed_kid});
  REQUIRE(r.exit_code == 0);
  const auto first = signet::test::read_file(app.dir() / "fat/out/CASE-x.license");
  r = app.signet({"sign", "lower.json", "--out", "fat/out", "--key", app.ed_kid});
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("already holds CASE-x.license") != std::string::npos);
  CHECK(signet::test::read_file(app.dir() / "fat/out/CASE-x.license") == first);
  CHECK(signet::test::openssl_verifies_license(app.dir() / "fat/out/CASE-x.license", app.ed_pem));
  // Re-emitting the first order into the same folder still works, byte for byte.
  r = app.signet({"sign", "upper.json", "--out", "fat/out", "--key", app.ed_kid});
  CHECK(r.exit_code == 0);
  CHECK(signet::test::read_file(app.dir() / "fat/out/CASE-x.license") == first);

  // On a file system that keeps letter case the two are two files, as the contract allows.
  r = app.signet({"sign", "both.jsonl", "--out", "out", "--key", app.ed_kid});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(std::filesystem::exists(app.dir() / "out/CASE-x.license"));
  CHECK(std::filesystem::exists(app.dir() / "out/case-X.license"));
}
