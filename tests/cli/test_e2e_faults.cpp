// How Signet fails: each fault gives a clear message and DESIGN.md's exit code,
// no license file exists without its issued entry, and the log still verifies.
#include "appliance.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/mount.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using nlohmann::json;
using signet::test::date_in;
using signet::test::TestAppliance;

namespace {

void write_orders(const std::filesystem::path& path, const std::string& prefix, int n) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    text += json{{"manifest_version", 1}, {"order_id", prefix + "-" + std::to_string(i)}, {"kind", "new"}, {"channel", "direct"},
                 {"customer", {{"id", "c" + std::to_string(i)}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
                 {"sku", "professional"}, {"seats", 5}, {"starts_at", date_in(-30)}, {"expires_at", date_in(335)}}
                .dump() +
            "\n";
  }
  signet::test::write_file(path, text);
}

std::int64_t issued(const TestAppliance& app) {
  const auto r = app.shell("sqlite3 signet.db \"SELECT COUNT(*) FROM entries WHERE kind = 'issued'\"");
  REQUIRE(r.exit_code == 0);
  return std::stoll(r.out);
}

// Every *.license file in dir is byte-identical to the license of its issued entry.
void every_file_has_its_entry(const TestAppliance& app, const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir)) return;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (e.path().extension() != ".license" || name.starts_with(".")) continue;
    const auto q = app.shell("sqlite3 signet.db \"SELECT json_extract(record, '$.license') FROM entries WHERE kind = 'issued' "
                             "AND json_extract(record, '$.file') = '" + name + "'\"");
    INFO(name);
    const auto text = signet::test::read_file(e.path());
    CHECK(q.out == text + "\n");
    // And the product's own check passes on it (OpenSSL, not Signet).
    CHECK(signet::test::openssl_verifies_license(e.path(), text.starts_with("-----BEGIN") ? app.ed_pem : app.rsa_pem));
  }
}

void log_verifies(const TestAppliance& app) {
  const auto v = app.signet({"audit", "verify", "--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()});
  INFO(v.out << v.err);
  CHECK(v.exit_code == 0);
}

// A tmpfs mounted for the test, where the machine allows it (root, CAP_SYS_ADMIN).
struct Mount {
  std::filesystem::path dir;
  bool ok = false;
  Mount(std::filesystem::path d, const std::string& options) : dir(std::move(d)) {
    std::filesystem::create_directories(dir);
    ok = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~Mount() noexcept {
    if (ok) ::umount2(dir.c_str(), MNT_DETACH);
  }
  Mount(const Mount&) = delete;  // one mount, one unmount
  Mount& operator=(const Mount&) = delete;
};

}  // namespace

TEST_CASE("a read-only output folder: exit 73 before anything is signed", "[e2e][faults]") {
  TestAppliance app("fault-readonly");
  write_orders(app.dir() / "b.jsonl", "RO", 5);
  Mount ro(app.dir() / "ro", "size=1m");
  if (!ro.ok) {
    WARN("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
    return;
  }
  REQUIRE(::mount(nullptr, ro.dir.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0);
  const auto before = issued(app);
  const auto r = app.signet({"sign", "b.jsonl", "--out", ro.dir.string()});
  CHECK(r.exit_code == 73);
  CHECK(r.err.find(ro.dir.string()) != std::string::npos);
  CHECK(issued(app) == before);
  log_verifies(app);
}

TEST_CASE("the output file system fills up: exit 73, committed licenses re-emitted by a rerun", "[e2e][faults]") {
  TestAppliance app("fault-full");
  write_orders(app.dir() / "b.jsonl", "FULL", 60);
  Mount full(app.dir() / "full", "size=32k");
  if (!full.ok) {
    WARN("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)");
    return;
  }
  const auto r = app.signet({"sign", "b.jsonl", "--out", full.dir.string(), "--key", app.rsa_kid, "--chunk", "20"});
  INFO(r.err);
  CHECK(r.exit_code == 73);
  CHECK(r.err.find("No space left on device") != std::string::npos);
  CHECK(r.err.find("run the same command again") != std::string::npos);
  every_file_has_its_entry(app, full.dir);
  log_verifies(app);
  // The rerun to a folder with room completes the batch; committed licenses come back byte for byte.
  const auto committed = issued(app);
  CHECK(committed > 0);
  const auto again = app.signet({"sign", "b.jsonl", "--out", "roomy", "--key", app.rsa_kid, "--json"});
  REQUIRE(again.exit_code == 0);
  CHECK(json::parse(again.out).at("already_issued") == committed);
  CHECK(issued(app) == 60);
  every_file_has_its_entry(app, app.dir() / "roomy");
}

TEST_CASE("a file-size limit (RLIMIT_FSIZE) is an error, not a kill", "[e2e][faults]") {
  TestAppliance app("fault-fsize");
  write_orders(app.dir() / "b.jsonl", "FS", 3);
  const auto before = issued(app);
  // 8 KiB: the database cannot grow, so the append fails and nothing is issued.
  const auto r = app.shell("ulimit -f 16 && \"$SIGNET\" sign b.jsonl --out out");
  INFO(r.err);
  CHECK((r.exit_code == 74 || r.exit_code == 73));
  CHECK(r.err.find("signet:") != std::string::npos);
  CHECK(issued(app) == before);
  every_file_has_its_entry(app, app.dir() / "out");
  log_verifies(app);
}

TEST_CASE("the database locked by another writer: exit 75, nothing changed", "[e2e][faults]") {
  TestAppliance app("fault-locked");
  write_orders(app.dir() / "b.jsonl", "LOCK", 5);
  const auto before = issued(app);
  const auto r = app.shell("( echo 'BEGIN IMMEDIATE;'; sleep 8 ) | sqlite3 signet.db & sleep 1; \"$SIGNET\" sign b.jsonl --out out; code=$?; wait; exit $code");
  INFO(r.err);
  CHECK(r.exit_code == 75);
  CHECK(r.err.find("audit log busy") != std::string::npos);
  CHECK(issued(app) == before);
  CHECK((!std::filesystem::exists(app.dir() / "out") || std::filesystem::is_empty(app.dir() / "out")));
  log_verifies(app);
}

TEST_CASE("a database locked against readers: 75 for every command, never 'not a Signet audit log'", "[e2e][faults]") {
  TestAppliance app("fault-locked-readers");
  write_orders(app.dir() / "b.jsonl", "RLOCK", 2);
  REQUIRE(app.signet({"sign", "b.jsonl", "--out", "out"}).exit_code == 0);
  for (const std::string cmd : {"audit verify", "audit log", "revoke 00000000000000000000000000 --reason test", "sign b.jsonl --out out"}) {
    INFO(cmd);
    const auto r = app.shell("( printf 'PRAGMA locking_mode=EXCLUSIVE;\\nBEGIN EXCLUSIVE;\\nSELECT count(*) FROM entries;\\n'; "
                             "sleep 8 ) | sqlite3 signet.db >/dev/null & sleep 1; \"$SIGNET\" " + cmd + "; code=$?; wait; exit $code");
    INFO(r.err);
    CHECK(r.exit_code == 75);
    CHECK(r.err.find("not a Signet audit log") == std::string::npos);
  }
  log_verifies(app);
}

TEST_CASE("what a crashed signet left in the output folder is removed by the next one, and nothing else", "[e2e][faults]") {
  TestAppliance app("fault-leftovers");
  write_orders(app.dir() / "b.jsonl", "LEFT", 3);
  const auto out = app.dir() / "out";
  std::filesystem::create_directories(out);
  // A temporary license of the renaming path, and a case probe (a minute old).
  signet::test::write_file(out / ".LEFT-0.license.tmp-0123456789ab", "half a lic");
  signet::test::write_file(out / ".signet-case-probe-a1b2c3d4e5f6", "");
  REQUIRE(app.shell("touch -d '2 minutes ago' out/.signet-case-probe-a1b2c3d4e5f6").exit_code == 0);
  // Names Signet never makes stay, as does a probe made just now (another signet's).
  signet::test::write_file(out / ".LEFT-1.nonprod-2.license.tmp-0123456789ab", "half");
  const std::vector<std::string> kept = {".keep", ".LEFT-0.license.tmp-notes", ".LEFT-0.license.tmp-0123456789AB",
                                         "x.license.tmp-0123456789ab", ".signet-case-probe-ffffffffffff",
                                         ".notes about x.license.tmp-0123456789ab", "...license.tmp-0123456789ab",
                                         ".X.nonprod-5.license.tmp-0123456789ab"};
  for (const auto& k : kept) signet::test::write_file(out / k, "mine");
  std::filesystem::create_directories(out / ".dir.license.tmp-0123456789ab");  // not a regular file
  const auto r = app.signet({"sign", "b.jsonl", "--out", "out"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(out / ".LEFT-0.license.tmp-0123456789ab"));
  CHECK_FALSE(std::filesystem::exists(out / ".signet-case-probe-a1b2c3d4e5f6"));
  CHECK_FALSE(std::filesystem::exists(out / ".LEFT-1.nonprod-2.license.tmp-0123456789ab"));
  for (const auto& k : kept) {
    INFO(k);
    CHECK(signet::test::read_file(out / k) == "mine");
  }
  CHECK(std::filesystem::is_directory(out / ".dir.license.tmp-0123456789ab"));
  CHECK(std::filesystem::exists(out / "LEFT-0.license"));
}

TEST_CASE("an output folder locked by another process: 75 after a wait, nothing signed", "[e2e][faults]") {
  TestAppliance app("fault-folder-lock");
  write_orders(app.dir() / "b.jsonl", "FLOCK", 2);
  std::filesystem::create_directories(app.dir() / "out");
  const auto before = issued(app);
  const auto r = app.shell("flock out sleep 15 & sleep 1; \"$SIGNET\" sign b.jsonl --out out; code=$?; kill %1; wait; exit $code");
  INFO(r.err);
  CHECK(r.exit_code == 75);
  CHECK_THAT(r.err, Catch::Contains("is being written by another signet"));
  CHECK(issued(app) == before);
  CHECK(std::filesystem::is_empty(app.dir() / "out"));
}

TEST_CASE("two signets writing into one output folder take turns; every file is its entry's", "[e2e][faults]") {
  TestAppliance app("fault-one-writer");
  write_orders(app.dir() / "a.jsonl", "TURN-A", 300);
  write_orders(app.dir() / "b.jsonl", "TURN-B", 300);
  const auto r = app.shell("\"$SIGNET\" -q sign a.jsonl --out out & \"$SIGNET\" -q sign b.jsonl --out out; b=$?; wait $!; a=$?; "
                           "echo \"$a $b\"");
  INFO(r.out << r.err);
  // Each waits for the log (or refuses it, busy: 75); none fails for the folder.
  CHECK((r.out == "0 0\n" || r.out == "0 75\n" || r.out == "75 0\n"));
  CHECK(r.err.find("is being written by another signet") == std::string::npos);  // a 75 is the log's, not the folder's
  CHECK(r.err.find("cut back") == std::string::npos);  // nor a head read before the other's commit
  every_file_has_its_entry(app, app.dir() / "out");
  for (const auto& e : std::filesystem::directory_iterator(app.dir() / "out"))
    CHECK_FALSE(e.path().filename().string().starts_with("."));
  log_verifies(app);
}

TEST_CASE("a missing, truncated or foreign database: a clear refusal", "[e2e][faults]") {
  TestAppliance app("fault-db");
  write_orders(app.dir() / "b.jsonl", "DB", 2);
  std::filesystem::copy_file(app.db(), app.dir() / "saved.db");
  std::filesystem::remove(app.db());
  auto r = app.signet({"sign", "b.jsonl", "--out", "out"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("signet.db") != std::string::npos);
  CHECK(r.err.find("signet init") != std::string::npos);
  r = app.signet({"audit", "verify", "--db", "signet.db"});
  CHECK(r.exit_code == 66);
  // Not a SQLite file.
  signet::test::write_file(app.db(), std::string(8192, 'x'));
  r = app.signet({"sign", "b.jsonl", "--out", "out"});
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("signet.db") != std::string::npos);
  r = app.signet({"audit", "verify", "--db", "signet.db"});
  CHECK(r.exit_code == 65);
  // Truncated to its first page.
  std::filesystem::copy_file(app.dir() / "saved.db", app.db(), std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(app.db(), 4096);
  r = app.signet({"audit", "verify", "--db", "signet.db"});
  CHECK((r.exit_code == 65 || r.exit_code == 1));
  CHECK(r.err.find("signet.db") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out"));
}

TEST_CASE("the token absent, or taken away in the middle of a batch", "[e2e][faults]") {
  TestAppliance app("fault-token");
  write_orders(app.dir() / "b.jsonl", "TOK", 2000);
  const auto tokens = app.hsm().dir() / "tokens";
  const auto away = app.hsm().dir() / "tokens-away";
  // Absent from the start.
  std::filesystem::rename(tokens, away);
  std::filesystem::create_directory(tokens);
  auto r = app.signet({"sign", "b.jsonl", "--out", "out", "--key", app.ed_kid});
  CHECK(r.exit_code == 69);
  CHECK(r.err.find("pkcs11:token=fault-token") != std::string::npos);
  CHECK(issued(app) == 0);
  std::filesystem::remove(tokens);
  std::filesystem::rename(away, tokens);
  // Taken away while signing: whatever SoftHSM2 does then, nothing is half-done.
  const auto bin = signet::test::signet_binary();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::chdir(app.dir().c_str()) != 0) ::_exit(127);
    ::setenv("SOFTHSM2_CONF", app.hsm().conf_path().c_str(), 1);
    ::setenv("SIGNET_CONFIG", app.config().c_str(), 1);
    const std::string k = app.rsa_kid;
    ::execl(bin.c_str(), "signet", "-q", "sign", "b.jsonl", "--out", "out", "--key", k.c_str(), "--chunk", "50",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  std::filesystem::rename(tokens, away);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  const int code = WEXITSTATUS(status);
  INFO("exit " << code);
  CHECK((code == 0 || code == 69 || code == 74 || code == 70));
  std::filesystem::rename(away, tokens);
  every_file_has_its_entry(app, app.dir() / "out");
  log_verifies(app);
  REQUIRE(app.signet({"sign", "b.jsonl", "--out", "out", "--key", app.rsa_kid}).exit_code == 0);
  CHECK(issued(app) == 2000);
  every_file_has_its_entry(app, app.dir() / "out");
}

TEST_CASE("a token that shows no key pair is unavailable (69), not a log signed by a stranger (65)",
          "[e2e][faults]") {
  // What signet sees when the token is taken away after the login: SoftHSM2
  // answers C_FindObjects with nothing once its token folder is gone (the
  // test above met it under AddressSanitizer as a 65). Another, empty token
  // configured in its place shows the same, deterministically.
  TestAppliance app("fault-empty");
  write_orders(app.dir() / "b.jsonl", "EMP", 3);
  REQUIRE(app.signet({"sign", "b.jsonl", "--out", "out"}).exit_code == 0);
  const auto init = signet::test::run({"softhsm2-util", "--init-token", "--free", "--label", "fault-empty-2", "--so-pin",
                                       app.hsm().so_pin(), "--pin", app.hsm().user_pin()},
                                      {.cwd = app.dir(),
                                       .env = {{"SOFTHSM2_CONF", app.hsm().conf_path().string()}},
                                       .input = {},
                                       .extra_fds = {}});
  REQUIRE(init.exit_code == 0);
  auto config = signet::test::read_file(app.config());
  config.replace(config.find(app.hsm().token_uri()), app.hsm().token_uri().size(), "pkcs11:token=fault-empty-2");
  signet::test::write_file(app.dir() / "empty.toml", config);
  write_orders(app.dir() / "c.jsonl", "EMQ", 2);
  // A dry run proves the log's head through the token before anything else.
  auto r = app.signet({"--config", "empty.toml", "sign", "c.jsonl", "--out", "out2", "--dry-run"});
  INFO(r.err);
  CHECK(r.exit_code == 69);
  CHECK(r.err.find("pkcs11:token=fault-empty-2 shows no key pair at all") != std::string::npos);
  CHECK(r.err.find("not in the HSM") == std::string::npos);
  r = app.signet({"--config", "empty.toml", "sign", "c.jsonl", "--out", "out2"});
  CHECK(r.exit_code == 69);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out2"));
  CHECK(issued(app) == 3);
  log_verifies(app);
  // The appliance's own token still signs on.
  REQUIRE(app.signet({"sign", "c.jsonl", "--out", "out2"}).exit_code == 0);
  CHECK(issued(app) == 5);
  every_file_has_its_entry(app, app.dir() / "out2");
}

TEST_CASE("a token that shows no user PIN is read again, not given up on, and never sent the PIN twice in vain",
          "[e2e][faults][pin]") {
  // SoftHSM2 reads a token's PIN records once, at C_Initialize; read while
  // another process's login rewrites the token's file, the token shows no user
  // PIN (C_Login: CKR_USER_PIN_NOT_INITIALIZED, no PIN checked) until the
  // module is initialised again. A token whose user PIN is set a moment after
  // signet started shows the same, deterministically: signet must load the
  // module again to see it.
  TestAppliance app("fault-nopin");
  write_orders(app.dir() / "b.jsonl", "NOP", 2);
  REQUIRE(app.signet({"sign", "b.jsonl", "--out", "out"}).exit_code == 0);
  const auto module = "pkcs11-tool --module '" + app.hsm().module_path() + "' ";
  // pkcs11-tool --init-token sets only the SO PIN; SoftHSM2 lists its one free slot last.
  const auto slots = app.shell(module + "--list-slots | grep -c '^Slot '");
  REQUIRE(slots.exit_code == 0);
  const auto free_slot = std::to_string(std::stoi(slots.out) - 1);
  const auto init = app.shell(module + "--slot-index " + free_slot + " --init-token --label fault-nopin-2 --so-pin " +
                              app.hsm().so_pin());
  INFO(init.out << init.err);
  REQUIRE(init.exit_code == 0);
  auto config = signet::test::read_file(app.config());
  config.replace(config.find(app.hsm().token_uri()), app.hsm().token_uri().size(), "pkcs11:token=fault-nopin-2");
  signet::test::write_file(app.dir() / "nopin.toml", config);
  write_orders(app.dir() / "c.jsonl", "NOQ", 1);
  // No user PIN at all: refused as a login (77) that names the cause, after the retries.
  auto r = app.signet({"--config", "nopin.toml", "sign", "c.jsonl", "--out", "out2", "--dry-run"});
  INFO(r.err);
  CHECK(r.exit_code == 77);
  CHECK(r.err.find("CKR_USER_PIN_NOT_INITIALIZED") != std::string::npos);
  CHECK(r.err.find("the token shows no user PIN") != std::string::npos);
  // The user PIN set 0.4 s after signet started: its login succeeds (the
  // token then shows no key pair, 69), where the same C_Login tried again
  // without loading the module again would have failed as above (77).
  r = app.shell("( sleep 0.4; " + module + "--token-label fault-nopin-2 --login --login-type so --so-pin " +
                app.hsm().so_pin() + " --init-pin --new-pin " + app.hsm().user_pin() +
                " >/dev/null ) & \"$SIGNET\" --config nopin.toml sign c.jsonl --out out2 --dry-run; rc=$?; wait; exit $rc");
  INFO(r.err);
  CHECK(r.exit_code == 69);
  CHECK(r.err.find("shows no key pair at all") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out2"));
  CHECK(issued(app) == 2);
  log_verifies(app);
}

TEST_CASE("a token absent when signet started is looked for again with the module loaded again", "[e2e][faults]") {
  // What another process's login, rewriting SoftHSM2's token file while this
  // one's C_Initialize read it, looks like (the concurrent-signing test met it
  // as "no token matches"): SoftHSM2 sees no new token until it is initialised
  // again. A token created 0.4 s after signet started shows the same.
  TestAppliance app("fault-late");
  write_orders(app.dir() / "b.jsonl", "LATE", 2);
  REQUIRE(app.signet({"sign", "b.jsonl", "--out", "out"}).exit_code == 0);
  auto config = signet::test::read_file(app.config());
  config.replace(config.find(app.hsm().token_uri()), app.hsm().token_uri().size(), "pkcs11:token=fault-late-2");
  signet::test::write_file(app.dir() / "late.toml", config);
  write_orders(app.dir() / "c.jsonl", "LATQ", 1);
  auto r = app.signet({"--config", "late.toml", "sign", "c.jsonl", "--out", "out2", "--dry-run"});
  CHECK(r.exit_code == 69);
  CHECK(r.err.find("no token matches pkcs11:token=fault-late-2") != std::string::npos);
  r = app.shell("( sleep 0.4; softhsm2-util --init-token --free --label fault-late-2 --so-pin " + app.hsm().so_pin() +
                " --pin " + app.hsm().user_pin() + " >/dev/null ) & \"$SIGNET\" --config late.toml sign c.jsonl --out "
                "out2 --dry-run; rc=$?; wait; exit $rc");
  INFO(r.err);
  CHECK(r.exit_code == 69);  // found and logged in to: an empty token, which shows no key pair
  CHECK(r.err.find("shows no key pair at all") != std::string::npos);
  CHECK(r.err.find("no token matches") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out2"));
  CHECK(issued(app) == 2);
}

TEST_CASE("a PIN source that cannot be read: exit 78 naming it", "[e2e][faults][pin]") {
  TestAppliance app("fault-pin");
  write_orders(app.dir() / "b.jsonl", "PIN", 1);
  std::filesystem::create_directory(app.dir() / "pin-dir");
  auto r = app.signet({"--pin-file", "pin-dir", "sign", "b.jsonl", "--out", "out"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("pin-dir") != std::string::npos);
  r = app.signet({"--pin-env", "NO_SUCH_PIN_VARIABLE", "sign", "b.jsonl", "--out", "out"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("NO_SUCH_PIN_VARIABLE") != std::string::npos);
  r = app.signet({"--pin-fd", "9", "sign", "b.jsonl", "--out", "out"});
  CHECK(r.exit_code == 78);
  // 3 and 4 are the descriptors Signet's own database and its -wal would get:
  // not passed in, they are refused before anything is opened, not read as the PIN.
  for (const char* fd : {"3", "4"}) {
    r = app.signet({"--pin-fd", fd, "sign", "b.jsonl", "--out", "out"});
    CHECK(r.exit_code == 78);
    CHECK(r.err.find("descriptor " + std::string(fd) + " is not open") != std::string::npos);
  }
  CHECK(issued(app) == 0);
}

TEST_CASE("a PIN source that is not one is refused without repeating it: it may be the PIN", "[e2e][faults][pin]") {
  TestAppliance app("fault-pin-echo");
  auto r = app.signet({"--config", "other.toml", "init", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token",
                       "pkcs11:token=x", "--pin-source", "271828"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("--pin-source") != std::string::npos);
  CHECK(r.err.find("271828") == std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "other.toml"));
  // The same in signet.toml: the file and the key are named, the value is not.
  const auto config = signet::test::read_file(app.dir() / "signet.toml");
  const auto at = config.find("pin = ");
  REQUIRE(at != std::string::npos);
  const auto end = config.find('\n', at);
  signet::test::write_file(app.dir() / "signet.toml", config.substr(0, at) + "pin = \"314159\"" + config.substr(end));
  write_orders(app.dir() / "b.jsonl", "ECHO", 1);
  r = app.signet({"sign", "b.jsonl", "--out", "out"});
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("hsm.pin") != std::string::npos);
  CHECK(r.err.find("314159") == std::string::npos);
}

TEST_CASE("an empty option value is refused (64), not taken as 'not given'", "[e2e][faults][usage]") {
  TestAppliance app("empty-values");
  write_orders(app.dir() / "b.jsonl", "EMPTY", 2);
  // Each of these, read as "not given", would fall back to a default the
  // operator did not choose: the configured PIN source, ./signet.toml, the
  // configured database, or a folder resolved from "".
  const std::vector<std::vector<std::string>> commands = {
      {"sign", "b.jsonl", "--out", ""},
      {"sign", "", "--out", "out"},
      {"--pin-file", "", "sign", "b.jsonl", "--out", "out"},
      {"--pin-env", "", "sign", "b.jsonl", "--out", "out"},
      {"--config", "", "sign", "b.jsonl", "--out", "out"},
      {"audit", "verify", "--db", ""},
      {"audit", "log", "--order", ""},
  };
  for (const auto& args : commands) {
    const auto r = app.signet(args);
    INFO(r.err);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("the value is empty") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out"));
  CHECK(issued(app) == 0);
}

TEST_CASE("secrets: the PIN is in no argument, environment, output or log entry; no core dumps", "[e2e][secrets]") {
  TestAppliance app("secrets");
  const std::string pin = "739184650271";
  const auto change = app.shell("pkcs11-tool --module '" + app.hsm().module_path() + "' --token-label secrets --login --pin " +
                                app.hsm().user_pin() + " --change-pin --new-pin " + pin);
  REQUIRE(change.exit_code == 0);
  write_orders(app.dir() / "b.jsonl", "SEC", 1500);
  const auto bin = signet::test::signet_binary();
  int pin_pipe[2];
  REQUIRE(::pipe(pin_pipe) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::chdir(app.dir().c_str()) != 0) ::_exit(127);
    ::close(pin_pipe[1]);
    ::dup2(pin_pipe[0], 5);
    ::setenv("SOFTHSM2_CONF", app.hsm().conf_path().c_str(), 1);
    ::setenv("SIGNET_CONFIG", app.config().c_str(), 1);
    const std::string k = app.rsa_kid;
    ::execl(bin.c_str(), "signet", "-q", "--pin-fd", "5", "sign", "b.jsonl", "--out", "out", "--key", k.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pin_pipe[0]);
  REQUIRE(::write(pin_pipe[1], (pin + "\n").data(), pin.size() + 1) == static_cast<ssize_t>(pin.size() + 1));
  ::close(pin_pipe[1]);
  const auto proc = std::filesystem::path("/proc") / std::to_string(pid);
  bool saw_core_limit = false;
  int looks = 0;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      CHECK(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 0);
      break;
    }
    std::ifstream cmdline(proc / "cmdline"), env_file(proc / "environ"), limits(proc / "limits");
    std::stringstream a, b, c;
    a << cmdline.rdbuf();
    b << env_file.rdbuf();
    c << limits.rdbuf();
    CHECK(a.str().find(pin) == std::string::npos);
    CHECK(b.str().find(pin) == std::string::npos);
    if (c.str().find("Max core file size        0                    0") != std::string::npos) saw_core_limit = true;
    ++looks;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(looks > 5);
  CHECK(saw_core_limit);
  // --pin-env: the variable is gone from the process's environment once read.
  write_orders(app.dir() / "c.jsonl", "SEC2", 1500);
  signet::test::RunOptions with_env;
  with_env.env["SIGNET_SECRET_PIN"] = pin;
  const auto r = app.signet({"--pin-env", "SIGNET_SECRET_PIN", "sign", "c.jsonl", "--out", "out2", "--key", app.rsa_kid}, with_env);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(pin) == std::string::npos);
  CHECK(r.err.find(pin) == std::string::npos);
  // Nowhere in the database file (log and registry).
  const auto db = signet::test::read_file(app.db());
  CHECK(db.find(pin) == std::string::npos);
  const auto wrong = app.signet({"--pin-env", "SIGNET_SECRET_PIN", "sign", "c.jsonl", "--out", "out3"}, [&] {
    signet::test::RunOptions o;
    o.env["SIGNET_SECRET_PIN"] = pin + "9";
    return o;
  }());
  CHECK(wrong.exit_code == 77);
  CHECK(wrong.err.find(pin) == std::string::npos);
}

TEST_CASE("a command line that does not parse, run with --json, still prints the JSON error on stdout", "[e2e][faults][usage]") {
  TestAppliance app("json-parse-errors");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"sign", "x.json", "--out", "o", "--json", "--bogus"},
                                              {"sign", "x.json", "--out", "o", "--json", "--format", "bogus"},
                                              {"verify", "x.license", "--json", "--bogus"},
                                              {"audit", "log", "--json", "--no-such-option"}}) {
    const auto r = app.signet(args);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 64);
    CHECK_FALSE(r.err.empty());
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j.at("error") == "usage");
    CHECK(j.at("exit_code") == 64);
    CHECK_FALSE(j.at("message").get<std::string>().empty());
  }
  // Without --json, stdout stays empty.
  CHECK(app.signet({"verify", "x.license", "--bogus"}).out.empty());
}
