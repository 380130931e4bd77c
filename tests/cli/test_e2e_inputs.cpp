// Inputs that are not what they should be: a folder, a FIFO, a device, a link
// that leads nowhere or round in a loop, where a file is expected. Each is a
// refusal with its path and DESIGN.md's exit code, never a hang, an unbounded
// read or an internal error (70). Commands that could wait on a FIFO run under
// timeout(1), so that a regression fails instead of hanging the suite.
#include "appliance.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

using nlohmann::json;
using signet::test::date_in;
using signet::test::TestAppliance;

namespace {

json order(const std::string& id) {
  return json{{"manifest_version", 1}, {"order_id", id}, {"kind", "new"}, {"channel", "direct"},
              {"customer", {{"id", "c-" + id}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
              {"sku", "enterprise"}, {"seats", 10}, {"starts_at", date_in(-30)}, {"expires_at", date_in(335)}};
}

// Runs `$SIGNET ARGS` in the appliance folder under timeout(1): 124 means it hung.
signet::test::RunResult bounded(const TestAppliance& app, const std::string& args) {
  return app.shell("timeout 30 \"$SIGNET\" " + args);
}

void odd_entries(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  REQUIRE(::mkfifo((dir / "fifo.json").c_str(), 0600) == 0);
  std::filesystem::create_symlink("self.json", dir / "self.json");       // a loop
  std::filesystem::create_symlink("/nonexistent/x.json", dir / "gone.jsonl");  // leads nowhere
}

}  // namespace

TEST_CASE("signet verify reads only a regular file, at most 64 KiB + 1 bytes", "[e2e][inputs]") {
  TestAppliance app("e2e-verify-inputs");
  odd_entries(app.dir() / "odd");
  std::filesystem::create_directory(app.dir() / "folder");
  const std::string key = " --pubkey '" + app.ed_pem.string() + "'";
  auto r = bounded(app, "verify folder" + key);
  CHECK(r.exit_code == 66);
  CHECK(r.err.find("folder: the license file must be a regular file, not a folder") != std::string::npos);
  r = bounded(app, "verify /dev/zero" + key);
  CHECK(r.exit_code == 66);
  CHECK(r.err.find("/dev/zero: the license file must be a regular file, not a character device") != std::string::npos);
  r = bounded(app, "verify odd/fifo.json" + key);
  CHECK(r.exit_code == 66);
  CHECK(r.err.find("not a FIFO") != std::string::npos);
  r = bounded(app, "verify odd/self.json" + key);
  CHECK(r.exit_code == 66);
  CHECK(r.err.find("odd/self.json: cannot open the license file: Too many levels of symbolic links") != std::string::npos);
  r = bounded(app, "verify odd/gone.jsonl" + key);
  CHECK(r.exit_code == 66);
  // The key file too.
  r = bounded(app, "verify odd/gone.jsonl --pubkey odd/fifo.json");
  CHECK(r.exit_code == 66);
  // A regular file over the limit is read no further than the limit + 1 and refused as malformed.
  REQUIRE(app.shell("head -c 100000000 /dev/zero > big.license").exit_code == 0);
  r = bounded(app, "verify big.license" + key);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("license file larger than 64 KiB") != std::string::npos);
}

TEST_CASE("signet sign refuses the odd entries of an input folder by path (exit 65), or skips them with --skip-invalid",
          "[e2e][inputs]") {
  TestAppliance app("e2e-sign-inputs");
  odd_entries(app.dir() / "orders");
  signet::test::write_file(app.dir() / "orders" / "good.json", order("GOOD-1").dump());
  std::filesystem::create_directory(app.dir() / "orders" / "sub.json");  // a real folder named *.json is searched
  signet::test::write_file(app.dir() / "orders" / "sub.json" / "inner.json", order("INNER-1").dump());
  std::filesystem::create_symlink(app.dir() / "orders" / "sub.json", app.dir() / "orders" / "linked.json");
  signet::test::write_file(app.dir() / "orders" / "notes.txt", "not a manifest: ignored");

  auto r = bounded(app, "sign orders --out out");
  INFO(r.err);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("refused: orders/fifo.json: /: a FIFO, not a manifest file") != std::string::npos);
  CHECK(r.err.find("refused: orders/self.json: /: cannot examine: Too many levels of symbolic links") != std::string::npos);
  CHECK(r.err.find("refused: orders/gone.jsonl: /: a link that leads nowhere") != std::string::npos);
  CHECK(r.err.find("refused: orders/linked.json: /: a link to a folder") != std::string::npos);
  CHECK(r.err.find("nothing was signed: 4 problem(s)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out" / "GOOD-1.license"));
  // A bad order beside them is listed in the same round.
  auto bad = order("BAD-1");
  bad["seats"] = 0;
  signet::test::write_file(app.dir() / "orders" / "bad.json", bad.dump());
  r = bounded(app, "sign orders --out out --dry-run");
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("orders/bad.json: order BAD-1: /seats") != std::string::npos);
  CHECK(r.err.find("nothing was signed: 5 problem(s)") != std::string::npos);
  std::filesystem::remove(app.dir() / "orders" / "bad.json");

  r = bounded(app, "sign orders --out out --skip-invalid --json --key " + app.ed_kid);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto s = json::parse(r.out);
  CHECK(s.at("orders_issued") == 2);
  REQUIRE(s.at("refused").size() == 4);
  CHECK(s.at("refused")[0].at("source") == "orders/fifo.json");
  CHECK(std::filesystem::exists(app.dir() / "out" / "GOOD-1.license"));
  CHECK(std::filesystem::exists(app.dir() / "out" / "INNER-1.license"));

  // Given directly: a FIFO is refused by path, a link loop is missing input.
  r = bounded(app, "sign orders/fifo.json --out out");
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("orders/fifo.json: /: a FIFO") != std::string::npos);
  CHECK(bounded(app, "sign orders/self.json --out out").exit_code == 66);
}

TEST_CASE("a configuration, database, PIN file, key, checkpoint or proof that is not a regular file: a clear refusal",
          "[e2e][inputs]") {
  TestAppliance app("e2e-other-inputs");
  odd_entries(app.dir() / "odd");
  std::filesystem::create_directory(app.dir() / "folder");
  auto r = bounded(app, "--config folder key list");
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("folder: is a folder, not a configuration file") != std::string::npos);
  r = bounded(app, "--config odd/fifo.json key list");
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("the configuration must be a regular file") != std::string::npos);
  r = bounded(app, "--config odd/self.json key list");
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("Too many levels of symbolic links") != std::string::npos);
  r = bounded(app, "--pin-file odd/fifo.json audit checkpoint");
  CHECK(r.exit_code == 78);
  CHECK(r.err.find("not a regular file") != std::string::npos);
  for (const std::string db : {"folder", "odd/fifo.json", "odd/self.json", "/dev/zero"}) {
    INFO(db);
    r = bounded(app, "audit verify --db " + db);
    CHECK(r.exit_code == 66);
    CHECK(r.err.find(db + ": ") != std::string::npos);
    CHECK(bounded(app, "audit log --db " + db).exit_code == 66);
  }
  for (const std::string f : {"folder", "odd/fifo.json", "/dev/zero"}) {
    INFO(f);
    CHECK(bounded(app, "audit verify --checkpoint " + f).exit_code == 66);
    CHECK(bounded(app, "audit verify --pubkey " + f).exit_code == 66);
    CHECK(bounded(app, "audit verify --export " + f).exit_code == 66);
    CHECK(bounded(app, "audit verify-proof " + f + " --pubkey '" + app.ed_pem.string() + "'").exit_code == 66);
    CHECK(bounded(app, "audit consistency " + f + " " + f + " --pubkey '" + app.ed_pem.string() + "'")
              .exit_code == 66);
    CHECK(bounded(app, "audit report --html r.html --checkpoint " + f).exit_code == 66);
  }
  // An entry the log does not have is a bad argument, not an unavailable token.
  r = bounded(app, "audit prove --seq 999999");
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("--seq: ") != std::string::npos);
}

TEST_CASE("an --out that names a FIFO, a folder or a link is refused (73), never replaced", "[e2e][inputs]") {
  TestAppliance app("e2e-out-odd");
  REQUIRE(::mkfifo((app.dir() / "pipe").c_str(), 0600) == 0);
  std::filesystem::create_directories(app.dir() / "folder");
  signet::test::write_file(app.dir() / "target.txt", "keep me\n");
  std::filesystem::create_symlink("target.txt", app.dir() / "link");
  for (const auto* out : {"pipe", "folder", "link"}) {
    INFO(out);
    const auto r = bounded(app, std::string("audit export --format jsonl --out ") + out);
    CHECK(r.exit_code == 73);
    CHECK(r.err.find("not a regular file") != std::string::npos);
  }
  struct stat st {};
  REQUIRE(::lstat((app.dir() / "pipe").c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  REQUIRE(::lstat((app.dir() / "link").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));
  CHECK(signet::test::read_file(app.dir() / "target.txt") == "keep me\n");
  // A regular file is replaced whole, as before.
  signet::test::write_file(app.dir() / "old.jsonl", "old\n");
  CHECK(bounded(app, "audit export --format jsonl --out old.jsonl").exit_code == 0);
  const auto exported = signet::test::read_file(app.dir() / "old.jsonl");
  CHECK(exported != "old\n");
  CHECK(exported.find("signet_audit_export") != std::string::npos);
}

TEST_CASE("a manifest whose name is not valid UTF-8 is refused by path like any bad input, and --skip-invalid signs the rest",
          "[e2e][inputs]") {
  // The audit log records each order's file as UTF-8 text: such a name once
  // passed validation and --dry-run, then stopped the whole run as it was logged.
  TestAppliance app("e2e-sign-latin1");
  std::filesystem::create_directory(app.dir() / "orders");
  signet::test::write_file(app.dir() / "orders" / "Kunde M\xfcller.json", order("LATIN-1").dump());
  signet::test::write_file(app.dir() / "orders" / "good.json", order("GOOD-2").dump());
  for (const char* extra : {"", " --dry-run"}) {
    INFO(extra);
    const auto r = bounded(app, std::string("sign orders --out out") + extra);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("refused: orders/Kunde M\\xfcller.json: /: its name is not valid UTF-8") != std::string::npos);
    CHECK(r.err.find("nothing was signed: 1 problem(s)") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out"));
  const auto r = bounded(app, "sign orders --out out --skip-invalid --json --key " + app.ed_kid);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto s = json::parse(r.out);
  CHECK(s.at("orders_issued") == 1);
  REQUIRE(s.at("refused").size() == 1);
  CHECK(std::filesystem::exists(app.dir() / "out" / "GOOD-2.license"));
  CHECK(app.signet({"audit", "verify", "--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()}).exit_code == 0);
}

TEST_CASE("a manifest named only .json is read like any other, in a folder and given by name", "[e2e][inputs]") {
  // path::extension() takes ".json" for a name without one: such a file was
  // skipped unseen in a folder, and refused by name as not ending in .json.
  TestAppliance app("e2e-sign-dotjson");
  std::filesystem::create_directory(app.dir() / "orders");
  signet::test::write_file(app.dir() / "orders" / ".json", order("DOT-1").dump());
  signet::test::write_file(app.dir() / "orders" / "b.json", order("DOT-2").dump());
  auto r = bounded(app, "sign orders --out out --dry-run --json --key " + app.ed_kid);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(json::parse(r.out).at("would_issue") == 2);
  signet::test::write_file(app.dir() / ".jsonl", order("DOT-3").dump() + "\n" + order("DOT-4").dump() + "\n");
  r = bounded(app, "sign .jsonl orders/.json --out out --key " + app.ed_kid);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* id : {"DOT-1", "DOT-3", "DOT-4"})
    CHECK(std::filesystem::exists(app.dir() / "out" / (std::string(id) + ".license")));
}

TEST_CASE("one manifest file named twice is read once, not refused as every order id twice", "[e2e][inputs]") {
  // By name twice, in a folder and by name, and through a link to it: the same
  // file's orders are one set of orders, not two copies of each.
  TestAppliance app("e2e-sign-samefile");
  std::filesystem::create_directory(app.dir() / "orders");
  signet::test::write_file(app.dir() / "orders" / "a.jsonl", order("SAME-1").dump() + "\n" + order("SAME-2").dump() + "\n");
  std::filesystem::create_symlink("a.jsonl", app.dir() / "orders" / "link.jsonl");
  auto r = bounded(app, "sign orders/a.jsonl orders/a.jsonl orders --out out --dry-run --json --key " + app.ed_kid);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(json::parse(r.out).at("would_issue") == 2);
  r = bounded(app, "sign orders orders/a.jsonl --out out --json --key " + app.ed_kid);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(json::parse(r.out).at("orders_issued") == 2);
  CHECK(std::filesystem::exists(app.dir() / "out" / "SAME-2.license"));
  // Two files with the same order id are still two copies, refused.
  signet::test::write_file(app.dir() / "b.jsonl", order("SAME-3").dump() + "\n");
  signet::test::write_file(app.dir() / "c.jsonl", order("SAME-3").dump() + "\n");
  r = bounded(app, "sign b.jsonl c.jsonl --out out2 --key " + app.ed_kid);
  CHECK(r.exit_code == 65);
  CHECK(r.err.find("appears twice") != std::string::npos);
}
