// Reruns re-emit committed licenses from the log: only what the HSM signed for
// that order, under the name Signet gives it, inside --out. A log edited
// outside Signet (triggers dropped, records rewritten with sqlite3) must not
// make a rerun write anything else, anywhere else.
#include "appliance.hpp"

#include "signet/audit/log.hpp"
#include "signet/core/sqlite.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using nlohmann::json;
using signet::test::date_in;
using signet::test::TestAppliance;

namespace {

json order(const std::string& id, const std::string& customer) {
  return json{{"manifest_version", 1}, {"order_id", id}, {"kind", "new"}, {"channel", "direct"},
              {"customer", {{"id", customer}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
              {"sku", "enterprise"}, {"seats", 10}, {"starts_at", date_in(-30)}, {"expires_at", date_in(335)}};
}

// Runs SQL against the appliance's log with its triggers out of the way, as an
// attacker with write access to the file would.
void tamper(const TestAppliance& app, const std::string& sql) {
  const auto r = app.shell("sqlite3 signet.db \"DROP TRIGGER entries_no_update; " + sql + "\"");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// Makes the issued entry of the order consistent with its (rewritten) columns
// again, as an attacker who knows the format would: its hash is recomputed.
void rehash(const TestAppliance& app, const std::string& order_id) {
  auto db = signet::Database::open(app.db(), signet::Database::Mode::read_write);
  signet::audit::Log log(db);
  const auto entries = log.issued_for_order(order_id);
  REQUIRE(entries.size() == 1);
  const auto hash = signet::audit::entry_hash(entries[0].prev_hash, signet::audit::entry_encoding(entries[0]));
  auto st = db.prepare("UPDATE entries SET hash = ? WHERE seq = ?");
  st.bind(1, hash).bind(2, entries[0].seq).run();
}

}  // namespace

TEST_CASE("a rerun re-emits only licenses the HSM signed for that order, under their own names", "[e2e][sign][tamper]") {
  TestAppliance app("e2e-reemit");
  signet::test::write_file(app.dir() / "a.json", order("REEMIT-A", "cust-a").dump());
  signet::test::write_file(app.dir() / "b.json", order("REEMIT-B", "cust-b").dump());
  for (const auto* f : {"a.json", "b.json"}) {
    const auto r = app.signet({"sign", f, "--out", "out", "--key", app.rsa_kid});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  const auto a_license = signet::test::read_file(app.dir() / "out/REEMIT-A.license");
  const auto outside = app.dir() / "outside.txt";

  SECTION("an untouched log re-emits byte for byte") {
    const auto r = app.signet({"sign", "a.json", "--out", "again"});
    REQUIRE(r.exit_code == 0);
    CHECK(signet::test::read_file(app.dir() / "again/REEMIT-A.license") == a_license);
  }
  SECTION("a file name from the log that leaves --out is refused") {
    tamper(app, "UPDATE entries SET record = json_set(record, '$.file', '/../../../../../../../../" + outside.string() +
                    "', '$.license', 'attacker content') WHERE kind = 'issued' AND order_id = 'REEMIT-A'");
    const auto r = app.signet({"sign", "a.json", "--out", "again"});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("REEMIT-A") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(outside));
    CHECK_FALSE(std::filesystem::exists(app.dir() / "again/REEMIT-A.license"));
  }
  SECTION("a changed entry whose hash no longer holds is refused") {
    tamper(app, "UPDATE entries SET record = json_set(record, '$.file', 'REEMIT-B.license') WHERE kind = 'issued' "
                "AND order_id = 'REEMIT-A'");
    const auto r = app.signet({"sign", "a.json", "--out", "again"});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("hash does not hold") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(app.dir() / "again/REEMIT-B.license"));
  }
  SECTION("another order's file name is refused even with the entry's hash made to hold") {
    tamper(app, "UPDATE entries SET record = json_set(record, '$.file', 'REEMIT-B.license') WHERE kind = 'issued' "
                "AND order_id = 'REEMIT-A'");
    rehash(app, "REEMIT-A");
    const auto r = app.signet({"sign", "a.json", "--out", "again"});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("file name is not REEMIT-A.license") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(app.dir() / "again/REEMIT-B.license"));
  }
  SECTION("another customer's genuine license swapped into the entry is refused") {
    tamper(app, "UPDATE entries SET record = json_set(record, '$.license', (SELECT json_extract(record, '$.license') "
                "FROM entries WHERE kind = 'issued' AND order_id = 'REEMIT-B')) WHERE kind = 'issued' AND order_id = "
                "'REEMIT-A'");
    rehash(app, "REEMIT-A");
    const auto r = app.signet({"sign", "a.json", "--out", "again"});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("is not license") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(app.dir() / "again/REEMIT-A.license"));
  }
  SECTION("a license no key of the HSM signed is refused") {
    tamper(app, "UPDATE entries SET record = json_set(record, '$.license', 'e30' || substr(json_extract(record, "
                "'$.license'), 4)) WHERE kind = 'issued' AND order_id = 'REEMIT-A'");
    rehash(app, "REEMIT-A");
    const auto r = app.signet({"sign", "a.json", "--out", "again"});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("REEMIT-A") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(app.dir() / "again/REEMIT-A.license"));
  }
}
