// issue_batch in-process, against a real SQLite log and keys in the SoftHSM2
// test token: what another signet process changes in the log while a batch is
// being signed (checked again inside the commit), and a batch file that
// changes between the two passes.
#include "appliance.hpp"
#include "token_keys.hpp"

#include "signet/audit/log.hpp"
#include "signet/keystore/registry.hpp"
#include "signet/signer/issue.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <mutex>

using signet::Json;
namespace fs = std::filesystem;

namespace {

// Signs with an HSM key, and runs `meanwhile` once, at the first signature: the
// moment another signet process could change the log while this one signs.
class KeyWithInterlude final : public signet::keystore::SigningKey {
 public:
  KeyWithInterlude(std::shared_ptr<signet::keystore::SigningKey> key, std::function<void()> meanwhile)
      : m_key(std::move(key)), m_meanwhile(std::move(meanwhile)) {}
  signet::Bytes sign(signet::ByteView message) override {
    std::call_once(m_once, m_meanwhile);
    return m_key->sign(message);
  }
  [[nodiscard]] const signet::keystore::PublicKey& public_key() const noexcept override { return m_key->public_key(); }

 private:
  std::shared_ptr<signet::keystore::SigningKey> m_key;
  std::function<void()> m_meanwhile;
  std::once_flag m_once;
};

// A new order's license is live today; a renewal (of a new order) starts where that one ends.
Json order(const std::string& id, const std::string& kind = "new", const std::string& supersedes = "") {
  const auto starts = signet::test::date_in(-30);
  const auto expires = signet::test::date_in(335);
  Json o = {{"manifest_version", 1}, {"order_id", id}, {"kind", kind}, {"channel", "direct"},
            {"customer", {{"id", "cust-1"}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
            {"sku", "enterprise"}, {"seats", 10}, {"starts_at", starts}, {"expires_at", expires}};
  if (kind == "renewal") {
    o["supersedes"] = supersedes;
    o["starts_at"] = expires;
    o["expires_at"] = signet::test::date_in(700);
  }
  return o;
}

struct Appliance {
  fs::path dir = signet::test::temp_dir("signet-issue-test");
  fs::path db_path = dir / "signet.db";
  signet::Database db = create(db_path);
  signet::audit::Log log{db};
  std::shared_ptr<signet::keystore::SigningKey> key = signet::test::shared_key(signet::keystore::Algorithm::ed25519).second;
  // A second HSM key, to checkpoint the first one's retirement (a key does not sign its own).
  std::shared_ptr<signet::keystore::SigningKey> other = signet::test::shared_key(signet::keystore::Algorithm::rsa2048).second;

  static signet::Database create(const fs::path& p) {
    auto db = signet::Database::open(p, signet::Database::Mode::create);
    db.exec("PRAGMA journal_mode=WAL");
    signet::Transaction tx(db);
    signet::audit::Log::create_schema(db);
    signet::keystore::KeyRegistry::create_schema(db);
    tx.commit();
    return db;
  }

  Appliance() {
    // Every write is checked against the HSM: its keys must be announced in the log first.
    const auto announce = [](const signet::keystore::SigningKey& k) {
      return signet::audit::NewEntry{.kind = "key_generated", .order_id = std::nullopt, .license_id = std::nullopt,
                                     .key_id = k.key_id(),
                                     .record = Json{{"algorithm", std::string(signet::keystore::to_string(k.algorithm()))},
                                                    {"label", "signer-test"}, {"public_key", k.public_key().pem()}},
                                     .record_text = {}};
    };
    auto options = append();
    options.checkpoint_key = key.get();
    log.append({announce(*key), announce(*other)}, options);
  }
  ~Appliance() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  Appliance(const Appliance&) = delete;  // owns a folder and a connection
  Appliance& operator=(const Appliance&) = delete;

  // The checkpoints are signed by the HSM key, which is looked up as the token holds it.
  signet::audit::AppendOptions append() const {
    signet::audit::AppendOptions o;
    o.actor = "tester";
    o.warn = [](const std::string&) {};
    o.trust.hsm_key = [k = key, o2 = other](const std::string& id) -> std::optional<signet::keystore::PublicKey> {
      if (id == k->key_id()) return k->public_key();
      if (id == o2->key_id()) return o2->public_key();
      return std::nullopt;
    };
    return o;
  }

  // Appends an entry through a connection of its own, as another signet process would.
  void append_elsewhere(signet::audit::NewEntry entry, signet::keystore::SigningKey* checkpoint_key = nullptr) const {
    auto db2 = signet::Database::open(db_path, signet::Database::Mode::read_write);
    signet::audit::Log other_log(db2);
    auto options = append();
    options.checkpoint_key = checkpoint_key != nullptr ? checkpoint_key : key.get();
    other_log.append({std::move(entry)}, options);
  }

  signet::IssueSummary issue(const std::vector<Json>& orders, signet::keystore::SigningKey& signing,
                             signet::IssueRequest req = {}) {
    const auto file = dir / ("batch-" + std::to_string(++m_batches) + ".jsonl");
    std::string text;
    for (const auto& o : orders) text += o.dump() + "\n";
    signet::test::write_file(file, text);
    return issue_file(file, signing, std::move(req));
  }

  signet::IssueSummary issue_file(const fs::path& file, signet::keystore::SigningKey& signing, signet::IssueRequest req) {
    req.inputs = {file};
    req.out_dir = dir / "out";
    req.encoding = signet::Encoding::signet;
    // Checkpoints by a separate audit key, as with signing.audit_key set.
    signet::IssueContext ctx{db, log, signing, *other, append(), signet::ReadOptions{},
                             [this](const std::string& id) -> std::optional<signet::keystore::PublicKey> {
                               if (id == key->key_id()) return key->public_key();
                               return std::nullopt;
                             }};
    return signet::issue_batch(ctx, req);
  }

  std::int64_t count(const std::string& where) const {
    auto st = const_cast<signet::Database&>(db).prepare("SELECT COUNT(*) FROM entries WHERE " + where);
    REQUIRE(st.step());
    return st.column_int(0);
  }

 private:
  int m_batches = 0;
};

}  // namespace

TEST_CASE("what another signet logs while a chunk is signed is checked again inside its commit", "[issue]") {
  Appliance app;
  app.issue({order("BASE")}, *app.key);
  const auto base = app.log.issued_for_order("BASE");
  REQUIRE(base.size() == 1);
  const auto base_license = *base.front().license_id;

  std::function<void()> meanwhile;
  std::string expected;
  SECTION("the superseded license is revoked meanwhile") {
    meanwhile = [&] {
      app.append_elsewhere({.kind = "revoked", .order_id = std::nullopt, .license_id = base_license,
                            .key_id = std::nullopt, .record = Json{{"reason", "refund"}}, .record_text = {}});
    };
    expected = "license " + base_license + " was revoked";
  }
  SECTION("the superseded license is superseded by another order meanwhile") {
    meanwhile = [&] {
      auto db2 = signet::Database::open(app.db_path, signet::Database::Mode::read_write);
      signet::audit::Log other_log(db2);
      signet::IssueRequest req;
      req.inputs = {app.dir / "other.jsonl"};
      signet::test::write_file(req.inputs[0], order("RENEW-OTHER", "renewal", "order:BASE").dump() + "\n");
      req.out_dir = app.dir / "out-other";
      req.encoding = signet::Encoding::signet;
      signet::IssueContext ctx{db2, other_log, *app.key, *app.key, app.append(), signet::ReadOptions{}, nullptr};
      signet::issue_batch(ctx, req);
    };
    expected = "license " + base_license + " was superseded";
  }
  SECTION("the signing key is retired meanwhile") {
    meanwhile = [&] {
      app.append_elsewhere({.kind = "key_retired", .order_id = std::nullopt, .license_id = std::nullopt,
                            .key_id = app.key->key_id(), .record = Json{{"label", "k"}}, .record_text = {}},
                           app.other.get());
    };
    expected = "key " + app.key->key_id() + " was retired";
  }
  const auto before = app.count("kind = 'issued'");
  KeyWithInterlude signing(app.key, [&] { meanwhile(); });
  try {
    app.issue({order("RENEW", "renewal", "order:BASE")}, signing);
    FAIL("the renewal was committed");
  } catch (const signet::Error& e) {
    INFO(e.what());
    CHECK(e.kind() == signet::ErrorKind::busy);
    CHECK(std::string(e.what()).find(expected) != std::string::npos);
  }
  CHECK(app.log.issued_for_order("RENEW").empty());
  CHECK_FALSE(fs::exists(app.dir / "out/RENEW.license"));
  CHECK(app.count("kind = 'issued'") <= before + 1);  // at most the other process's renewal
}

TEST_CASE("a batch too large to keep, found so half-way through pass 1, is read again and signed whole", "[issue]") {
  Appliance app;
  std::string text;
  for (int i = 1; i <= 120; ++i) text += order("HALF-" + std::to_string(i)).dump() + "\n";
  const auto file = app.dir / "half.jsonl";
  signet::test::write_file(file, text);
  signet::IssueRequest req;
  req.keep_bytes = 40'000;  // some dozens of these orders: pass 1 stops keeping them part-way
  req.chunk_size = 25;
  const auto summary = app.issue_file(file, *app.key, req);
  CHECK(summary.licenses_issued == 120);
  CHECK(app.count("kind = 'issued'") == 120);
  CHECK(fs::exists(app.dir / "out/HALF-1.license"));
  CHECK(fs::exists(app.dir / "out/HALF-120.license"));
}

TEST_CASE("a batch read twice must read the same: a line changed between the passes stops the batch", "[issue]") {
  Appliance app;
  // 600 orders of about 340 bytes: more than the first two 64 KiB reads, so
  // line 590 is read only after the first chunk has been signed.
  std::vector<Json> orders;
  for (int i = 1; i <= 600; ++i) {
    auto o = order("STREAM-" + std::to_string(1000 + i));
    o["notes"] = std::string(60, 'n');
    orders.push_back(o);
  }
  const auto file = app.dir / "stream.jsonl";
  std::string text;
  std::vector<std::size_t> offsets;
  for (const auto& o : orders) {
    offsets.push_back(text.size());
    text += o.dump() + "\n";
  }
  signet::test::write_file(file, text);
  KeyWithInterlude signing(app.key, [&] {
    // Same length, other terms: "seats":10 -> "seats":99.
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    const auto line = text.substr(offsets[589], offsets[590] - offsets[589]);
    const auto at = offsets[589] + line.find("\"seats\":10");
    f.seekp(static_cast<std::streamoff>(at + 8));
    f.write("99", 2);
  });
  signet::IssueRequest req;
  req.keep_bytes = 0;  // read the batch twice
  req.chunk_size = 50;
  req.threads = 1;
  try {
    app.issue_file(file, signing, req);
    FAIL("the changed batch was signed to the end");
  } catch (const signet::Error& e) {
    INFO(e.what());
    CHECK(e.kind() == signet::ErrorKind::bad_data);
    CHECK(std::string(e.what()).find("stream.jsonl:590") != std::string::npos);
  }
  // What was committed is what pass 1 validated, and nothing from line 590 on.
  CHECK(app.log.issued_for_order("STREAM-1590").empty());
  CHECK(app.count("kind = 'issued'") < 590);
  CHECK(app.count("kind = 'issued' AND json_extract(record, '$.manifest.seats') != 10") == 0);
}

TEST_CASE("supersedes_license ends every issued record, where the log's index finds it", "[issue]") {
  Appliance app;
  app.issue({order("BASE")}, *app.key);
  app.issue({order("RENEW", "renewal", "order:BASE")}, *app.key);
  const auto base = *app.log.issued_for_order("BASE").front().license_id;
  const auto renew = app.log.issued_for_order("RENEW").front();
  CHECK(renew.record.ends_with(",\"supersedes_license\":\"" + base + "\"}"));
  CHECK(app.log.issued_for_order("BASE").front().record.ends_with(",\"supersedes_license\":null}"));
  CHECK(app.log.is_superseded(base));
  CHECK_FALSE(app.log.is_superseded(*renew.license_id));
  // The lookup goes through the index, not a scan of every record.
  auto plan = app.db.prepare(
      "EXPLAIN QUERY PLAN SELECT 1 FROM entries WHERE kind = 'issued' "
      "AND substr(CAST(record AS BLOB), -50, 22) = CAST('\"supersedes_license\":\"' AS BLOB) "
      "AND substr(CAST(record AS BLOB), -28, 26) = CAST(?1 AS BLOB) "
      "AND json_extract(record, '$.supersedes_license') = ?1 LIMIT 1");
  REQUIRE(plan.step());
  CHECK(plan.column_text(3).find("entries_by_superseded_tail") != std::string::npos);
}

TEST_CASE("a new order another signet issues while this one signs it is not issued twice", "[issue]") {
  Appliance app;
  KeyWithInterlude signing(app.key, [&] {
    // The same order, signed and committed by another process first.
    auto db2 = signet::Database::open(app.db_path, signet::Database::Mode::read_write);
    signet::audit::Log other_log(db2);
    signet::IssueRequest req;
    req.inputs = {app.dir / "same.jsonl"};
    signet::test::write_file(req.inputs[0], order("TWICE").dump() + "\n");
    req.out_dir = app.dir / "out-other";
    req.encoding = signet::Encoding::signet;
    signet::IssueContext ctx{db2, other_log, *app.key, *app.key, app.append(), signet::ReadOptions{}, nullptr};
    signet::issue_batch(ctx, req);
  });
  try {
    app.issue({order("TWICE")}, signing);
    FAIL("the order was committed twice");
  } catch (const signet::Error& e) {
    INFO(e.what());
    CHECK(e.kind() == signet::ErrorKind::busy);
    CHECK(std::string(e.what()).find("order TWICE was issued") != std::string::npos);
  }
  CHECK(app.log.issued_for_order("TWICE").size() == 1);
}
