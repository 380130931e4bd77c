// The signet binary as a user runs it: init, key generate/list/export/retire,
// PIN handling and the HSM's failures, with their exit codes.
#include "appliance.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>

using signet::test::TestAppliance;
using nlohmann::json;

TEST_CASE("init, key generate, list and export work as a user would run them", "[e2e][keys]") {
  TestAppliance app("e2e-keys");
  const auto list = app.signet({"key", "list", "--json"});
  REQUIRE(list.exit_code == 0);
  const auto keys = json::parse(list.out);
  REQUIRE(keys.size() == 2);
  std::set<std::string> algs;
  for (const auto& k : keys) {
    algs.insert(k.at("algorithm").get<std::string>());
    CHECK(k.at("state") == "active");
    CHECK(k.at("token_uri").get<std::string>().starts_with("pkcs11:"));
  }
  CHECK(algs == std::set<std::string>{"ed25519", "rsa2048"});
  // The key id is the SHA-256 of the SubjectPublicKeyInfo DER, as OpenSSL computes it.
  for (const auto& [kid, pem] : {std::pair{app.ed_kid, app.ed_pem}, std::pair{app.rsa_kid, app.rsa_pem}}) {
    const auto r = app.shell("openssl pkey -pubin -in '" + pem.string() + "' -outform DER | openssl dgst -sha256 -r | cut -c1-64");
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == kid + "\n");
  }
  // DER export equals the PEM's DER.
  const auto der = app.signet({"key", "export", app.rsa_kid.substr(0, 12), "--format", "der"});
  REQUIRE(der.exit_code == 0);
  const auto from_pem = app.shell("openssl pkey -pubin -in '" + app.rsa_pem.string() + "' -outform DER");
  CHECK(der.out == from_pem.out);
  // The human listing shows both.
  const auto human = app.signet({"key", "list"});
  CHECK(human.out.find(app.ed_kid) != std::string::npos);
  CHECK(human.out.find(app.rsa_kid) != std::string::npos);
  // The database is owner-only.
  CHECK((std::filesystem::status(app.db()).permissions() & std::filesystem::perms::group_all) == std::filesystem::perms::none);
  CHECK((std::filesystem::status(app.db()).permissions() & std::filesystem::perms::others_all) == std::filesystem::perms::none);
}

TEST_CASE("the private keys stay in the token: sensitive, not extractable", "[e2e][keys]") {
  TestAppliance app("e2e-attrs");
  // pkcs11-tool (OpenSC) lists the objects as the token reports them.
  const auto r = app.shell("pkcs11-tool --module '" + app.hsm().module_path() + "' --token-label e2e-attrs --login --pin " +
                           app.hsm().user_pin() + " --list-objects --type privkey");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("license-ed25519") != std::string::npos);
  CHECK(r.out.find("license-rsa2048") != std::string::npos);
  CHECK(r.out.find("Access:     sensitive, always sensitive, never extractable, local") != std::string::npos);
  // (That CKA_VALUE itself is refused is checked in tests/hsm against the token directly.)
}

TEST_CASE("a label taken by a key pair the log does not announce: refused (73), with what to do", "[e2e][keys]") {
  TestAppliance app("e2e-orphan");
  // What a `signet key generate` killed before its commit leaves: a pair in the token, nothing in the log.
  const auto made = app.shell("pkcs11-tool --module '" + app.hsm().module_path() + "' --token-label e2e-orphan --login --pin " +
                              app.hsm().user_pin() + " --keypairgen --key-type EC:edwards25519 --label orphan --id 0a0b");
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  auto r = app.signet({"key", "generate", "--alg", "ed25519", "--label", "orphan"});
  CHECK(r.exit_code == 73);
  CHECK_THAT(r.err, Catch::Contains("already has a key labelled 'orphan'"));
  CHECK_THAT(r.err, Catch::Contains("the audit log announces no key of that label"));
  // A label of one of the log's keys is refused without that note.
  r = app.signet({"key", "generate", "--alg", "ed25519", "--label", "license-ed25519"});
  CHECK(r.exit_code == 73);
  CHECK_THAT(r.err, Catch::Contains("already has a key labelled 'license-ed25519'"));
  CHECK(r.err.find("announces no key") == std::string::npos);
  CHECK(app.signet({"key", "generate", "--alg", "ed25519", "--label", "orphan-2"}).exit_code == 0);
}

TEST_CASE("key generation is logged and covered by a signed checkpoint", "[e2e][keys]") {
  TestAppliance app("e2e-keylog");
  const auto log = app.signet({"audit", "log", "--json"});
  REQUIRE(log.exit_code == 0);
  const auto entries = json::parse(log.out);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].at("kind") == "key_generated");
  CHECK(entries[0].at("key_id") == app.ed_kid);
  CHECK(entries[1].at("kind") == "checkpoint");
  CHECK(entries[2].at("key_id") == app.rsa_kid);
  const auto v = app.signet({"audit", "verify", "--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()});
  INFO(v.out << v.err);
  CHECK(v.exit_code == 0);
}

TEST_CASE("with signing.key empty, sign uses the one key that fits and refuses to guess between two (78)",
          "[e2e][keys][choice]") {
  TestAppliance app("e2e-key-choice");
  auto config = signet::test::read_file(app.dir() / "signet.toml");
  const std::string set = "\nkey = \"" + app.rsa_kid + "\"\n";
  REQUIRE(config.find(set) != std::string::npos);
  config.replace(config.find(set), set.size(), "\nkey = \"\"\n");
  signet::test::write_file(app.dir() / "signet.toml", config);
  const auto orders = (signet::test::source_dir() / "docs/examples/orders").string();
  const auto issued_keys = [&] {
    std::set<std::string> kids;
    for (const auto& e : json::parse(app.signet({"audit", "log", "--kind", "issued", "--json"}).out))
      kids.insert(e.at("key_id").get<std::string>());
    return kids;
  };

  // An Ed25519 and an RSA-2048 key are active: without --format either could sign.
  auto r = app.signet({"sign", orders, "--out", "out"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("2 active keys could sign") != std::string::npos);
  CHECK(r.err.find(app.ed_kid.substr(0, 16)) != std::string::npos);
  CHECK(r.err.find(app.rsa_kid.substr(0, 16)) != std::string::npos);
  CHECK(r.err.find("signing.key") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out"));
  CHECK(issued_keys().empty());

  // --format mattermost fits only the RSA-2048 key.
  r = app.signet({"sign", orders, "--out", "out", "--format", "mattermost"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(issued_keys() == std::set<std::string>{app.rsa_kid});

  // A second RSA-2048 key (a rotation begun): no longer one that fits.
  REQUIRE(app.signet({"key", "generate", "--alg", "rsa2048", "--label", "license-2027"}).exit_code == 0);
  r = app.signet({"sign", orders, "--out", "out2", "--format", "mattermost"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("2 active keys could sign for --format mattermost") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out2"));
}

TEST_CASE("a retired key signs nothing more, and its retirement is logged", "[e2e][keys]") {
  TestAppliance app("e2e-retire");
  REQUIRE(app.signet({"key", "retire", app.ed_kid}).exit_code == 0);
  const auto again = app.signet({"key", "retire", app.ed_kid});
  CHECK(again.exit_code == 65);
  const auto keys = json::parse(app.signet({"key", "list", "--json"}).out);
  for (const auto& k : keys) CHECK(k.at("state") == (k.at("key_id") == app.ed_kid ? "retired" : "active"));
  const auto sign = app.signet({"sign", (signet::test::source_dir() / "docs/examples/orders").string(), "--out", "out",
                                "--key", app.ed_kid});
  CHECK(sign.exit_code == 78);
  CHECK(sign.err.find("retired") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out"));
  const auto log = json::parse(app.signet({"audit", "log", "--kind", "key_retired", "--json"}).out);
  REQUIRE(log.size() == 1);
  CHECK(log[0].at("key_id") == app.ed_kid);
  const auto unknown = app.signet({"sign", (signet::test::source_dir() / "docs/examples/orders").string(), "--out", "out",
                                   "--key", "deadbeefdeadbeef"});
  CHECK(unknown.exit_code == 69);
  CHECK(unknown.err.find("deadbeefdeadbeef") != std::string::npos);
}

TEST_CASE("a key retirement is checkpointed by another key; the last active key cannot be retired (78)", "[e2e][keys]") {
  TestAppliance app("e2e-retire-last");
  auto sql = [&](const std::string& q) { return app.shell("sqlite3 signet.db \"" + q + "\"").out; };
  REQUIRE(app.signet({"key", "retire", app.ed_kid}).exit_code == 0);
  // A retired key signs nothing after its key_retired entry: the other key closes it.
  CHECK(sql("SELECT kind || ' ' || key_id FROM entries ORDER BY seq DESC LIMIT 1") == "checkpoint " + app.rsa_kid + "\n");
  CHECK(app.signet({"audit", "verify", "--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()}).exit_code == 0);
  const auto before = sql("SELECT COUNT(*) FROM entries");
  const auto r = app.signet({"key", "retire", app.rsa_kid});
  INFO(r.err);
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("is the last active key") != std::string::npos);
  CHECK(sql("SELECT COUNT(*) FROM entries") == before);
}

TEST_CASE("a PIN on the command line is refused and never echoed", "[e2e][pin]") {
  TestAppliance app("e2e-pinarg", false);
  const auto r = app.signet({"--pin", "987654", "key", "list"});
  CHECK(r.exit_code == 64);
  CHECK(r.err.find("987654") == std::string::npos);
  CHECK(r.out.find("987654") == std::string::npos);
  const auto r2 = app.signet({"key", "generate", "--alg", "ed25519", "--label", "x", "--pin=987654"});
  CHECK(r2.exit_code == 64);
}

TEST_CASE("PIN sources: fd, env, owner-only file; a readable file is refused", "[e2e][pin]") {
  TestAppliance app("e2e-pinsrc", false);
  signet::test::RunOptions fd;
  fd.extra_fds.emplace_back(5, app.hsm().user_pin() + "\n");
  CHECK(app.signet({"--pin-fd", "5", "key", "generate", "--alg", "ed25519", "--label", "via-fd"}, fd).exit_code == 0);
  signet::test::RunOptions env;
  env.env["SIGNET_TEST_PIN"] = app.hsm().user_pin();
  CHECK(app.signet({"--pin-env", "SIGNET_TEST_PIN", "key", "generate", "--alg", "ed25519", "--label", "via-env"}, env).exit_code == 0);
  signet::test::write_file(app.dir() / "open-pin", app.hsm().user_pin());
  std::filesystem::permissions(app.dir() / "open-pin", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                                            std::filesystem::perms::group_read | std::filesystem::perms::others_read);
  const auto open = app.signet({"--pin-file", "open-pin", "key", "generate", "--alg", "ed25519", "--label", "via-open-file"});
  CHECK(open.exit_code == 78);
  CHECK(open.err.find("open-pin") != std::string::npos);
  const auto missing = app.signet({"--pin-file", "no-such-pin", "key", "generate", "--alg", "ed25519", "--label", "x"});
  CHECK(missing.exit_code == 78);
  CHECK(missing.err.find("no-such-pin") != std::string::npos);
}

TEST_CASE("a wrong PIN is refused once, exit 77, and never retried", "[e2e][pin]") {
  TestAppliance app("e2e-wrongpin", false);
  signet::test::write_file(app.dir() / "wrong", "000000\n");
  std::filesystem::permissions(app.dir() / "wrong", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto r = app.signet({"--pin-file", "wrong", "key", "generate", "--alg", "ed25519", "--label", "x"});
  CHECK(r.exit_code == 77);
  CHECK(r.err.find("e2e-wrongpin") != std::string::npos);
  CHECK(r.err.find("CKR_PIN_INCORRECT") != std::string::npos);
  CHECK(r.err.find("000000") == std::string::npos);
  // The token counted exactly one failed login: its "user PIN count low" flag is set.
  const auto slots = app.shell("pkcs11-tool --module '" + app.hsm().module_path() + "' --list-token-slots");
  REQUIRE(slots.exit_code == 0);
  CHECK(slots.out.find("user PIN count low") != std::string::npos);
  CHECK(slots.out.find("user PIN locked") == std::string::npos);
  // The right PIN still works (the token was not locked).
  CHECK(app.signet({"key", "generate", "--alg", "ed25519", "--label", "after"}).exit_code == 0);
}

TEST_CASE("a missing module or an unknown token: exit 69 naming it", "[e2e][hsm]") {
  TestAppliance app("e2e-missing", false);
  auto config = signet::test::read_file(app.config());
  const auto module_line = config.find("module");
  REQUIRE(module_line != std::string::npos);
  auto bad_module = config;
  bad_module.replace(bad_module.find(app.hsm().module_path()), app.hsm().module_path().size(), "/nonexistent/libpkcs11.so");
  signet::test::write_file(app.dir() / "bad-module.toml", bad_module);
  auto r = app.signet({"--config", "bad-module.toml", "key", "generate", "--alg", "ed25519", "--label", "x"});
  CHECK(r.exit_code == 69);
  CHECK(r.err.find("/nonexistent/libpkcs11.so") != std::string::npos);
  auto bad_token = config;
  bad_token.replace(bad_token.find(app.hsm().token_uri()), app.hsm().token_uri().size(), "pkcs11:token=no-such-token");
  signet::test::write_file(app.dir() / "bad-token.toml", bad_token);
  r = app.signet({"--config", "bad-token.toml", "key", "generate", "--alg", "ed25519", "--label", "x"});
  CHECK(r.exit_code == 69);
  CHECK(r.err.find("pkcs11:token=no-such-token") != std::string::npos);
  // A malformed URI is a configuration error.
  auto bad_uri = config;
  bad_uri.replace(bad_uri.find(app.hsm().token_uri()), app.hsm().token_uri().size(), "pkcs11:token=%zz");
  signet::test::write_file(app.dir() / "bad-uri.toml", bad_uri);
  r = app.signet({"--config", "bad-uri.toml", "key", "generate", "--alg", "ed25519", "--label", "x"});
  CHECK(r.exit_code == 78);
}

TEST_CASE("init never overwrites an existing appliance", "[e2e][keys]") {
  TestAppliance app("e2e-reinit", false);
  const auto r = app.signet({"init", "--module", app.hsm().module_path(), "--token", app.hsm().token_uri()});
  CHECK(r.exit_code == 73);
}

TEST_CASE("the module can be named by its p11-kit registration instead of a path", "[e2e][hsm]") {
  TestAppliance app("e2e-p11kit", false);
  auto config = signet::test::read_file(app.config());
  config.replace(config.find(app.hsm().module_path()), app.hsm().module_path().size(), "softhsm2");
  signet::test::write_file(app.dir() / "by-name.toml", config);
  const auto r = app.signet({"--config", "by-name.toml", "key", "generate", "--alg", "ed25519", "--label", "via-p11-kit"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const auto unknown = app.signet({"--config", "by-name.toml", "key", "list"});
  CHECK(unknown.exit_code == 0);
  config.replace(config.find("softhsm2"), 8, "no-such-module");
  signet::test::write_file(app.dir() / "bad-name.toml", config);
  const auto bad = app.signet({"--config", "bad-name.toml", "key", "generate", "--alg", "ed25519", "--label", "x"});
  CHECK(bad.exit_code == 69);
  CHECK(bad.err.find("no-such-module") != std::string::npos);
}

TEST_CASE("p11-kit is opened only by commands that use a token; a broken p11-kit exits 69 naming it", "[e2e][hsm]") {
  TestAppliance app("e2e-p11kit-lazy", false);
  // A libp11-kit.so.0 without p11-kit's functions, found first through LD_LIBRARY_PATH.
  REQUIRE(app.shell("mkdir -p fakelib && printf 'int not_p11_kit(void) { return 0; }\\n' > fake.c && "
                    "cc -shared -fPIC -Wl,-soname,libp11-kit.so.0 -o fakelib/libp11-kit.so.0 fake.c")
              .exit_code == 0);
  signet::test::RunOptions broken;
  broken.env["LD_LIBRARY_PATH"] = (app.dir() / "fakelib").string();
  // Verifying with a public key file never touches p11-kit.
  const auto fixtures = signet::test::source_dir() / "tests/fixtures/product-server";
  const auto verified = app.signet({"verify", (fixtures / "mm_test_license.txt").string(), "--pubkey",
                                    (fixtures / "mm_test_pubkey.pem").string()},
                                   broken);
  INFO(verified.err);
  CHECK(verified.exit_code == 0);
  // A command that opens the token stops with the HSM's exit code and says why.
  const auto generated = app.signet({"key", "generate", "--alg", "ed25519", "--label", "lazy"}, broken);
  CHECK(generated.exit_code == 69);
  CHECK(generated.err.find("libp11-kit.so.0") != std::string::npos);
  CHECK(generated.err.find("p11_kit_module_load") != std::string::npos);
  CHECK(app.signet({"key", "list"}).out.find("lazy") == std::string::npos);  // nothing was registered
  // The same command with the system's p11-kit works.
  const auto again = app.signet({"key", "generate", "--alg", "ed25519", "--label", "lazy"});
  INFO(again.err);
  CHECK(again.exit_code == 0);
}

TEST_CASE("init finds signet.toml as every command does, refuses what they refuse, and writes nothing then",
          "[e2e][init]") {
  const auto dir = signet::test::temp_dir("signet-init");
  std::filesystem::create_directory(dir / "appliance");
  signet::test::RunOptions options;
  options.cwd = dir;
  options.env["SIGNET_CONFIG"] = (dir / "appliance" / "signet.toml").string();
  const std::vector<std::string> base = {"init", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token",
                                         "pkcs11:token=x", "--pin-source", "prompt"};
  auto r = signet::test::signet(base, options);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(std::filesystem::exists(dir / "appliance" / "signet.toml"));
  CHECK(std::filesystem::exists(dir / "appliance" / "signet.db"));
  CHECK_FALSE(std::filesystem::exists(dir / "signet.toml"));
  CHECK(signet::test::signet({"key", "list"}, options).exit_code == 0);

  options.env.erase("SIGNET_CONFIG");
  const auto attempt = [&](const std::string& config, std::vector<std::string> extra) {
    auto args = std::vector<std::string>{"--config", (dir / config).string(), "init", "--module",
                                         "/usr/lib/softhsm/libsofthsm2.so", "--pin-source", "prompt"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto result = signet::test::signet(args, options);
    CHECK_FALSE(std::filesystem::exists(dir / config));
    return result;
  };
  r = attempt("a.toml", {"--token", "pkcs11:token=x;slot-id=0"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("slot-id") != std::string::npos);
  r = attempt("b.toml", {"--database", "b.toml"});
  CHECK(r.exit_code == 64);
  r = attempt("c.toml", {"--database", "no-such-folder/x.db"});
  CHECK(r.exit_code == 73);
  CHECK(r.err.find("no-such-folder") != std::string::npos);

  // A configuration others may write is refused: it names the module loaded into signet.
  options.env["SIGNET_CONFIG"] = (dir / "appliance" / "signet.toml").string();
  std::filesystem::permissions(dir / "appliance" / "signet.toml", std::filesystem::perms::others_write,
                               std::filesystem::perm_options::add);
  r = signet::test::signet({"key", "list"}, options);
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("writable by others") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a key label the token would refuse, or holding control characters, is refused before the PIN (64)",
          "[e2e][keys][label]") {
  TestAppliance app("key-labels");
  for (const std::string& label :
       {std::string(65, 'a'), std::string("evil\x1b[2Jlabel"), std::string("a\xe2\x80\xae" "b")}) {
    // No PIN source can be read: a label refused first never gets that far.
    const auto r = app.signet({"--pin-env", "NO_SUCH_PIN_VARIABLE", "key", "generate", "--alg", "ed25519", "--label", label});
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("--label") != std::string::npos);
  }
  CHECK(json::parse(app.signet({"key", "list", "--json"}).out).size() == 2);
  CHECK(app.signet({"key", "generate", "--alg", "ed25519", "--label", std::string(64, 'b')}).exit_code == 0);
}

TEST_CASE("a malformed key id, a section given as a value, an empty $SIGNET_CONFIG, a --pin-fd that is not a number: "
          "each named, with its exit code",
          "[e2e][keys][config]") {
  TestAppliance app("config-mistakes");
  const auto original = signet::test::read_file(app.config());
  const auto edited = [&](const std::string& from, const std::string& to) {
    auto config = original;
    const auto at = config.find(from);
    REQUIRE(at != std::string::npos);
    config.replace(at, from.size(), to);
    return config;
  };
  // A key id in signet.toml is held to the form `key list` prints (78), not
  // looked up and reported as an unavailable key (69).
  for (const std::string field : {"key", "audit_key"}) {
    INFO(field);
    const std::string from = field == "key" ? "\nkey = \"" + app.rsa_kid + "\"\n" : "\naudit_key = \"\"\n";
    signet::test::write_file(app.config(), edited(from, "\n" + field + " = \"RSA-2048 key\"\n"));
    const auto r = app.signet({"key", "list"});
    CHECK(r.exit_code == 78);
    CHECK(r.err.find("signing." + field + ": a key id is 8 to 64 lowercase hex digits") != std::string::npos);
  }
  // [database] written as a value is not an "unknown section".
  auto config = original;
  const auto section = config.find("[database]\n");
  REQUIRE(section != std::string::npos);
  config.erase(section, config.find("\n\n", section) + 2 - section);
  signet::test::write_file(app.config(), "database = \"signet.db\"\n" + config);
  auto r = app.signet({"key", "list"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("database: must be a section ([database]), not a value") != std::string::npos);
  signet::test::write_file(app.config(), original);
  REQUIRE(app.signet({"key", "list"}).exit_code == 0);

  // On the command line a malformed key id is a usage error (64); a well-formed
  // one the registry lacks is a key that is not there (69).
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"key", "export", "NOT-A-KEY"}, {"key", "retire", "zz"}}) {
    r = app.signet(args);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("a key id is 8 to 64 lowercase hex digits") != std::string::npos);
  }
  CHECK(app.signet({"key", "export", "0123456789abcdef"}).exit_code == 69);

  // $SIGNET_CONFIG set but empty would fall back to ./signet.toml: refused.
  signet::test::RunOptions options;
  options.env["SIGNET_CONFIG"] = "";
  r = app.signet({"key", "list"}, options);
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("$SIGNET_CONFIG is set but empty") != std::string::npos);

  // A --pin-fd that is not a descriptor number may be the PIN typed in the wrong place: never echoed.
  for (const std::string value : {"1234abcd5678", "-1", "3 ", "99999999999"}) {
    r = app.signet({"--pin-fd", value, "key", "list"});
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("--pin-fd: takes a file descriptor number") != std::string::npos);
    CHECK(r.err.find(value) == std::string::npos);
  }
}
