// The audit log from an auditor's side: verification, tampering behind Signet's
// back (with SQLite directly), the documented shell recipes, proofs, exports,
// the clock, and the air gap.
#include "appliance.hpp"

#include "signet/audit/log.hpp"
#include "signet/audit/merkle.hpp"
#include "signet/core/sqlite.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <unistd.h>

using nlohmann::json;
using signet::test::TestAppliance;

namespace {

// One signed log shared by the read-only tests: keys, the examples, the follow-ups.
TestAppliance& signed_log() {
  static TestAppliance app = [] {
    return TestAppliance("e2e-audit");
  }();
  static bool signed_once = [] {
    // Dated for today: the follow-ups supersede live licenses.
    const auto ex = signet::test::dated_examples(app.dir() / "examples");
    REQUIRE(app.signet({"sign", (ex / "orders").string(), "--out", "out", "--key", app.rsa_kid}).exit_code == 0);
    REQUIRE(app.signet({"sign", (ex / "followups").string(), "--out", "out", "--key", app.rsa_kid}).exit_code == 0);
    std::filesystem::create_directories(app.dir() / "keys");
    std::filesystem::copy_file(app.ed_pem, app.dir() / "keys" / (app.ed_kid + ".pem"));
    std::filesystem::copy_file(app.rsa_pem, app.dir() / "keys" / (app.rsa_kid + ".pem"));
    return true;
  }();
  (void)signed_once;
  return app;
}

std::vector<std::string> pubkeys(const TestAppliance& app) {
  return {"--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()};
}

// A copy of the log to tamper with, edited with the sqlite3 CLI (Signet bypassed).
std::filesystem::path tampered(const TestAppliance& app, const std::string& name, const std::string& sql) {
  const auto copy = app.dir() / (name + ".db");
  std::filesystem::copy_file(app.db(), copy, std::filesystem::copy_options::overwrite_existing);
  const auto r = app.shell("sqlite3 '" + copy.string() + "' \"" + sql + "\"");
  INFO(sql << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  return copy;
}

json verify_json(const TestAppliance& app, const std::filesystem::path& db, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"audit", "verify", "--db", db.string(), "--json"};
  for (const auto& k : pubkeys(app)) args.push_back(k);
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = app.signet(args);
  INFO(r.out << r.err);
  REQUIRE((r.exit_code == 0 || r.exit_code == 1));
  auto j = json::parse(r.out);
  CHECK((r.exit_code == 0) == j.at("ok").get<bool>());
  return j;
}

std::int64_t scalar(const TestAppliance& app, const std::string& sql, const std::filesystem::path& db = {}) {
  const auto r = app.shell("sqlite3 '" + (db.empty() ? app.db() : db).string() + "' \"" + sql + "\"");
  REQUIRE(r.exit_code == 0);
  return std::stoll(r.out);
}

// The fenced block after "<!-- recipe:NAME -->" in docs/audit-format.md.
std::string recipe(const std::string& name) {
  const auto doc = signet::test::read_file(signet::test::source_dir() / "docs/audit-format.md");
  const auto marker = doc.find("<!-- recipe:" + name + " -->");
  REQUIRE(marker != std::string::npos);
  const auto start = doc.find("```sh\n", marker) + 6;
  const auto end = doc.find("```\n", start);
  return doc.substr(start, end - start);
}

}  // namespace

TEST_CASE("audit verify passes on an honest log, read-only, without HSM or config", "[e2e][audit]") {
  auto& app = signed_log();
  signet::test::RunOptions bare;
  bare.env["SOFTHSM2_CONF"] = "/nonexistent/softhsm2.conf";
  bare.env["SIGNET_CONFIG"] = "/nonexistent/signet.toml";
  const auto before = std::filesystem::last_write_time(app.db());
  std::vector<std::string> args{"audit", "verify", "--db", app.db().string()};
  for (const auto& k : pubkeys(app)) args.push_back(k);
  const auto r = signet::test::signet(args, bare);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto entries = scalar(app, "SELECT COUNT(*) FROM entries");
  const auto checkpoints = scalar(app, "SELECT COUNT(*) FROM entries WHERE kind = 'checkpoint'");
  CHECK(r.out.find(std::to_string(entries) + " entries") != std::string::npos);
  CHECK(r.out.find(std::to_string(checkpoints) + " checkpoints") != std::string::npos);
  CHECK(std::filesystem::last_write_time(app.db()) == before);
  // Without --pubkey it says where the keys came from.
  const auto self = signet::test::signet({"audit", "verify", "--db", app.db().string()}, bare);
  CHECK(self.exit_code == 0);
  CHECK(self.out.find("not independent") != std::string::npos);
  // With only an unrelated key, the checkpoints fail.
  const auto other = app.signet({"audit", "verify", "--db", app.db().string(), "--pubkey",
                                 (signet::test::source_dir() / "tests/fixtures/product-server/mm_test_pubkey.pem").string()});
  CHECK(other.exit_code == 1);
  CHECK(other.err.find("not a trusted key") != std::string::npos);
}

TEST_CASE("tampering with the file behind Signet's back is detected at the right seq", "[e2e][audit][tamper]") {
  auto& app = signed_log();
  const auto n = scalar(app, "SELECT COUNT(*) FROM entries");
  const auto issued = scalar(app, "SELECT MIN(seq) FROM entries WHERE kind = 'issued'");
  struct Case {
    const char* name;
    std::string sql;
    std::int64_t seq;
  };
  const std::string no_update = "DROP TRIGGER entries_no_update; ";
  const std::string no_delete = "DROP TRIGGER entries_no_delete; ";
  const auto s = std::to_string(issued + 2);
  const Case cases[] = {
      {"actor changed", no_update + "UPDATE entries SET actor = 'mallory' WHERE seq = " + s, issued + 2},
      {"time changed", no_update + "UPDATE entries SET at = '2026-01-01T00:00:00.000Z' WHERE seq = " + s, issued + 2},
      {"seats in the record changed", no_update + "UPDATE entries SET record = replace(record, '\\\"seats\\\":', '\\\"seats\\\":1') WHERE seq = " + s, issued + 2},
      {"license id changed", no_update + "UPDATE entries SET license_id = 'aaaaaaaaaaaaaaaaaaaaaaaaaa' WHERE seq = " + s, issued + 2},
      {"kind changed", no_update + "UPDATE entries SET kind = 'note' WHERE seq = " + s, issued + 2},
      {"hash changed", no_update + "UPDATE entries SET hash = '" + std::string(64, 'a') + "' WHERE seq = " + s, issued + 2},
      {"entry deleted", no_delete + "DELETE FROM entries WHERE seq = " + s, issued + 2},
      {"entry inserted in the middle",
       "DROP TRIGGER entries_chain; " + no_update +
           "UPDATE entries SET seq = -seq WHERE seq >= " + s + "; UPDATE entries SET seq = 1 - seq WHERE seq < 0; "
           "INSERT INTO entries SELECT " + s + ", at, kind, actor, 'FORGED-1', 'forgedforgedforgedforgedfo', key_id, record, prev_hash, hash "
           "FROM entries WHERE seq = " + std::to_string(issued + 3),
       issued + 2},
      {"two entries swapped",
       no_update + "DROP INDEX entries_one_issue_per_license; CREATE TEMP TABLE a AS SELECT * FROM entries WHERE seq = " + s + "; CREATE TEMP TABLE b AS SELECT * FROM entries WHERE seq = " +
           std::to_string(issued + 4) + "; UPDATE entries SET (at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash) = "
           "(SELECT at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash FROM b) WHERE seq = " + s +
           "; UPDATE entries SET (at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash) = "
           "(SELECT at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash FROM a) WHERE seq = " + std::to_string(issued + 4),
       issued + 2},
      {"tail cut after the last checkpoint's entries (the last checkpoint removed)", no_delete + "DELETE FROM entries WHERE seq = " + std::to_string(n), n},
      {"tail cut before the last checkpoint", no_delete + "DELETE FROM entries WHERE seq >= " + std::to_string(n - 2), n - 2},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      const auto db = tampered(app, "tamper", c.sql);
      const auto r = verify_json(app, db);
      INFO(r.dump());
      CHECK(r.at("ok") == false);
      CHECK(r.at("failed_seq") == c.seq);
    }
  }
  SECTION("triggers refuse changes made without dropping them") {
    const auto copy = app.dir() / "plain.db";
    std::filesystem::copy_file(app.db(), copy, std::filesystem::copy_options::overwrite_existing);
    for (const std::string& sql : {std::string("UPDATE entries SET actor = 'x' WHERE seq = 1"), "DELETE FROM entries WHERE seq = " + std::to_string(n),
                                  "INSERT INTO entries SELECT seq + 5, at, kind, actor, order_id, license_id, key_id, record, hash, hash FROM entries WHERE seq = " + std::to_string(n)}) {
      const auto r = app.shell("sqlite3 '" + copy.string() + "' \"" + sql + "\"");
      CHECK(r.exit_code != 0);
      CHECK(r.err.find("audit log") != std::string::npos);
    }
    CHECK(verify_json(app, copy).at("ok") == true);
  }
  SECTION("the triggers edited with every entry left intact: the file, not an entry, fails") {
    const struct {
      const char* sql;
      const char* reason;
    } edits[] = {
        {"DROP TRIGGER entries_no_update", "trigger entries_no_update was dropped outside signet"},
        {"DROP TRIGGER entries_count; CREATE TRIGGER entries_count AFTER INSERT ON entries BEGIN SELECT 1; END",
         "trigger entries_count was changed outside signet"},
        {"CREATE TRIGGER swallow BEFORE INSERT ON entries WHEN NEW.kind = 'issued' BEGIN SELECT RAISE(IGNORE); END",
         "trigger signet did not make (swallow)"},
    };
    for (const auto& e : edits) {
      INFO(e.sql);
      const auto db = tampered(app, "schema", e.sql);
      const auto r = verify_json(app, db);
      CHECK(r.at("ok") == false);
      CHECK(r.at("failed_seq").is_null());
      CHECK(r.at("reason").get<std::string>().find(e.reason) != std::string::npos);
      const auto human = app.signet({"audit", "verify", "--db", db.string(), "--pubkey", app.ed_pem.string(),
                                     "--pubkey", app.rsa_pem.string()});
      CHECK(human.exit_code == 1);
      CHECK(human.err.find("FAILED: ") != std::string::npos);  // a verdict on the file, no seq named
      CHECK(human.err.find(e.reason) != std::string::npos);
    }
  }
}

TEST_CASE("a truncation that also fixes the entry count is caught by a checkpoint kept outside", "[e2e][audit][tamper]") {
  TestAppliance app("e2e-truncate");
  const auto ex = signet::test::source_dir() / "docs/examples";
  REQUIRE(app.signet({"sign", (ex / "orders").string(), "--out", "out", "--key", app.ed_kid}).exit_code == 0);
  REQUIRE(app.signet({"audit", "checkpoint", "--out", "held-outside.json"}).exit_code == 0);
  const auto n = scalar(app, "SELECT COUNT(*) FROM entries");
  // Cut back to an earlier checkpoint (a cut between checkpoints fails on its own).
  const auto cut = scalar(app, "SELECT MAX(seq) FROM entries WHERE kind = 'checkpoint' AND seq < " + std::to_string(n - 1));
  REQUIRE(cut > 0);
  // The tamperer makes the trigger again as Signet made it (a dropped one fails on its own).
  const std::string restore =
      "; CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries "
      "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END;";
  const auto db = tampered(app, "cut", "DROP TRIGGER entries_no_delete; DELETE FROM entries WHERE seq > " + std::to_string(cut) +
                                           "; UPDATE audit_meta SET value = '" + std::to_string(cut) + "' WHERE key = 'entries'" +
                                           restore);
  // From the file alone the shorter log is self-consistent...
  CHECK(verify_json(app, db).at("ok") == true);
  // ...but not with the checkpoint the auditor kept.
  const auto r = verify_json(app, db, {"--checkpoint", (app.dir() / "held-outside.json").string()});
  CHECK(r.at("ok") == false);
  CHECK(r.at("failed_seq") == cut + 1);
  // And the honest log passes with it.
  CHECK(verify_json(app, app.db(), {"--checkpoint", (app.dir() / "held-outside.json").string()}).at("ok") == true);

  // The held checkpoint covers entries 1..n-1 and was recorded as entry n: cut
  // only that entry (and fix the count), and every entry it covers is still
  // there. Signet records every checkpoint it signs, so its absence is the cut.
  const auto own = tampered(app, "cut-own", "DROP TRIGGER entries_no_delete; DELETE FROM entries WHERE seq = " +
                                                std::to_string(n) + "; UPDATE audit_meta SET value = '" +
                                                std::to_string(n - 1) + "' WHERE key = 'entries'" + restore);
  CHECK(verify_json(app, own).at("ok") == true);
  const auto held = verify_json(app, own, {"--checkpoint", (app.dir() / "held-outside.json").string()});
  CHECK(held.at("ok") == false);
  CHECK(held.at("failed_seq") == n);
  CHECK(held.at("reason").get<std::string>().find("is not recorded in the log") != std::string::npos);

  // A checkpoint file verify could not hold the log to is refused (65), not ignored.
  auto shaped = nlohmann::json::parse(signet::test::read_file(app.dir() / "held-outside.json"));
  if (shaped.contains("checkpoint")) shaped = shaped["checkpoint"];
  auto as_text = shaped;
  as_text["tree_size"] = std::to_string(shaped["tree_size"].get<std::int64_t>());
  auto as_float = shaped.dump();
  const auto size_text = "\"tree_size\":" + std::to_string(shaped["tree_size"].get<std::int64_t>());
  as_float.replace(as_float.find(size_text), size_text.size(), size_text + ".0");
  auto short_root = shaped;
  short_root["root_hash"] = "abc";
  const std::pair<std::string, std::string> unusable[] = {
      {"{}", "tree_size must be an unsigned integer"},
      {"[]", "not a JSON object"},
      {"\"x\"", "not a JSON object"},
      {as_text.dump(), "tree_size must be an unsigned integer"},
      {as_float, "tree_size must be an unsigned integer"},
      {short_root.dump(), "root_hash must be 64 lowercase hex digits"},
  };
  for (const auto& [text, rule] : unusable) {
    INFO(text);
    signet::test::write_file(app.dir() / "unusable.json", text);
    const auto refused = app.signet({"audit", "verify", "--db", db.string(), "--pubkey", app.ed_pem.string(),
                                     "--pubkey", app.rsa_pem.string(), "--checkpoint", "unusable.json"});
    CHECK(refused.exit_code == 65);
    CHECK(refused.err.find("unusable.json") != std::string::npos);
    CHECK(refused.err.find(rule) != std::string::npos);
  }
}

TEST_CASE("a chain rewritten consistently without the HSM's key fails at the checkpoint", "[e2e][audit][tamper]") {
  auto& app = signed_log();
  const auto copy = app.dir() / "rewritten.db";
  std::filesystem::copy_file(app.db(), copy, std::filesystem::copy_options::overwrite_existing);
  const auto target = scalar(app, "SELECT MIN(seq) FROM entries WHERE kind = 'issued'") + 1;
  const auto next_checkpoint = scalar(app, "SELECT MIN(seq) FROM entries WHERE kind = 'checkpoint' AND seq > " + std::to_string(target));
  for (const bool recompute_roots : {false, true}) {
    INFO("recompute roots: " << recompute_roots);
    std::filesystem::copy_file(app.db(), copy, std::filesystem::copy_options::overwrite_existing);
    {
      auto db = signet::Database::open(copy, signet::Database::Mode::read_write);
      db.exec("DROP TRIGGER entries_no_update; DROP TRIGGER entries_chain");
      std::vector<signet::audit::Entry> entries;
      signet::audit::read_entries(db, [&](const signet::audit::Entry& e) { entries.push_back(e); });
      std::string prev(signet::audit::kGenesisHash);
      signet::audit::Frontier frontier;
      for (auto& e : entries) {
        if (e.seq == target) {
          auto r = json::parse(e.record);
          r["payload"]["features"]["users"] = 999999;
          e.record = r.dump();
        }
        if (recompute_roots && e.kind == "checkpoint") {
          auto r = json::parse(e.record);
          r["root_hash"] = signet::audit::to_hex(frontier.root());
          e.record = r.dump();
        }
        e.prev_hash = prev;
        const auto encoding = signet::audit::entry_encoding(e);
        e.hash = signet::audit::entry_hash(prev, encoding);
        frontier.append(signet::audit::leaf_hash(signet::as_bytes(encoding)));
        prev = e.hash;
        auto st = db.prepare("UPDATE entries SET record = ?, prev_hash = ?, hash = ? WHERE seq = ?");
        st.bind(1, e.record).bind(2, e.prev_hash).bind(3, e.hash).bind(4, e.seq);
        st.run();
      }
    }
    const auto r = verify_json(app, copy);
    INFO(r.dump());
    CHECK(r.at("ok") == false);
    CHECK(r.at("failed_seq") == next_checkpoint);
    CHECK(r.at("reason").get<std::string>().find(recompute_roots ? "signature" : "root_hash") != std::string::npos);
  }
}

TEST_CASE("the documented shell recipes recompute the hashes, signatures and roots", "[e2e][audit][recipe]") {
  auto& app = signed_log();
  auto r = app.shell("bash -euo pipefail -c " + std::string("'") + "true' && cat > recipe-hashes.sh <<'EOF_RECIPE'\n" +
                     recipe("entry-hashes") + "EOF_RECIPE\nbash -eu recipe-hashes.sh");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  const auto n = scalar(app, "SELECT COUNT(*) FROM entries");
  CHECK(r.out.find("all " + std::to_string(n) + " entry hashes hold") != std::string::npos);

  r = app.shell("cat > recipe-sigs.sh <<'EOF_RECIPE'\n" + recipe("checkpoint-signatures") + "EOF_RECIPE\nbash -eu recipe-sigs.sh");
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("checkpoint signatures hold") != std::string::npos);

  const auto last_cp = scalar(app, "SELECT MAX(seq) FROM entries WHERE kind = 'checkpoint'");
  const auto size = scalar(app, "SELECT json_extract(record, '\\$.tree_size') FROM entries WHERE seq = " + std::to_string(last_cp));
  r = app.shell("cat > recipe-root.sh <<'EOF_RECIPE'\n" + recipe("merkle-root") + "EOF_RECIPE\nbash -eu recipe-root.sh " + std::to_string(size));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto root = app.shell("sqlite3 signet.db \"SELECT json_extract(record, '\\$.root_hash') FROM entries WHERE seq = " +
                              std::to_string(last_cp) + "\"");
  CHECK(r.out == root.out);

  // The recipe catches a changed field too.
  tampered(app, "recipe-tamper", "DROP TRIGGER entries_no_update; UPDATE entries SET actor = 'mallory' WHERE seq = 3");
  r = app.shell("sed 's/^db=signet.db/db=recipe-tamper.db/' recipe-hashes.sh > recipe-hashes-2.sh && bash -eu recipe-hashes-2.sh");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("entry 3 does not hold") != std::string::npos);

  // What the recipes hold besides the hashes, each on a copy changed with sqlite3.
  const auto run_on = [&](const std::string& script, const std::filesystem::path& db) {
    return app.shell("sed 's|^db=signet.db|db=" + db.string() + "|' " + script +
                     " > on-copy.sh && bash on-copy.sh");
  };
  struct Change {
    const char* name;
    std::string sql;
    const char* script;
    const char* expected;
  };
  const Change changes[] = {
      // An entry appended through the intact triggers after the last
      // checkpoint: no signature covers it, whatever its hash.
      {"recipe-tail",
       "INSERT INTO entries SELECT MAX(seq) + 1, '2030-01-01T00:00:00Z', 'revoked', 'x', NULL, NULL, "
       "NULL, '{}', "
       "(SELECT hash FROM entries ORDER BY seq DESC LIMIT 1), 'ff' FROM entries",
       "recipe-hashes.sh", "entries after the last checkpoint"},
      // An index rebuilt to leave the checkpoints out, its CREATE text put back.
      {"recipe-index",
       "DROP INDEX entries_by_kind; "
       "CREATE INDEX entries_by_kind ON entries(kind, seq) WHERE kind <> 'checkpoint'; "
       "PRAGMA writable_schema=ON; "
       "UPDATE sqlite_master SET sql = 'CREATE INDEX entries_by_kind ON entries(kind, "
       "seq)' WHERE name = 'entries_by_kind'; PRAGMA writable_schema=OFF",
       "recipe-hashes.sh", "integrity_check"},
      // A checkpoint naming a key by a path, not a key id.
      {"recipe-keypath",
       "DROP TRIGGER entries_no_update; "
       "UPDATE entries SET record = json_set(record, '$.key_id', '../keys/' || json_extract(record, "
       "'$.key_id')) WHERE seq = (SELECT MIN(seq) FROM entries WHERE kind = 'checkpoint')",
       "recipe-sigs.sh", "signed by a key that is not one of yours"},
  };
  for (const auto& c : changes) {
    INFO(c.name);
    r = run_on(c.script, tampered(app, c.name, c.sql));
    CHECK(r.exit_code != 0);
    CHECK(r.out.find(c.expected) != std::string::npos);
  }
  // No database at all is a failure, not "all 0 entry hashes hold", and none is created.
  r = run_on("recipe-hashes.sh", app.dir() / "no-such.db");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("entry hashes hold") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "no-such.db"));
}

TEST_CASE("inclusion proofs and consistency between exports", "[e2e][audit][proofs]") {
  auto& app = signed_log();
  const auto issued = scalar(app, "SELECT MIN(seq) FROM entries WHERE kind = 'issued'");
  auto r = app.signet({"audit", "prove", "--seq", std::to_string(issued), "--out", "proof.json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = app.signet({"audit", "verify-proof", "proof.json", "--pubkey", app.rsa_pem.string(), "--pubkey", app.ed_pem.string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("checkpoint signature verified") != std::string::npos);
  auto proof = json::parse(signet::test::read_file(app.dir() / "proof.json"));
  auto bad = proof;
  bad["path"][0] = std::string(64, '0');
  signet::test::write_file(app.dir() / "bad-proof.json", bad.dump());
  CHECK(app.signet({"audit", "verify-proof", "bad-proof.json", "--pubkey", app.rsa_pem.string(), "--pubkey",
                    app.ed_pem.string()}).exit_code == 1);
  bad = proof;
  auto entry = bad["entry"].get<std::string>();
  entry.replace(entry.find("\"actor\":\""), 9, "\"actor\":\"x");
  bad["entry"] = entry;
  signet::test::write_file(app.dir() / "bad-proof.json", bad.dump());
  CHECK(app.signet({"audit", "verify-proof", "bad-proof.json", "--pubkey", app.rsa_pem.string(), "--pubkey",
                    app.ed_pem.string()}).exit_code == 1);
  // Without a trusted key nothing about the proof's origin is verified: refused as a usage error.
  const auto bare = app.signet({"audit", "verify-proof", "proof.json"});
  CHECK(bare.exit_code == 64);
  CHECK(bare.err.find("--pubkey") != std::string::npos);
  // The checkpoint signature is checked against the given key.
  CHECK(app.signet({"audit", "verify-proof", "proof.json", "--pubkey",
                    (signet::test::source_dir() / "tests/fixtures/product-server/mm_test_pubkey.pem").string()}).exit_code == 1);
  // A seq the log does not have is a bad argument (65), not an unavailable token (69).
  CHECK(app.signet({"audit", "prove", "--seq", "100000"}).exit_code == 65);

  // Exports: JSONL verifies without the database; a later export is consistent with an earlier one.
  REQUIRE(app.signet({"audit", "export", "--format", "jsonl", "--out", "old.jsonl"}).exit_code == 0);
  std::vector<std::string> args{"audit", "verify", "--export", "old.jsonl"};
  for (const auto& k : pubkeys(app)) args.push_back(k);
  CHECK(app.signet(args).exit_code == 0);
  // An export's last line, a checkpoint entry, is a checkpoint held outside the log.
  REQUIRE(app.shell("tail -n 1 old.jsonl > held.json").exit_code == 0);
  const auto held_size =
      json::parse(signet::test::read_file(app.dir() / "held.json")).at("record").at("tree_size");
  auto held = verify_json(app, app.db(), {"--checkpoint", "held.json"});
  CHECK(held.at("ok") == true);
  // ...and holds the log to it: one whose checkpoint of that size has another root fails.
  auto other_root = json::parse(signet::test::read_file(app.dir() / "held.json"));
  other_root["record"]["root_hash"] = std::string(64, 'a');
  signet::test::write_file(app.dir() / "held-other.json", other_root.dump());
  held = verify_json(app, app.db(), {"--checkpoint", "held-other.json"});
  CHECK(held.at("ok") == false);
  INFO(held.dump());
  CHECK(held.at("failed_seq") == held_size.get<std::int64_t>());
  CHECK(held.at("reason").get<std::string>().find("external checkpoint") != std::string::npos);
  REQUIRE(app.signet({"audit", "checkpoint"}).exit_code == 0);
  REQUIRE(app.signet({"audit", "export", "--format", "jsonl", "--out", "new.jsonl"}).exit_code == 0);
  r = app.signet({"audit", "consistency", "old.jsonl", "new.jsonl", "--pubkey", app.rsa_pem.string(), "--pubkey", app.ed_pem.string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("consistent") != std::string::npos);
  // A forked history is not consistent: another appliance's log, or an edited export.
  TestAppliance other("e2e-fork");
  REQUIRE(other.signet({"audit", "export", "--format", "jsonl", "--out", (app.dir() / "other.jsonl").string()}).exit_code == 0);
  const auto consistent = [&](const std::string& old_export, const std::string& new_export) {
    std::vector<std::string> a{"audit", "consistency", old_export, new_export};
    for (const auto& k : pubkeys(app)) a.push_back(k);
    return app.signet(a);
  };
  CHECK(consistent("other.jsonl", "new.jsonl").exit_code == 1);
  auto text = signet::test::read_file(app.dir() / "old.jsonl");
  text.replace(text.find("\"actor\":\""), 9, "\"actor\":\"y");
  signet::test::write_file(app.dir() / "forked.jsonl", text);
  CHECK(consistent("forked.jsonl", "new.jsonl").exit_code == 1);
  // Without a trusted key, an extension signed by a key the newer export
  // announces itself would pass: refused as a usage error, as verify-proof is.
  r = app.signet({"audit", "consistency", "old.jsonl", "new.jsonl"});
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("--pubkey") != std::string::npos);
  // An export holds each line in canonical form: a line re-encoded with white
  // space (the same JSON value) is refused, naming the line.
  auto lines = signet::test::read_file(app.dir() / "old.jsonl");
  const auto second = lines.find('\n') + 1;
  lines.replace(lines.find("\"actor\":", second), 8, "\"actor\": ");
  signet::test::write_file(app.dir() / "spaced.jsonl", lines);
  args = {"audit", "verify", "--export", "spaced.jsonl"};
  for (const auto& k : pubkeys(app)) args.push_back(k);
  r = app.signet(args);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("spaced.jsonl:2: not in canonical JSON form: white space") != std::string::npos);
  args = {"audit", "verify", "--export", "forked.jsonl"};
  CHECK(app.signet(args).exit_code == 1);
  // CSV export: a header and one row per entry.
  REQUIRE(app.signet({"audit", "export", "--format", "csv", "--out", "log.csv"}).exit_code == 0);
  const auto csv = signet::test::read_file(app.dir() / "log.csv");
  CHECK(csv.starts_with("seq,at,kind,actor,order_id,license_id,key_id,record,prev_hash,hash\r\n"));
  CHECK(static_cast<std::int64_t>(std::count(csv.begin(), csv.end(), '\n')) == scalar(app, "SELECT COUNT(*) FROM entries") + 1);
}

TEST_CASE(
    "consistency holds the older export's last checkpoint entry, which no signed tree of that export covers",
    "[e2e][audit][proofs][tamper]") {
  TestAppliance app("e2e-consistency-tail");
  REQUIRE(app.signet({"audit", "export", "--format", "jsonl", "--out", "old.jsonl"}).exit_code == 0);
  const auto last = scalar(app, "SELECT MAX(seq) FROM entries");
  REQUIRE(scalar(app, "SELECT COUNT(*) FROM entries WHERE seq = " + std::to_string(last) +
                          " AND kind = 'checkpoint'") == 1);
  const auto consistent = [&](const std::string& new_export) {
    std::vector<std::string> a{"audit", "consistency", "old.jsonl", new_export};
    for (const auto& k : pubkeys(app)) a.push_back(k);
    return app.signet(a);
  };
  // Untouched, an export is consistent with itself, and the message counts entries.
  auto r = consistent("old.jsonl");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("extends the older one's " + std::to_string(last) + " entries") != std::string::npos);
  // The actor of the last checkpoint is covered by no signature: changed, with
  // its hash recomputed and the trigger put back, the next checkpoint seals
  // the change, and the proof between the two exports' trees alone holds.
  {
    auto db = signet::Database::open(app.db(), signet::Database::Mode::read_write);
    db.exec("DROP TRIGGER entries_no_update");
    signet::audit::Log log(db);
    auto e = *log.get(last);
    e.actor = "mallory";
    e.hash = signet::audit::entry_hash(e.prev_hash, signet::audit::entry_encoding(e));
    auto st = db.prepare("UPDATE entries SET actor = ?, hash = ? WHERE seq = ?");
    st.bind(1, e.actor).bind(2, e.hash).bind(3, e.seq).run();
    db.exec(
        "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries "
        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END");
  }
  r = app.signet({"audit", "checkpoint"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(app.signet({"audit", "export", "--format", "jsonl", "--out", "new.jsonl"}).exit_code == 0);
  r = consistent("new.jsonl");
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("its entry " + std::to_string(last) + " differs from the older log's") !=
        std::string::npos);
}

TEST_CASE("a checkpoint signature is held to the one base64 text signet writes", "[e2e][audit][tamper]") {
  auto& app = signed_log();
  // Line breaks inside the last checkpoint's signature decode to the same
  // bytes, but the shell recipe's `base64 -d` refuses them: so does verify.
  const auto last = scalar(app, "SELECT MAX(seq) FROM entries WHERE kind = 'checkpoint'");
  const auto copy = app.dir() / "crlf-sig.db";
  std::filesystem::copy_file(app.db(), copy, std::filesystem::copy_options::overwrite_existing);
  {
    auto db = signet::Database::open(copy, signet::Database::Mode::read_write);
    db.exec("DROP TRIGGER entries_no_update");
    signet::audit::Log log(db);
    auto e = *log.get(last);
    auto record = json::parse(e.record);
    auto sig = record["signature"].get<std::string>();
    sig.insert(20, "\r\n");
    record["signature"] = sig;
    e.record = signet::canonical_json(record);
    e.hash = signet::audit::entry_hash(e.prev_hash, signet::audit::entry_encoding(e));
    auto st = db.prepare("UPDATE entries SET record = ?, hash = ? WHERE seq = ?");
    st.bind(1, e.record).bind(2, e.hash).bind(3, e.seq).run();
  }
  const auto r = verify_json(app, copy);
  INFO(r.dump());
  CHECK(r.at("ok") == false);
  CHECK(r.at("failed_seq") == last);
  CHECK(r.at("reason").get<std::string>().find("not base64 as signet writes it") != std::string::npos);
}

TEST_CASE("audit log filters", "[e2e][audit]") {
  auto& app = signed_log();
  auto count = [&](std::vector<std::string> filter) {
    std::vector<std::string> args{"audit", "log", "--json"};
    args.insert(args.end(), filter.begin(), filter.end());
    const auto r = app.signet(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out).size();
  };
  CHECK(count({"--order", "ACME-2026-001"}) == 1);
  CHECK(count({"--order", "INITECH-2026-003"}) == 3);
  CHECK(count({"--channel", "reseller"}) == 3);
  CHECK(count({"--reseller", "carahsoft"}) == 2);
  CHECK(count({"--customer", "acme"}) == 2);
  CHECK(count({"--customer", "Globex Corporation"}) == 2);
  CHECK(count({"--kind", "issued", "--channel", "government"}) == 2);
  CHECK(count({"--kind", "key_generated"}) == 2);
  CHECK(count({"--until", "2000-01-01"}) == 0);
  CHECK(count({"--since", "2000-01-01", "--kind", "issued"}) == 12);
  CHECK(app.signet({"audit", "log", "--since", "yesterday"}).exit_code == 64);
  const auto table = app.signet({"audit", "log", "--kind", "issued"});
  CHECK(table.out.find("Acme Corporation enterprise x250 direct") != std::string::npos);
}

TEST_CASE("time only moves forward: a clock behind the log is refused (exit 78), one far ahead warned", "[e2e][audit][clock]") {
  TestAppliance app("e2e-clock");
  const auto before = scalar(app, "SELECT COUNT(*) FROM entries");
  const auto last_at = app.shell("sqlite3 signet.db \"SELECT at FROM entries ORDER BY seq DESC LIMIT 1\"").out;
  // Under AddressSanitizer, libfaketime's LD_PRELOAD comes before the ASan runtime: allow it.
  const std::string asan = "ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:verify_asan_link_order=0\" ";
  auto r = app.shell(asan + "faketime '2020-01-01 00:00:00' \"$SIGNET\" audit checkpoint");
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("2020-01-01") != std::string::npos);
  CHECK(r.err.find(last_at.substr(0, last_at.size() - 1)) != std::string::npos);
  CHECK(scalar(app, "SELECT COUNT(*) FROM entries") == before);
  r = app.shell(asan + "faketime -f '+3d' \"$SIGNET\" audit checkpoint");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("ahead of the last audit entry") != std::string::npos);
  CHECK(scalar(app, "SELECT COUNT(*) FROM entries") == before + 1);
  // Back to the real clock, which is now behind the faked entry: refused.
  r = app.signet({"audit", "checkpoint"});
  CHECK(r.exit_code == 78);
}

TEST_CASE("air gap: signing and verifying open no socket", "[e2e][airgap]") {
  if (signet::test::shell("strace -f -qq -o /dev/null true").exit_code != 0) {
    WARN("skipped: strace cannot trace here (ptrace not permitted)");
    return;
  }
  TestAppliance app("e2e-airgap");
  const auto ex = signet::test::source_dir() / "docs/examples/orders";
  // LeakSanitizer cannot run under ptrace: leaks are checked by the other tests.
  const auto r = app.shell("export ASAN_OPTIONS=\"${ASAN_OPTIONS:-}:detect_leaks=0\"; "
                           "strace -f -qq -e trace=socket,connect,bind,sendto,sendmsg,listen,accept -o trace.txt \"$SIGNET\" -q sign '" +
                           ex.string() + "' --out out && strace -f -qq -e trace=socket,connect,bind,sendto,sendmsg,listen,accept "
                           "-o trace2.txt \"$SIGNET\" -q audit verify && cat trace.txt trace2.txt");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  INFO("system calls seen: " << r.out);
  CHECK(r.out.find_first_not_of(" \n") == std::string::npos);
}

TEST_CASE("no output replaces the appliance's own files, and a bad --out changes nothing in the log", "[e2e][audit][outputs]") {
  TestAppliance app("own-files");
  const auto orders = (signet::test::source_dir() / "docs/examples/orders").string();
  REQUIRE(app.signet({"sign", orders, "--out", "out"}).exit_code == 0);
  const auto entries = scalar(app, "SELECT COUNT(*) FROM entries");
  std::filesystem::copy_file(app.db(), app.dir() / "kept-for-the-auditors.db");
  for (const std::string target : {"signet.db", "signet.toml", "pin", "kept-for-the-auditors.db", "signet.db-wal"}) {
    if (!std::filesystem::exists(app.dir() / target)) continue;
    const auto before = signet::test::read_file(app.dir() / target);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"audit", "export", "--format", "jsonl", "--out", target},
          std::vector<std::string>{"audit", "checkpoint", "--out", target},
          std::vector<std::string>{"audit", "export-revocations", "--out", target},
          std::vector<std::string>{"audit", "prove", "--seq", "1", "--out", target}}) {
      const auto r = app.signet(args);
      INFO(target << ": " << args[1] << ": " << r.err);
      CHECK(r.exit_code == 73);
      CHECK(r.err.find("never replaces") != std::string::npos);
    }
    CHECK(signet::test::read_file(app.dir() / target) == before);
  }
  // The database's -journal, -wal and -shm by name, whether SQLite has made them yet or not.
  for (const std::string target : {"signet.db-journal", "signet.db-wal", "signet.db-shm", "./signet.db-journal"}) {
    for (const std::string sub : {"checkpoint", "export-revocations"}) {
      const auto r = app.signet({"audit", sub, "--out", target});
      INFO(target << ": " << sub << ": " << r.err);
      CHECK(r.exit_code == 73);
      CHECK(r.err.find("never replaces") != std::string::npos);
    }
    const auto r = app.signet({"audit", "export", "--format", "jsonl", "--out", target});
    CHECK(r.exit_code == 73);
  }
  CHECK_FALSE(std::filesystem::exists(app.dir() / "signet.db-journal"));
  // A folder that does not exist: refused before the checkpoint is appended.
  for (const std::string sub : {"checkpoint", "export-revocations"}) {
    const auto r = app.signet({"audit", sub, "--out", "no-such-folder/x.json"});
    CHECK(r.exit_code == 73);
    CHECK(r.err.find("no-such-folder") != std::string::npos);
  }
  CHECK(scalar(app, "SELECT COUNT(*) FROM entries") == entries);
  const auto r = app.signet({"audit", "verify", "--db", app.db().string(), "--pubkey", app.ed_pem.string(), "--pubkey",
                             app.rsa_pem.string()});
  CHECK(r.exit_code == 0);
}

TEST_CASE("export-revocations signs no list read from a log edited outside Signet", "[e2e][audit][tamper][revocations]") {
  TestAppliance app("revocations-tamper");
  const auto orders = (signet::test::source_dir() / "docs/examples/orders").string();
  REQUIRE(app.signet({"sign", orders, "--out", "out"}).exit_code == 0);
  const auto license = app.shell("sqlite3 '" + app.db().string() +
                                 "' \"SELECT license_id FROM entries WHERE kind = 'issued' ORDER BY seq LIMIT 1\"");
  REQUIRE(license.exit_code == 0);
  const auto id = license.out.substr(0, 26);
  REQUIRE(app.signet({"revoke", id, "--reason", "chargeback"}).exit_code == 0);
  // An honest export: the list holds the license, and the export is closed by a checkpoint.
  const auto before = scalar(app, "SELECT COUNT(*) FROM entries");
  auto r = app.signet({"audit", "export-revocations", "--out", "rev.json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("checkpoint at seq " + std::to_string(before + 1)) != std::string::npos);
  CHECK(scalar(app, "SELECT COUNT(*) FROM entries WHERE kind = 'checkpoint' AND seq = " + std::to_string(before + 1)) == 1);
  CHECK(json::parse(signet::test::read_file(app.dir() / "rev.json")).at("revoked")[0].at("license_id") == id);
  // Someone with the file but not the token turns the revocation into a note.
  REQUIRE(app.shell("sqlite3 '" + app.db().string() +
                    "' \"DROP TRIGGER entries_no_update; UPDATE entries SET kind = 'note' WHERE kind = 'revoked'\"")
              .exit_code == 0);
  r = app.signet({"audit", "export-revocations", "--out", "rev2.json"});
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("entries_no_update") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "rev2.json"));
  // ...and puts the trigger back as Signet made it: the writer's own checks
  // (triggers, head, anchor) then hold, but the entries under the head do not.
  REQUIRE(app.shell("sqlite3 '" + app.db().string() +
                    "' \"CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries "
                    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END;\"")
              .exit_code == 0);
  const auto entries = scalar(app, "SELECT COUNT(*) FROM entries");
  r = app.signet({"audit", "export-revocations", "--out", "rev3.json"});
  INFO(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("the audit log does not verify (seq ") != std::string::npos);
  CHECK(r.err.find("no revocation list is signed from it") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "rev3.json"));
  CHECK(scalar(app, "SELECT COUNT(*) FROM entries") == entries);
}

TEST_CASE("a record nested 100,000 deep or not JSON at all: audit log, export and verify refuse it, none crashes",
          "[e2e][audit][tamper]") {
  auto& app = signed_log();
  const auto deep = tampered(app, "deep",
                             "DROP TRIGGER entries_no_update; UPDATE entries SET record = '{' || char(34) || 'a' || "
                             "char(34) || ':' || printf('%.*c', 100000, '[') || printf('%.*c', 100000, ']') || '}' "
                             "WHERE seq = 2");
  const auto not_json = tampered(app, "not-json",
                                 "DROP TRIGGER entries_no_update; UPDATE entries SET record = '{not json}' WHERE seq = 2");
  for (const auto& [db, rule] : {std::pair{deep, std::string("nested deeper than 32 levels")},
                                 std::pair{not_json, std::string("an object key should be here at byte offset 1")}}) {
    INFO(db);
    auto r = app.signet({"audit", "log", "--db", db.string(), "--json"});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("audit entry 2: the record is not canonical JSON (" + rule) != std::string::npos);
    const auto out = app.dir() / "refused-export.jsonl";
    r = app.signet({"audit", "export", "--db", db.string(), "--out", out.string()});
    CHECK(r.exit_code == 65);
    CHECK_FALSE(std::filesystem::exists(out));
    const auto v = verify_json(app, db);
    CHECK(v.at("ok") == false);
    CHECK(v.at("failed_seq") == 2);
    CHECK(v.at("reason").get<std::string>().find("record is not in canonical JSON form: " + rule) != std::string::npos);
  }
}

TEST_CASE("a copy on read-only media with a -wal file SQLite cannot read there is refused, not verified without it",
          "[e2e][audit][tamper][readonly]") {
  auto& app = signed_log();
  // A folder only root could write to, read as another user (root writes
  // everywhere, and SQLite would then make the -shm it needs); as a plain user,
  // a folder without write permission.
  const bool root = ::geteuid() == 0;
  const std::string as_reader = root ? "setpriv --reuid=65534 --regid=65534 --clear-groups " : "";
  if (root && app.shell("command -v setpriv").exit_code != 0) {
    WARN("setpriv is missing: the read-only case is not run");
    return;
  }
  const auto ro = std::filesystem::temp_directory_path() / ("signet-ro-" + std::to_string(::getpid()));
  std::filesystem::remove_all(ro);
  std::filesystem::create_directories(ro);
  const auto bin = ro / "signet";
  std::filesystem::copy_file(signet::test::signet_binary(), bin);
  std::filesystem::copy_file(app.rsa_pem, ro / "rsa.pem");
  std::filesystem::copy_file(app.ed_pem, ro / "ed.pem");
  // The copy is taken while a writer (here the sqlite3 CLI, changing seats in
  // an entry) still holds its -wal: the database file alone is the old log.
  const auto copy = app.shell(
      "cp signet.db t-wal.db && sqlite3 t-wal.db \"PRAGMA wal_autocheckpoint=0\" \"DROP TRIGGER entries_no_update\" "
      "\"UPDATE entries SET record = replace(record, '\\\"seats\\\":', '\\\"seats\\\":9') WHERE kind = 'issued'\" "
      "\".shell cp t-wal.db " + (ro / "signet.db").string() + " && cp t-wal.db-wal " + (ro / "signet.db-wal").string() + "\"");
  INFO(copy.err);
  REQUIRE(copy.exit_code == 0);
  REQUIRE(std::filesystem::file_size(ro / "signet.db-wal") > 0);
  REQUIRE_FALSE(std::filesystem::exists(ro / "signet.db-shm"));
  std::filesystem::permissions(ro, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec |
                                       std::filesystem::perms::group_read | std::filesystem::perms::group_exec |
                                       std::filesystem::perms::others_read | std::filesystem::perms::others_exec);
  for (const auto& f : {"signet.db", "signet.db-wal", "rsa.pem", "ed.pem"})
    std::filesystem::permissions(ro / f, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                             std::filesystem::perms::group_read | std::filesystem::perms::others_read);
  const auto verify = "cd '" + ro.string() + "' && " + as_reader + "./signet audit verify --db signet.db --pubkey rsa.pem --pubkey ed.pem";
  auto r = app.shell(verify);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 66);
  CHECK(r.err.find("signet.db-wal holds") != std::string::npos);
  CHECK(r.err.find("read-only folder") != std::string::npos);
  CHECK(r.out.find("OK") == std::string::npos);
  // Without the -wal, the database file is the whole log, and it verifies there.
  std::filesystem::permissions(ro, std::filesystem::perms::owner_all, std::filesystem::perm_options::add);
  std::filesystem::remove(ro / "signet.db-wal");
  std::filesystem::copy_file(app.db(), ro / "signet.db", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(ro / "signet.db", std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  std::filesystem::permissions(ro, std::filesystem::perms::owner_write, std::filesystem::perm_options::remove);
  r = app.shell(verify);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(ro / "signet.db-shm"));
  // A rollback journal beside it is refused the same way: opened immutable,
  // SQLite would not play it back, and the bytes checked would not be the log.
  std::filesystem::permissions(ro, std::filesystem::perms::owner_all, std::filesystem::perm_options::add);
  std::filesystem::copy_file(app.db(), ro / "signet.db-journal");
  std::filesystem::permissions(ro / "signet.db-journal", std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  std::filesystem::permissions(ro, std::filesystem::perms::owner_write, std::filesystem::perm_options::remove);
  r = app.shell(verify);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 66);
  CHECK(r.err.find("signet.db-journal holds") != std::string::npos);
  CHECK(r.out.find("OK") == std::string::npos);
  std::filesystem::permissions(ro, std::filesystem::perms::owner_all, std::filesystem::perm_options::add);
  std::filesystem::remove_all(ro);
}
