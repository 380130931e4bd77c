// Text from order desks, officers and license files: control characters and
// invisible or bidirectional formatting characters are refused where Signet
// takes text in, and escaped wherever it prints text out.
#include "appliance.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using nlohmann::json;
using signet::test::TestAppliance;

namespace {

json order(const std::string& id) {
  return json{{"manifest_version", 1}, {"order_id", id}, {"kind", "new"}, {"channel", "direct"},
              {"customer", {{"id", "c-" + id}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
              {"sku", "enterprise"}, {"seats", 10}, {"starts_at", "2026-11-01"}, {"expires_at", "2027-11-01"}};
}

std::string license_id_of(const TestAppliance& app, const std::string& order_id) {
  const auto r = app.signet({"audit", "log", "--order", order_id, "--kind", "issued", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto entries = json::parse(r.out);
  REQUIRE(entries.size() == 1);
  return entries[0].at("license_id").get<std::string>();
}

}  // namespace

TEST_CASE("C1 controls and bidi overrides in a manifest, controls in notes, are refused (exit 65)", "[e2e][text]") {
  TestAppliance app("e2e-text-in");
  auto c1 = order("C1");
  c1["customer"]["name"] = "C\u009b31mRED\u0085\u202eevil";
  auto notes = order("N1");
  notes["notes"] = std::string("a\0b\x1b[2Jc", 8);
  auto ok = order("OK-1");
  ok["notes"] = "two lines:\n\tindented";
  ok["customer"]["name"] = "Zoë Ørsted";
  signet::test::write_file(app.dir() / "c1.json", c1.dump());
  signet::test::write_file(app.dir() / "n1.json", notes.dump());
  signet::test::write_file(app.dir() / "ok.json", ok.dump());
  auto r = app.signet({"sign", "c1.json", "n1.json", "ok.json", "--out", "out", "--key", app.ed_kid});
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("c1.json: order C1: /customer/name: must not contain control characters or invisible formatting "
                   "characters (U+009B at byte 1)") != std::string::npos);
  CHECK(r.err.find("n1.json: order N1: /notes: must not contain control characters or invisible formatting characters "
                   "other than newline and tab (U+0000 at byte 1)") != std::string::npos);
  CHECK(r.err.find("ok.json") == std::string::npos);
  r = app.signet({"sign", "ok.json", "--out", "out", "--key", app.ed_kid});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  // signet revoke --reason follows the rule of a manifest's reason.
  const auto lid = license_id_of(app, "OK-1");
  r = app.signet({"revoke", lid, "--reason", "\x1b[2J\x1b[32mnothing to see\x1b[0m"});
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("--reason: must not contain control characters or invisible formatting characters other than "
                   "newline and tab (U+001B at byte 0)") != std::string::npos);
  CHECK(app.signet({"revoke", lid, "--reason", "refund \u202eof"}).exit_code == 64);
  CHECK(app.signet({"revoke", lid, "--reason", "bad \xff UTF-8"}).exit_code == 64);
  r = app.signet({"revoke", lid, "--reason", "customer cancelled:\n\tticket 4711"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
}
