// Text from order desks, officers and license files: control characters and
// invisible or bidirectional formatting characters are refused where Signet
// takes text in, and escaped wherever it prints text out.
#include "appliance.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "signet/core/bytes.hpp"

using nlohmann::json;
using signet::test::date_in;
using signet::test::TestAppliance;

namespace {

json order(const std::string& id) {
  return json{{"manifest_version", 1}, {"order_id", id}, {"kind", "new"}, {"channel", "direct"},
              {"customer", {{"id", "c-" + id}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
              {"sku", "enterprise"}, {"seats", 10}, {"starts_at", date_in(-30)}, {"expires_at", date_in(335)}};
}

std::string license_id_of(const TestAppliance& app, const std::string& order_id) {
  const auto r = app.signet({"audit", "log", "--order", order_id, "--kind", "issued", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto entries = json::parse(r.out);
  REQUIRE(entries.size() == 1);
  return entries[0].at("license_id").get<std::string>();
}

// True when `s` holds a byte of a control character or of a formatting
// character a terminal or a text renderer acts on (C0 but newline, DEL, C1
// in UTF-8, U+200B-U+206F and U+FEFF in UTF-8).
bool holds_raw_control(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b < 0x20 && b != '\n') || b == 0x7f) return true;
    if (b == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9f)
      return true;
    if (b == 0xe2 && i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) == 0x80 || static_cast<unsigned char>(s[i + 1]) == 0x81))
      return true;
    if (b == 0xef && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xbb && static_cast<unsigned char>(s[i + 2]) == 0xbf)
      return true;
  }
  return false;
}

// A license in the signet encoding over `payload`, signed by a key of the
// test's own (made and used with the OpenSSL CLI, not Signet): what a foreign or
// careless signer could hand an officer. Writes foreign.pem and NAME.
void foreign_license(const TestAppliance& app, const std::string& name, const std::string& payload) {
  REQUIRE(app.shell("openssl genpkey -algorithm ed25519 -out foreign.key 2>/dev/null && "
                    "openssl pkey -in foreign.key -pubout -out foreign.pem")
              .exit_code == 0);
  const auto kid = app.shell("openssl pkey -pubin -in foreign.pem -outform DER | sha256sum | cut -c1-64");
  REQUIRE(kid.exit_code == 0);
  const auto key_id = kid.out.substr(0, 64);
  signet::test::write_file(app.dir() / "msg", "signet-license-v1\n" + key_id + "\n" + payload);
  const auto sig = app.shell("openssl pkeyutl -sign -inkey foreign.key -rawin -in msg | basenc --base64url -w0 | tr -d =");
  REQUIRE(sig.exit_code == 0);
  const auto envelope = json{{"alg", "ed25519"}, {"kid", key_id}, {"payload", signet::base64url_encode(signet::as_bytes(payload))},
                             {"sig", sig.out}, {"v", 1}};
  signet::test::write_file(app.dir() / name,
                           "-----BEGIN SIGNET LICENSE-----\n" + envelope.dump() + "\n-----END SIGNET LICENSE-----\n");
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

TEST_CASE("audit log and verify print control characters of logged or licensed text escaped", "[e2e][text]") {
  TestAppliance app("e2e-text-out");
  signet::test::write_file(app.dir() / "a.json", order("A-1").dump());
  REQUIRE(app.signet({"sign", "a.json", "--out", "out", "--key", app.ed_kid}).exit_code == 0);
  // An entry written behind Signet's back (the triggers check only seq and
  // prev_hash) holding escape sequences, C1 controls and a bidi override.
  const auto forged = app.shell(
      "sqlite3 signet.db \"INSERT INTO entries(seq, at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash) "
      "SELECT seq + 1, '2026-12-01T00:00:00.000Z', 'revoked', 'eve' || char(27) || '[2J', 'O' || char(155) || '31m', "
      "'L' || char(8238) || 'x', NULL, json_object('reason', char(27) || ']0;pwned' || char(7) || 'ok' || char(10) || 'line'), "
      "hash, 'ff' FROM entries ORDER BY seq DESC LIMIT 1\"");
  INFO(forged.err);
  REQUIRE(forged.exit_code == 0);
  auto r = app.signet({"audit", "log"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(holds_raw_control(r.out));
  CHECK(r.out.find("eve\\u001b[2J") != std::string::npos);
  CHECK(r.out.find("O\\u009b31m") != std::string::npos);
  CHECK(r.out.find("L\\u202ex") != std::string::npos);
  CHECK(r.out.find("\\u001b]0;pwned\\u0007ok\\nline") != std::string::npos);
  r = app.signet({"audit", "log", "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(holds_raw_control(r.out));
  const auto entries = json::parse(r.out);
  CHECK(entries.back().at("order_id") == "O\u009b31m");  // the same value, escaped in the JSON text
  // audit verify names the forged entry; its message is escaped too.
  r = app.signet({"audit", "verify"});
  CHECK(r.exit_code == 1);
  CHECK_FALSE(holds_raw_control(r.out + r.err));

  // A license from another signer whose text holds controls: the signature
  // holds with that signer's key, and the terms are printed escaped.
  const std::string payload =
      json{{"id", "abcdefghijklmnopqrstuvwxyz"}, {"issued_at", 1795460781177}, {"starts_at", 1796083200000},
           {"expires_at", 1827619200000}, {"sku_name", "Enterprise\u202e"}, {"sku_short_name", "enterprise"},
           {"customer", {{"id", "c1"}, {"name", "C\u009b31mRED\u0085"}, {"email", "x@example.com"}, {"company", "\x1b[2JAcme"}}},
           {"features", {{"users", 10}}}, {"is_trial", false}, {"is_gov_sku", false}, {"channel", "direct\u2066"}}
          .dump();
  foreign_license(app, "foreign.license", payload);
  r = app.signet({"verify", "foreign.license", "--pubkey", "foreign.pem"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(holds_raw_control(r.out + r.err));
  CHECK(r.out.find("C\\u009b31mRED\\u0085") != std::string::npos);
  CHECK(r.out.find("\\u001b[2JAcme") != std::string::npos);
  CHECK(r.out.find("Enterprise\\u202e") != std::string::npos);
  CHECK(r.out.find("direct\\u2066") != std::string::npos);
  r = app.signet({"verify", "foreign.license", "--pubkey", "foreign.pem", "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(holds_raw_control(r.out));
  CHECK(json::parse(r.out).at("payload").at("customer").at("name") == "C\u009b31mRED\u0085");
}
