// What writers trust: the key registry tables (outside the hash chain) only as
// far as the log and the HSM vouch for them; a key pair is never left in the
// token without its log entry; the database must be owner-only.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "appliance.hpp"
#include "signet/audit/log.hpp"
#include "signet/core/json.hpp"
#include "signet/core/sqlite.hpp"

using nlohmann::json;
using signet::test::date_in;
using signet::test::TestAppliance;

namespace {

void write_order(const TestAppliance& app, const std::string& id, int seats = 10) {
  const json o{
      {"manifest_version", 1},
      {"order_id", id},
      {"kind", "new"},
      {"channel", "direct"},
      {"customer", {{"id", "c-" + id}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
      {"sku", "enterprise"},
      {"seats", seats},
      {"starts_at", date_in(-30)},
      {"expires_at", date_in(335)}};
  signet::test::write_file(app.dir() / (id + ".json"), o.dump());
}

std::string query(const TestAppliance& app, const std::string& sql) {
  const auto r = app.shell("sqlite3 signet.db \"" + sql + "\"");
  INFO(sql << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

std::string entries(const TestAppliance& app) {
  return query(app, "SELECT COUNT(*) FROM entries");
}

// How many token objects carry this label, as pkcs11-tool (OpenSC) lists them.
std::size_t token_objects(const TestAppliance& app, const std::string& label) {
  const auto r = app.shell("pkcs11-tool --module '" + app.hsm().module_path() + "' --token-label '" +
                           app.hsm().token_label() + "' --login --pin " + app.hsm().user_pin() +
                           " --list-objects 2>/dev/null");
  REQUIRE(r.exit_code == 0);
  std::size_t n = 0;
  const auto needle = "label:      " + label + "\n";
  for (auto pos = r.out.find(needle); pos != std::string::npos; pos = r.out.find(needle, pos + 1)) ++n;
  return n;
}

// A shell script that re-signs LICENSE's payload with a new Ed25519 key of the
// attacker's (evil.key, evil.pem, evil.der; $kid its key id) into forged.license.
std::string forge_script(const std::string& license) {
  return R"sh(set -e
    openssl genpkey -algorithm ed25519 -out evil.key; openssl pkey -in evil.key -pubout -out evil.pem
    openssl pkey -pubin -in evil.pem -outform DER -out evil.der
    kid=$(sha256sum evil.der | cut -c1-64); printf '%s' "$kid" > evil.kid
    sed -n 2p )sh" + license + R"sh( > env.json
    payload=$(sed 's/.*"payload":"\([^"]*\)".*/\1/' env.json)
    pad=$payload; while [ $(( ${#pad} % 4 )) -ne 0 ]; do pad="$pad="; done
    printf '%s' "$pad" | basenc --base64url -d > payload.bin
    { printf 'signet-license-v1\n%s\n' "$kid"; cat payload.bin; } > msg
    openssl pkeyutl -sign -inkey evil.key -rawin -in msg -out sig.bin
    sig=$(basenc --base64url -w0 sig.bin | tr -d '=')
    { echo '-----BEGIN SIGNET LICENSE-----'
      printf '{"alg":"ed25519","kid":"%s","payload":"%s","sig":"%s","v":1}\n' "$kid" "$payload" "$sig"
      echo '-----END SIGNET LICENSE-----'; } > forged.license
  )sh";
}

}  // namespace

TEST_CASE("a retired key revived in the keys table signs nothing (65); the log decides", "[e2e][trust]") {
  TestAppliance app("e2e-revive");
  REQUIRE(app.signet({"key", "retire", app.ed_kid}).exit_code == 0);
  write_order(app, "R-1");
  auto r = app.signet({"sign", "R-1.json", "--out", "out", "--key", app.ed_kid});
  CHECK(r.exit_code == 78);
  query(app, "UPDATE keys SET state = 'active' WHERE key_id = '" + app.ed_kid + "'");
  const auto before = entries(app);
  r = app.signet({"sign", "R-1.json", "--out", "out", "--key", app.ed_kid});
  INFO(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("key " + app.ed_kid +
                   " is active in the key registry but the audit log retired it (seq ") != std::string::npos);
  CHECK(entries(app) == before);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out" / "R-1.license"));
  // A key whose registry row carries another public key is refused too.
  query(app, "UPDATE keys SET spki = (SELECT spki FROM keys WHERE key_id = '" + app.ed_kid +
                 "') WHERE key_id = '" + app.rsa_kid + "'");
  r = app.signet({"sign", "R-1.json", "--out", "out", "--key", app.rsa_kid});
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("is not the one its key_generated entry") != std::string::npos);
  // Nor is it exported for the product to embed.
  r = app.signet({"key", "export", app.rsa_kid});
  CHECK(r.exit_code == 65);
  CHECK(r.out.empty());
  CHECK(app.signet({"key", "export", app.ed_kid}).exit_code == 0);  // retired, but still the announced key
}

TEST_CASE(
    "order-desk keys are those the log trusts: a row added to or removed from desk_keys is refused (65)",
    "[e2e][trust]") {
  TestAppliance app("e2e-desk");
  REQUIRE(app.shell("openssl genpkey -algorithm ed25519 -out legit.key && openssl pkey -in legit.key -pubout "
                    "-out legit.pem && "
                    "openssl genpkey -algorithm ed25519 -out evil.key && openssl pkey -in evil.key -pubout "
                    "-out evil.pem")
              .exit_code == 0);
  REQUIRE(app.signet({"key", "trust-desk", "legit.pem"}).exit_code == 0);
  write_order(app, "EVIL-1", 999999);
  REQUIRE(
      app.shell("openssl pkeyutl -sign -inkey evil.key -rawin -in EVIL-1.json | base64 -w0 > EVIL-1.json.sig")
          .exit_code == 0);
  const auto evil_kid =
      app.shell("openssl pkey -pubin -in evil.pem -outform DER | sha256sum | cut -c1-64").out.substr(0, 64);
  SECTION("a desk key inserted into the table") {
    query(app, "INSERT INTO desk_keys VALUES('" + evil_kid + "', 'order-desk', X'" +
                   app.shell("openssl pkey -pubin -in evil.pem -outform DER | xxd -p | tr -d '\\n'").out +
                   "', '2026-01-01T00:00:00.000Z')");
    const auto before = entries(app);
    const auto r = app.signet({"sign", "EVIL-1.json", "--out", "out", "--key", app.rsa_kid});
    INFO(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("order-desk key " + evil_kid +
                     " is in the desk_keys table but has no desk_key_trusted entry") != std::string::npos);
    CHECK(entries(app) == before);
  }
  SECTION("the trusted desk key's row deleted") {
    query(app, "DELETE FROM desk_keys");
    const auto r = app.signet({"sign", "EVIL-1.json", "--out", "out", "--key", app.rsa_kid});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("is trusted by the audit log but missing from the desk_keys table") !=
          std::string::npos);
  }
  SECTION("untouched tables: the evil signature is refused as before") {
    const auto r = app.signet({"sign", "EVIL-1.json", "--out", "out", "--key", app.rsa_kid});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("does not verify with any trusted order-desk key") != std::string::npos);
  }
}

TEST_CASE("a key retired or given another algorithm only in the keys table: 65 naming it, the log decides",
          "[e2e][trust]") {
  TestAppliance app("e2e-keys-table");
  write_order(app, "T-1");
  const auto before = entries(app);
  query(app, "UPDATE keys SET state = 'retired' WHERE key_id = '" + app.ed_kid + "'");
  auto r = app.signet({"sign", "T-1.json", "--out", "out", "--key", app.ed_kid});
  INFO(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("key " + app.ed_kid + " is retired in the key registry but the audit log never retired it") !=
        std::string::npos);
  query(app, "UPDATE keys SET state = 'active', algorithm = 'rsa2048' WHERE key_id = '" + app.ed_kid + "'");
  r = app.signet({"sign", "T-1.json", "--out", "out", "--key", app.ed_kid});
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("key " + app.ed_kid + ": the key registry says rsa2048 but the key its key_generated entry") !=
        std::string::npos);
  CHECK(entries(app) == before);
  query(app, "UPDATE keys SET algorithm = 'ed25519' WHERE key_id = '" + app.ed_kid + "'");
  CHECK(app.signet({"sign", "T-1.json", "--out", "out", "--key", app.ed_kid}).exit_code == 0);
}

TEST_CASE(
    "signet verify without --pubkey trusts the keys the log announces, not a key only in the keys table",
    "[e2e][trust][verify]") {
  TestAppliance app("e2e-verify-keys");
  write_order(app, "V-1");
  REQUIRE(app.signet({"sign", "V-1.json", "--out", "out", "--key", app.ed_kid}).exit_code == 0);
  CHECK(app.signet({"verify", "out/V-1.license"}).exit_code == 0);
  // The same payload re-signed with a key of the attacker's, registered only in the table.
  const auto forged = app.shell(forge_script("out/V-1.license") + R"sh(
    sqlite3 signet.db "INSERT INTO keys VALUES('$kid', 'ed25519', 'pkcs11:object=evil', 'evil', '00', '2026-01-01T00:00:00.000Z', 'active', X'$(xxd -p evil.der | tr -d '\n')')"
  )sh");
  INFO(forged.err);
  REQUIRE(forged.exit_code == 0);
  REQUIRE(app.signet({"verify", "forged.license", "--pubkey", "evil.pem"}).exit_code ==
          0);  // a well-formed forgery
  const auto r = app.signet({"verify", "forged.license"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("INVALID") != std::string::npos);
}

TEST_CASE("signet verify without --pubkey trusts no key the log announces that the HSM does not hold",
          "[e2e][trust][verify]") {
  // Anyone who can write the file can append an entry through the triggers,
  // chained as they demand; only the token's own key pairs vouch for a key.
  TestAppliance app("e2e-verify-logged");
  write_order(app, "V-2");
  REQUIRE(app.signet({"sign", "V-2.json", "--out", "out", "--key", app.ed_kid}).exit_code == 0);
  const auto forged = app.shell(forge_script("out/V-2.license"));
  INFO(forged.err);
  REQUIRE(forged.exit_code == 0);
  const auto kid = signet::test::read_file(app.dir() / "evil.kid");
  {
    auto db = signet::Database::open(app.dir() / "signet.db", signet::Database::Mode::read_write);
    const signet::audit::Log log(db);
    const auto last = *log.last();
    signet::audit::Entry e{.seq = last.seq + 1, .at = last.at, .kind = "key_generated", .actor = "mallory",
                           .order_id = std::nullopt, .license_id = std::nullopt, .key_id = kid,
                           .record = signet::canonical_json(json{{"algorithm", "ed25519"}, {"hsm_id", "00"},
                                                                 {"label", "evil"},
                                                                 {"public_key", signet::test::read_file(app.dir() / "evil.pem")},
                                                                 {"token_uri", "pkcs11:object=evil"}}),
                           .prev_hash = last.hash, .hash = {}};
    e.hash = signet::audit::entry_hash(e.prev_hash, signet::audit::entry_encoding(e));
    auto st = db.prepare("INSERT INTO entries VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)");
    st.bind(1, e.seq).bind(2, e.at).bind(3, e.kind).bind(4, e.actor).bind(5, *e.key_id).bind(6, e.record)
        .bind(7, e.prev_hash).bind(8, e.hash);
    st.run();  // the triggers take it: seq and prev_hash are right
  }
  REQUIRE(app.signet({"verify", "forged.license", "--pubkey", "evil.pem"}).exit_code == 0);  // a well-formed forgery
  const auto r = app.signet({"verify", "forged.license"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("INVALID") != std::string::npos);
  // It says which keys it tried, and what to do for a key the HSM no longer holds.
  CHECK(r.err.find("keys of the appliance (the keys its log announces that its HSM holds; a key no longer in the "
                   "HSM must be given with --pubkey)") != std::string::npos);
  CHECK(app.signet({"verify", "out/V-2.license"}).exit_code == 0);  // the appliance's own key still verifies
  // The entry is outside every checkpoint: audit verify names it.
  const auto audit = app.signet({"audit", "verify", "--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()});
  CHECK(audit.exit_code == 1);
  CHECK((audit.out + audit.err).find("FAILED at seq " + std::to_string(std::stoll(query(app, "SELECT MAX(seq) FROM entries"))))
        != std::string::npos);
}

TEST_CASE("key generate while another writer holds the log: exit 75, the new pair destroyed, a retry works",
          "[e2e][trust][keys]") {
  TestAppliance app("e2e-keygen-busy");
  const auto before = entries(app);
  const auto r = app.shell(
      "( echo 'BEGIN IMMEDIATE;'; sleep 8 ) | sqlite3 signet.db & sleep 1; "
      "\"$SIGNET\" key generate --alg ed25519 --label audit-2027; code=$?; wait; exit $code");
  INFO(r.err);
  CHECK(r.exit_code == 75);
  CHECK(r.err.find("the new key pair was destroyed in the token") != std::string::npos);
  CHECK(token_objects(app, "audit-2027") == 0);
  CHECK(entries(app) == before);
  CHECK(query(app, "SELECT COUNT(*) FROM keys WHERE label = 'audit-2027'") == "0\n");
  // The label is free: a retry generates, registers and logs the key.
  const auto again = app.signet({"key", "generate", "--alg", "ed25519", "--label", "audit-2027", "--json"});
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(token_objects(app, "audit-2027") == 2);  // its private and public halves
  const auto kid = json::parse(again.out).at("key_id").get<std::string>();
  CHECK(query(app, "SELECT COUNT(*) FROM entries WHERE kind = 'key_generated' AND key_id = '" + kid + "'") ==
        "1\n");
}

TEST_CASE(
    "a database group or others may write is refused (78, with the chmod); one they may read is warned about",
    "[e2e][trust][permissions]") {
  TestAppliance app("e2e-perms");
  write_order(app, "P-1");
  std::filesystem::permissions(app.db(),
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                   std::filesystem::perms::group_write | std::filesystem::perms::others_read |
                                   std::filesystem::perms::others_write | std::filesystem::perms::group_read);
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"sign", "P-1.json", "--out", "out"},
                                             {"key", "generate", "--alg", "ed25519", "--label", "x"},
                                             {"audit", "checkpoint"}}) {
    const auto r = app.signet(args);
    INFO(args[0] << ": " << r.err);
    CHECK(r.exit_code == 78);
    CHECK(r.err.find("mode 0666") != std::string::npos);
    CHECK(r.err.find("chmod 600 " + app.db().string()) != std::string::npos);
  }
  CHECK(token_objects(app, "x") == 0);
  // Readers still read (an auditor's copy need not be owner-only); a reader may
  // leave -wal and -shm files with the database's mode, which the refusal names too.
  CHECK(app.signet({"audit", "verify", "--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()})
            .exit_code == 0);
  // What the message says to run, then group-readable as `chmod 640 signet.db*` makes it.
  for (const auto* suffix : {"", "-wal", "-shm"}) {
    const auto file = app.db().string() + suffix;
    if (std::filesystem::exists(file))
      std::filesystem::permissions(file, std::filesystem::perms::owner_read |
                                             std::filesystem::perms::owner_write |
                                             std::filesystem::perms::group_read);
  }
  const auto r = app.signet({"sign", "P-1.json", "--out", "out"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("warning: " + app.db().string() + ": mode 0640 lets other users read") !=
        std::string::npos);
}
