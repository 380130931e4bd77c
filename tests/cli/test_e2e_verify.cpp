// signet verify and the product server: a license whose signature holds but that
// the server would still refuse (a payload of the wrong shape, a file over its
// 10,000-byte limit) exits 1 naming the field and the rule. The licenses here
// are made by a key of the test's own with the OpenSSL CLI, as a careless
// signer could make them; the vendor's own license keeps passing. A key the
// server reads only by folding its case is refused too, and a license out of
// its term (not started, or past its grace period) is shown so and not "valid".
#include "appliance.hpp"

#include "signet/core/bytes.hpp"
#include "signet/core/time.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using nlohmann::json;
using signet::test::TestAppliance;

namespace {

json vendor_payload() {
  const auto raw = *signet::base64_decode(
      signet::test::read_file(signet::test::source_dir() / "tests/fixtures/product-server/mm_test_license.txt"));
  return json::parse(std::string(raw.begin(), raw.end() - 256));
}

// A mattermost-encoded license of `payload` signed with foreign.key (RSA-2048,
// made by OpenSSL): base64(payload || RSASSA-PKCS1-v1_5-SHA512 signature). A
// signature ending in 0x00 would be cut by the server, so `payload` gets a
// "nonce" key (ignored by the server) until the signature does not end so.
// The payload as text (so that it may be JSON no serializer writes); the nonce
// goes before its last byte, the object's closing brace.
void foreign_mattermost_text(const TestAppliance& app, const std::string& name, const std::string& payload) {
  if (!std::filesystem::exists(app.dir() / "foreign.key"))
    REQUIRE(app.shell("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out foreign.key 2>/dev/null && "
                      "openssl pkey -in foreign.key -pubout -out foreign.pem")
                .exit_code == 0);
  for (int nonce = 0; nonce < 8; ++nonce) {
    const auto text =
        nonce == 0 ? payload
                   : payload.substr(0, payload.size() - 1) + ",\"nonce\":" + std::to_string(nonce) + "}";
    signet::test::write_file(app.dir() / "payload", text);
    REQUIRE(app.shell("openssl dgst -sha512 -sign foreign.key -out sig payload").exit_code == 0);
    const auto sig = signet::test::read_file(app.dir() / "sig");
    REQUIRE(sig.size() == 256);
    if (sig.back() == '\0') continue;
    REQUIRE(app.shell("cat payload sig | base64 -w0 > '" + name + "'").exit_code == 0);
    return;
  }
  FAIL("every signature ended in 0x00");
}

void foreign_mattermost(const TestAppliance& app, const std::string& name, const json& payload) {
  foreign_mattermost_text(app, name, payload.dump());
}

}  // namespace

TEST_CASE("--json: a refused license, a bad file and a bad option are JSON on stdout too", "[e2e][verify][json]") {
  TestAppliance app("verify-json");
  signet::test::write_file(app.dir() / "junk.license", "not a license\n");
  auto r = app.signet({"verify", "junk.license", "--pubkey", app.rsa_pem.string(), "--json"});
  CHECK(r.exit_code == 1);
  auto j = json::parse(r.out);
  CHECK(j.at("valid") == false);
  CHECK(j.at("signature_valid") == false);
  CHECK_FALSE(j.at("malformed").get<std::string>().empty());

  foreign_mattermost(app, "foreign.license", vendor_payload());
  r = app.signet({"verify", "foreign.license", "--pubkey", app.rsa_pem.string(), "--json"});
  CHECK(r.exit_code == 1);
  j = json::parse(r.out);
  CHECK(j.at("valid") == false);
  CHECK(j.at("signature_valid") == false);
  CHECK(j.at("encoding") == "mattermost");
  CHECK(j.at("keys_tried") == 1);

  r = app.signet({"verify", "no-such.license", "--pubkey", app.rsa_pem.string(), "--json"});
  CHECK(r.exit_code == 66);
  j = json::parse(r.out);
  CHECK(j.at("error") == "noinput");
  CHECK(j.at("exit_code") == 66);
  CHECK(j.at("message").get<std::string>().find("no-such.license") != std::string::npos);
  CHECK(r.err.find("no-such.license") != std::string::npos);

  r = app.signet({"audit", "verify", "--db", "", "--json"});
  CHECK(r.exit_code == 64);
  CHECK(json::parse(r.out).at("error") == "usage");
  // Without --json, stdout stays empty.
  r = app.signet({"verify", "no-such.license", "--pubkey", app.rsa_pem.string()});
  CHECK(r.exit_code == 66);
  CHECK(r.out.empty());
}

TEST_CASE("verify: a payload that is not strict JSON is malformed, and its signature is reported as it holds",
          "[e2e][verify][json]") {
  TestAppliance app("verify-strict-payload");
  // Go's json.Unmarshal would take the last "id"; which one was meant cannot be told.
  auto text = vendor_payload().dump();
  text.insert(text.size() - 1, ",\"id\":\"bbbbbbbbbbbbbbbbbbbbbbbbbb\"");
  foreign_mattermost_text(app, "dup.license", text);
  auto r = app.signet({"verify", "dup.license", "--pubkey", "foreign.pem", "--json"});
  CHECK(r.exit_code == 1);
  auto j = json::parse(r.out);
  CHECK(j.at("valid") == false);
  CHECK(j.at("signature_valid") == true);
  CHECK(j.at("encoding") == "mattermost");
  CHECK(j.at("malformed").get<std::string>().starts_with("payload: duplicate key \"id\""));
  CHECK_FALSE(j.contains("payload"));
  r = app.signet({"verify", "dup.license", "--pubkey", "foreign.pem"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("dup.license: INVALID: signature OK, but malformed license: payload: duplicate key") !=
        std::string::npos);
  // With a key that did not sign it, the signature is what fails.
  r = app.signet({"verify", "dup.license", "--pubkey", app.rsa_pem.string(), "--json"});
  CHECK(r.exit_code == 1);
  j = json::parse(r.out);
  CHECK(j.at("signature_valid") == false);
  CHECK(j.at("keys_tried") == 1);
}

TEST_CASE(
    "verify: non-zero bits before a mattermost license's padding are read as the product server reads them",
    "[e2e][verify][product]") {
  TestAppliance app("verify-padding-bits");
  // A payload whose file ends in one '=' (payload + signature = 2 mod 3 bytes).
  auto payload = vendor_payload();
  std::string file;
  for (int pad = 0; pad < 6 && !(file.size() >= 2 && file.back() == '=' && file[file.size() - 2] != '=');
       ++pad) {
    payload["padding"] = std::string(static_cast<std::size_t>(pad), 'x');
    foreign_mattermost(app, "padded.license", payload);
    file = signet::test::read_file(app.dir() / "padded.license");
  }
  REQUIRE(file.back() == '=');
  REQUIRE(file[file.size() - 2] != '=');
  auto r = app.signet({"verify", "padded.license", "--pubkey", "foreign.pem"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // The symbol before the '=' carries 4 bits of the last byte and 2 unused ones:
  // setting an unused bit changes the file, not the bytes the server decodes.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto& last = file[file.size() - 2];
  const auto value = alphabet.find(last);
  REQUIRE(value % 4 == 0);
  last = alphabet[value + 1];
  signet::test::write_file(app.dir() / "bits.license", file);
  REQUIRE(app.shell("base64 -d bits.license > bits.bin && base64 -d padded.license > padded.bin && cmp "
                    "bits.bin padded.bin")
              .exit_code == 0);
  r = app.signet({"verify", "bits.license", "--pubkey", "foreign.pem"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("signature OK") != std::string::npos);
  // Bytes that do change still fail.
  last = alphabet[(value + 4) % 64];
  signet::test::write_file(app.dir() / "changed.license", file);
  CHECK(app.signet({"verify", "changed.license", "--pubkey", "foreign.pem"}).exit_code == 1);
}

TEST_CASE("verify: a signature that holds on a license the product server would refuse exits 1 naming the field",
          "[e2e][verify][product]") {
  TestAppliance app("e2e-verify-product");
  // The well-shaped payload, signed by the foreign key: accepted with that key.
  foreign_mattermost(app, "good.license", vendor_payload());
  auto r = app.signet({"verify", "good.license", "--pubkey", "foreign.pem"});
  INFO(r.err);
  CHECK(r.exit_code == 0);

  auto users = vendor_payload();
  users["features"]["users"] = "200000";
  foreign_mattermost(app, "users.license", users);
  r = app.signet({"verify", "users.license", "--pubkey", "foreign.pem"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("users.license: signature OK, but the product server would refuse it: /features/users must be an integer") !=
        std::string::npos);
  CHECK(r.out.empty());
  r = app.signet({"verify", "users.license", "--pubkey", "foreign.pem", "--json"});
  CHECK(r.exit_code == 1);
  const auto j = json::parse(r.out);
  CHECK(j.at("valid") == false);
  CHECK(j.at("signature_valid") == true);
  CHECK(j.at("product_server_refuses")[0].at("pointer") == "/features/users");
  CHECK(j.at("product_server_refuses")[0].at("rule") == "must be an integer");

  auto several = vendor_payload();
  several["id"] = "short";
  several["is_trial"] = "yes";
  several.erase("customer");
  foreign_mattermost(app, "several.license", several);
  r = app.signet({"verify", "several.license", "--pubkey", "foreign.pem"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("would refuse it: /id must be 26 letters and digits") != std::string::npos);
  CHECK(r.err.find("would refuse it: /is_trial must be true or false") != std::string::npos);
  CHECK(r.err.find("would refuse it: /customer is required") != std::string::npos);

  // Over the server's 10,000 bytes: the signature holds, the server would not take the file.
  auto big = vendor_payload();
  big["padding"] = std::string(8000, 'x');
  foreign_mattermost(app, "big.license", big);
  REQUIRE(std::filesystem::file_size(app.dir() / "big.license") > 10'000);
  r = app.signet({"verify", "big.license", "--pubkey", "foreign.pem"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("signature OK, but the product server would refuse it: the license file is ") != std::string::npos);
  CHECK(r.err.find("the product server takes at most 10,000 bytes") != std::string::npos);

  // Dates at the ends of int64 are taken by the server; they are shown, not overflowed.
  auto far = vendor_payload();
  far["expires_at"] = std::numeric_limits<std::int64_t>::max();
  far["starts_at"] = std::numeric_limits<std::int64_t>::min();
  foreign_mattermost(app, "far.license", far);
  r = app.signet({"verify", "far.license", "--pubkey", "foreign.pem"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("9223372036854775807 ms (outside the years 0001 to 9999)") != std::string::npos);
  CHECK(r.out.find("-9223372036854775808 ms (outside the years 0001 to 9999)") != std::string::npos);

  // The vendor's own license still passes with the vendor's key, and not after any change.
  const auto vendor = signet::test::source_dir() / "tests/fixtures/product-server";
  r = app.signet({"verify", (vendor / "mm_test_license.txt").string(), "--pubkey", (vendor / "mm_test_pubkey.pem").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const auto text = signet::test::read_file(vendor / "mm_test_license.txt");
  for (std::size_t i = 0; i < text.size(); i += 97) {
    auto changed = text;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    signet::test::write_file(app.dir() / "changed.license", changed);
    INFO("changed at " << i);
    CHECK(app.signet({"verify", "changed.license", "--pubkey", (vendor / "mm_test_pubkey.pem").string()}).exit_code == 1);
  }
  // Folded into CRLF lines by a mail client or a Windows editor, no final line end:
  // the server (Go's base64, which skips every \r and \n) still reads it, so verify does.
  std::string folded;
  for (std::size_t i = 0; i < text.size(); i += 76) folded += text.substr(i, 76) + (i + 76 < text.size() ? "\r\n" : "\r");
  signet::test::write_file(app.dir() / "folded.license", folded);
  r = app.signet({"verify", "folded.license", "--pubkey", (vendor / "mm_test_pubkey.pem").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("verify: a key the product server reads only by folding its case is refused, naming the key and the field",
          "[e2e][verify][product]") {
  TestAppliance app("e2e-verify-folded");
  struct Case {
    const char* file;
    const char* from;  // the JSON pointer of the vendor's key
    const char* to;    // the same key, spelled otherwise
    const char* field;
  };
  // Each was shown as absent (trial no, expires -, seats -, government no) and --json said valid.
  static const Case cases[] = {{"trial.license", "/is_trial", "/IS_TRIAL", "is_trial"},
                               {"expires.license", "/expires_at", "/Expires_At", "expires_at"},
                               {"users.license", "/features/users", "/features/Users", "users"},
                               {"gov.license", "/is_gov_sku", "/Is_Gov_Sku", "is_gov_sku"},
                               {"kelvin.license", "/sku_short_name", "/s\u212Au_short_name", "sku_short_name"}};
  for (const auto& c : cases) {
    INFO(c.to);
    auto payload = vendor_payload();
    payload["is_gov_sku"] = true;
    payload = payload.patch(json::array({{{"op", "move"}, {"from", c.from}, {"path", c.to}}}));
    foreign_mattermost(app, c.file, payload);
    auto r = app.signet({"verify", c.file, "--pubkey", "foreign.pem"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find(std::string(c.file) + ": signature OK, but the product server would refuse it: " + c.to +
                     " is not spelled as the product's field " + c.field +
                     ": the product server reads it case-insensitively as " + c.field +
                     "; a license from Signet spells every key exactly") != std::string::npos);
    r = app.signet({"verify", c.file, "--pubkey", "foreign.pem", "--json"});
    CHECK(r.exit_code == 1);
    const auto j = json::parse(r.out);
    CHECK(j.at("valid") == false);
    CHECK(j.at("signature_valid") == true);
    REQUIRE(j.at("product_server_refuses").size() == 1);
    CHECK(j.at("product_server_refuses")[0].at("pointer") == c.to);
  }
  // Keys the server does not know keep being ignored, however they are spelled.
  auto unknown = vendor_payload();
  unknown["Deployment_ID"] = "d-1";
  unknown["NON_PRODUCTION"] = true;
  foreign_mattermost(app, "unknown.license", unknown);
  const auto r = app.signet({"verify", "unknown.license", "--pubkey", "foreign.pem"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("verify: a license whose term has not started, or whose grace period is over, is not valid",
          "[e2e][verify][term]") {
  TestAppliance app("e2e-verify-term");
  const auto day = [](int days) { return signet::now_utc() + std::chrono::days(days); };
  const auto starts = signet::format_date(day(30));
  json order{{"manifest_version", 1}, {"order_id", ""}, {"kind", "new"}, {"channel", "direct"},
             {"customer", {{"id", "c1"}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
             {"sku", "enterprise"}, {"seats", 10}, {"starts_at", starts}, {"expires_at", signet::format_date(day(400))}};
  // Both encodings carry the start: mattermost with the RSA key, signet with the Ed25519 key.
  for (const auto& [id, kid, pem] :
       {std::tuple{"LATER-RSA", app.rsa_kid, app.rsa_pem}, std::tuple{"LATER-ED", app.ed_kid, app.ed_pem}}) {
    INFO(id);
    order["order_id"] = id;
    signet::test::write_file(app.dir() / "later.json", order.dump());
    auto r = app.signet({"sign", "later.json", "--out", "out", "--key", kid});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto license = (app.dir() / "out" / (std::string(id) + ".license")).string();
    r = app.signet({"verify", license, "--pubkey", pem.string()});
    INFO(r.err);
    CHECK(r.exit_code == 0);  // the signature holds
    CHECK(r.out.find("signature OK") != std::string::npos);
    CHECK(r.out.find("  status      not yet valid (starts " + starts + "T00:00:00") != std::string::npos);
    CHECK(r.out.find("days left") == std::string::npos);
    r = app.signet({"verify", license, "--pubkey", pem.string(), "--json"});
    CHECK(r.exit_code == 0);
    const auto j = json::parse(r.out);
    CHECK(j.at("valid") == false);
    CHECK(j.at("signature_valid") == true);
    CHECK(j.at("status").get<std::string>().starts_with("not yet valid (starts " + starts));
  }
  const auto ms = [&](int days) { return signet::to_unix_ms(day(days)); };
  struct Case {
    const char* file;
    std::int64_t starts_at, expires_at;
    bool valid, in_grace;
    const char* status;
  };
  const Case cases[] = {
      {"running.license", ms(-30), ms(300), true, false, "valid, "},
      {"grace.license", ms(-400), ms(-3), true, true, "EXPIRED, in the 10-day grace period"},
      {"over.license", ms(-400), ms(-11), false, false, "EXPIRED, grace period over"},
      {"tomorrow.license", ms(1), ms(300), false, false, "not yet valid (starts "},
  };
  for (const auto& c : cases) {
    INFO(c.file);
    auto payload = vendor_payload();
    payload["starts_at"] = c.starts_at;
    payload["expires_at"] = c.expires_at;
    foreign_mattermost(app, c.file, payload);
    auto r = app.signet({"verify", c.file, "--pubkey", "foreign.pem", "--json"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    const auto j = json::parse(r.out);
    CHECK(j.at("valid") == c.valid);
    CHECK(j.at("signature_valid") == true);
    CHECK(j.at("in_grace_period") == c.in_grace);
    CHECK(j.at("status").get<std::string>().starts_with(c.status));
    r = app.signet({"verify", c.file, "--pubkey", "foreign.pem"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find(std::string("  status      ") + c.status) != std::string::npos);
  }
}

// Each command's options are built only when its name is on the command line
// (cli.hpp, add_command): a command must still run wherever it stands, after
// global options or next to a value that is another command's name, and help
// must still show every command and every option.
TEST_CASE(
    "a command runs wherever its name stands among the arguments, and help shows every command's options",
    "[e2e][verify][cli]") {
  TestAppliance app("e2e-verify-cli", false);
  const auto vendor = signet::test::source_dir() / "tests/fixtures/product-server";
  const auto license = (vendor / "mm_test_license.txt").string();
  const auto pubkey = (vendor / "mm_test_pubkey.pem").string();

  auto r = app.signet({"-q", "verify", license, "--pubkey", pubkey});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  r = app.signet({"--config", "sign", "verify", license, "--pubkey", pubkey});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("signature OK") != std::string::npos);
  r = app.signet({"verify", "sign", "--pubkey", pubkey});
  CHECK(r.exit_code == 66);
  CHECK(r.err.find("sign: cannot open the license file") != std::string::npos);
  r = app.signet({"--config", "verify", "bogus"});
  CHECK(r.exit_code == 64);

  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> helps{
      {{"--help"}, {"init", "key", "sign", "verify", "revoke", "audit", "--pin-fd", "--quiet"}},
      {{"verify", "--help"}, {"LICENSE", "--pubkey", "--json"}},
      {{"sign", "--help"}, {"PATH", "--out", "--key", "--format", "--dry-run", "--skip-invalid", "--json"}},
      {{"init", "--help"}, {"--module", "--token", "--pin-source", "--database"}},
      {{"revoke", "--help"}, {"LICENSE_ID", "--reason"}},
      {{"key", "--help"}, {"generate", "list", "export", "retire", "trust-desk"}},
      {{"key", "trust-desk", "--help"}, {"PEM", "--label"}},
      {{"audit", "--help"},
       {"verify", "log", "export", "checkpoint", "prove", "verify-proof", "consistency", "export-revocations",
        "report"}},
      {{"audit", "log", "--help"}, {"--order", "--customer", "--reseller", "--since", "--until"}},
      {{"audit", "report", "--help"}, {"--html", "--checkpoint", "--as-of"}},
      {{"audit", "export-revocations", "--help"}, {"--out"}},
  };
  for (const auto& [args, words] : helps) {
    r = app.signet(args);
    INFO(args.front() << " " << args.back() << ": " << r.out);
    CHECK(r.exit_code == 0);
    for (const auto& w : words) CHECK(r.out.find(w) != std::string::npos);
  }
}
