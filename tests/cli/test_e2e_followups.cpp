// Follow-up orders against the log: a reissue keeps every term of the license it
// replaces (only the id, the issue time and, when it says so, the deployment
// change), and a true_forward adds seats to a live license only.
#include "appliance.hpp"

#include "signet/core/bytes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using nlohmann::json;
using signet::test::date_in;
using signet::test::TestAppliance;

namespace {

json order(const std::string& id, int seats = 10) {
  return json{{"manifest_version", 1}, {"order_id", id}, {"kind", "new"}, {"channel", "direct"},
              {"customer", {{"id", "c1"}, {"name", "N"}, {"email", "n@example.com"}, {"company", "Co"}}},
              {"sku", "enterprise"}, {"seats", seats}, {"starts_at", date_in(-30)}, {"expires_at", date_in(335)}};
}

json reissue_of(const json& original, const std::string& id) {
  auto o = original;
  o["order_id"] = id;
  o["kind"] = "reissue";
  o["supersedes"] = "order:" + original.at("order_id").get<std::string>();
  o["reason"] = "the server was rebuilt";
  return o;
}

json payload_of(const std::filesystem::path& file) {
  const auto text = signet::test::read_file(file);
  const auto first = text.find('\n');
  const auto env = json::parse(text.substr(first + 1, text.find('\n', first + 1) - first - 1));
  return json::parse(signet::to_string(*signet::base64url_decode(env.at("payload").get<std::string>())));
}

struct Signer {
  const TestAppliance& app;
  signet::test::RunResult sign(const std::vector<json>& orders) const {
    std::string text;
    for (const auto& o : orders) text += o.dump() + "\n";
    signet::test::write_file(app.dir() / "batch.jsonl", text);
    return app.signet({"sign", "batch.jsonl", "--out", "out", "--key", app.ed_kid});
  }
  // Signs one order that must be refused with this pointer and rule.
  void refused(const json& o, const std::string& pointer, const std::string& rule) const {
    const auto r = sign({o});
    INFO(o.dump() << "\n" << r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find(": " + pointer + ": " + rule) != std::string::npos);
  }
};

}  // namespace

TEST_CASE("a reissue keeps trial, government, channel, non-production licenses and flags; the deployment may change",
          "[e2e][followups]") {
  TestAppliance app("e2e-reissue");
  const Signer s{app};
  auto trial = order("TRI", 5000);
  trial["trial"] = true;
  auto gov = order("GOV");
  gov["channel"] = "government";
  gov["government"] = true;
  gov["deployment_id"] = "enclave-a";
  auto premier = order("PREM");
  premier["premier_support"] = true;
  premier["non_production_deployments"] = 2;
  premier["features"] = {{"message_export", false}};
  auto r = s.sign({trial, gov, premier});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  auto tri_re = reissue_of(trial, "TRI-RE");
  tri_re.erase("trial");
  s.refused(tri_re, "/trial", "a reissue keeps the superseded license's terms: trial true");

  auto gov_re = reissue_of(gov, "GOV-RE");
  gov_re.erase("government");
  s.refused(gov_re, "/government", "a reissue keeps the superseded license's terms: government true");
  gov_re = reissue_of(gov, "GOV-RE");
  gov_re["channel"] = "reseller";
  gov_re["reseller"] = {{"id", "r1"}, {"name", "Reseller One"}};
  s.refused(gov_re, "/channel", "a reissue keeps the superseded license's terms: channel government");
  gov_re = reissue_of(gov, "GOV-RE");
  gov_re.erase("deployment_id");
  s.refused(gov_re, "/deployment_id", "the superseded license is for deployment enclave-a");

  auto prem_re = reissue_of(premier, "PREM-RE");
  prem_re["non_production_deployments"] = 4;
  s.refused(prem_re, "/non_production_deployments", "a reissue keeps the superseded license's terms: non_production_deployments 2");
  prem_re = reissue_of(premier, "PREM-RE");
  prem_re.erase("premier_support");
  prem_re.erase("non_production_deployments");
  s.refused(prem_re, "/premier_support", "a reissue keeps the superseded license's terms: premier_support true");
  prem_re = reissue_of(premier, "PREM-RE");
  prem_re["features"] = {{"message_export", true}};
  s.refused(prem_re, "/features/message_export", "a reissue copies the superseded license's flags: message_export false");

  // Nothing was issued by the refusals; the right reissues are.
  auto gov_new_server = reissue_of(gov, "GOV-RE");
  gov_new_server["deployment_id"] = "enclave-b";
  r = s.sign({reissue_of(trial, "TRI-RE"), gov_new_server, reissue_of(premier, "PREM-RE")});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto out = app.dir() / "out";
  for (const auto& [old_id, new_id] : {std::pair{"TRI", "TRI-RE"}, {"GOV", "GOV-RE"}, {"PREM", "PREM-RE"}}) {
    INFO(new_id);
    const auto was = payload_of(out / (std::string(old_id) + ".license"));
    const auto now = payload_of(out / (std::string(new_id) + ".license"));
    CHECK(now.at("id") != was.at("id"));
    for (const char* k : {"is_trial", "is_gov_sku", "features", "starts_at", "expires_at", "sku_short_name", "customer"})
      CHECK(now.at(k) == was.at(k));
  }
  CHECK(payload_of(out / "TRI-RE.license").at("is_trial") == true);
  CHECK(payload_of(out / "GOV-RE.license").at("is_gov_sku") == true);
  CHECK(payload_of(out / "GOV-RE.license").at("deployment_id") == "enclave-b");
  CHECK(std::filesystem::exists(out / "PREM-RE.nonprod-2.license"));
  CHECK_FALSE(std::filesystem::exists(out / "PREM-RE.nonprod-3.license"));
}

TEST_CASE("a true_forward supersedes a live license only; a renewal within the grace period is allowed",
          "[e2e][followups]") {
  TestAppliance app("e2e-true-forward");
  const Signer s{app};
  // A license that expired three days ago: within its 10-day grace period.
  auto lapsed = order("LAPSED", 100);
  lapsed["starts_at"] = date_in(-200);
  lapsed["expires_at"] = date_in(-3);
  auto r = s.sign({lapsed});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  auto tf = order("LAPSED-TF", 20);
  tf["kind"] = "true_forward";
  tf["supersedes"] = "order:LAPSED";
  tf["starts_at"] = date_in(-100);
  tf["expires_at"] = lapsed["expires_at"];
  s.refused(tf, "/supersedes", "a true_forward adds seats to a live license; license ");

  auto renewal = order("LAPSED-R", 100);
  renewal["kind"] = "renewal";
  renewal["supersedes"] = "order:LAPSED";
  renewal["starts_at"] = lapsed["expires_at"];
  renewal["expires_at"] = date_in(362);
  r = s.sign({renewal});
  INFO(r.err);
  CHECK(r.exit_code == 0);

  // A live license takes a true_forward.
  auto live = order("LIVE", 100);
  live["starts_at"] = date_in(-30);
  live["expires_at"] = date_in(335);
  REQUIRE(s.sign({live}).exit_code == 0);
  auto live_tf = order("LIVE-TF", 20);
  live_tf["kind"] = "true_forward";
  live_tf["supersedes"] = "order:LIVE";
  live_tf["starts_at"] = date_in(0);
  live_tf["expires_at"] = live["expires_at"];
  r = s.sign({live_tf});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(payload_of(app.dir() / "out" / "LIVE-TF.license").at("features").at("users") == 120);
}

TEST_CASE("a true_forward keeps trial, government and deployment, and its non-production licenses replace the old ones",
          "[e2e][followups]") {
  TestAppliance app("e2e-true-forward-terms");
  const Signer s{app};
  auto premier = order("PREM-TF0", 100);
  premier["premier_support"] = true;
  premier["non_production_deployments"] = 2;
  premier["starts_at"] = date_in(-30);
  premier["expires_at"] = date_in(335);
  premier["deployment_id"] = "site-a";
  auto r = s.sign({premier});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto tf_of = [&] {
    auto tf = premier;
    tf["order_id"] = "PREM-TF1";
    tf["kind"] = "true_forward";
    tf["supersedes"] = "order:PREM-TF0";
    tf["seats"] = 25;
    tf["starts_at"] = date_in(0);
    return tf;
  };
  auto tf = tf_of();
  tf["trial"] = true;
  s.refused(tf, "/trial", "a true_forward keeps the superseded license's terms: trial false");
  tf = tf_of();
  tf["government"] = true;
  tf["channel"] = "government";
  s.refused(tf, "/government", "a true_forward keeps the superseded license's terms: government false");
  tf = tf_of();
  tf["deployment_id"] = "site-b";
  s.refused(tf, "/deployment_id", "a true_forward adds seats to the same deployment: site-a");

  r = s.sign({tf_of()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto out = app.dir() / "out";
  CHECK(payload_of(out / "PREM-TF1.license").at("features").at("users") == 125);
  // Each non-production license of the true_forward supersedes the old one of
  // the same number; the production license supersedes the production one.
  for (int np = 0; np <= 2; ++np) {
    const std::string suffix = np == 0 ? "" : ".nonprod-" + std::to_string(np);
    const auto old_id = payload_of(out / ("PREM-TF0" + suffix + ".license")).at("id").get<std::string>();
    const auto sql = "SELECT json_extract(record, '$.supersedes_license') FROM entries WHERE kind = 'issued' AND "
                     "order_id = 'PREM-TF1' AND json_extract(record, '$.non_production') = " + std::to_string(np);
    const auto q = app.shell("sqlite3 signet.db \"" + sql + "\"");
    INFO(sql << "\n" << q.err);
    REQUIRE(q.exit_code == 0);
    CHECK(q.out == old_id + "\n");
  }
  CHECK(app.signet({"audit", "verify", "--pubkey", app.ed_pem.string(), "--pubkey", app.rsa_pem.string()}).exit_code == 0);
}

TEST_CASE("a true_forward keeps the old license's flags and add-ons; it may add some, not drop any",
          "[e2e][followups]") {
  TestAppliance app("e2e-true-forward-add-ons");
  const Signer s{app};
  auto old = order("ADD-0", 100);
  old["starts_at"] = date_in(-30);
  old["expires_at"] = date_in(335);
  old["premier_support"] = true;
  old["non_production_deployments"] = 2;
  // One SKU flag sold off, one add-on sold on.
  old["features"] = {{"shared_channels", false}, {"auto_translation", true}};
  auto r = s.sign({old});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto tf_of = [&] {
    auto tf = order("ADD-TF", 20);
    tf["kind"] = "true_forward";
    tf["supersedes"] = "order:ADD-0";
    tf["starts_at"] = date_in(0);
    tf["expires_at"] = old["expires_at"];
    tf["premier_support"] = true;
    tf["non_production_deployments"] = 2;
    return tf;
  };
  auto tf = tf_of();
  tf.erase("premier_support");
  tf.erase("non_production_deployments");
  s.refused(tf, "/premier_support", "a true_forward keeps the superseded license's add-ons: premier_support true");
  tf = tf_of();
  tf["non_production_deployments"] = 1;
  s.refused(tf, "/non_production_deployments",
            "a true_forward keeps the superseded license's add-ons: non_production_deployments at least 2");
  tf = tf_of();
  tf["features"] = {{"auto_translation", false}};
  s.refused(tf, "/features/auto_translation", "a true_forward keeps the superseded license's flags: auto_translation true");
  tf = tf_of();
  tf["features"] = {{"compliance", false}};  // on by the SKU, and in the old license
  s.refused(tf, "/features/compliance", "a true_forward keeps the superseded license's flags: compliance true");

  // No features in the manifest: the old license's flags, not the SKU's defaults.
  // Then a second true-up adds an add-on flag and a third non-production deployment.
  r = s.sign({tf_of()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto out = app.dir() / "out";
  const auto before = payload_of(out / "ADD-0.license").at("features");
  auto after = payload_of(out / "ADD-TF.license").at("features");
  CHECK(after.at("users") == 120);
  CHECK(after.at("shared_channels") == false);
  CHECK(after.at("auto_translation") == true);
  auto expected = before;
  expected["users"] = 120;
  CHECK(after == expected);

  auto tf2 = order("ADD-TF2", 5);
  tf2["kind"] = "true_forward";
  tf2["supersedes"] = "order:ADD-TF";
  tf2["starts_at"] = date_in(0);
  tf2["expires_at"] = old["expires_at"];
  tf2["premier_support"] = true;
  tf2["non_production_deployments"] = 3;
  tf2["features"] = {{"shared_channels", true}};
  r = s.sign({tf2});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  after = payload_of(out / "ADD-TF2.license").at("features");
  expected["users"] = 125;
  expected["shared_channels"] = true;
  CHECK(after == expected);
  CHECK(std::filesystem::exists(out / "ADD-TF2.nonprod-3.license"));
  // Three live non-production licenses: two replaced twice, one new.
  const auto q = app.shell("sqlite3 signet.db \"SELECT count(*) FROM entries e WHERE kind = 'issued' AND "
                           "json_extract(record, '$.non_production') > 0 AND NOT EXISTS (SELECT 1 FROM entries s WHERE "
                           "s.kind = 'issued' AND json_extract(s.record, '$.supersedes_license') = e.license_id)\"");
  INFO(q.err);
  CHECK(q.out == "3\n");
}

// make bench signs what tests/bench/gen_orders.sh writes, and stops at the first
// refusal; the benchmark runs rarely, so the generator is held to the rules here:
// 60 seed orders (the trial, government and premier ones among them), then 40
// new orders with 20 renewals, true_forwards and reissues of the seeds.
TEST_CASE("two orders of one batch that follow up one license refuse the batch, even with --skip-invalid",
          "[e2e][followups]") {
  // Only one can supersede it; signing the first and refusing the second
  // would let line order decide whether 10 or 1000 seats were sold.
  TestAppliance app("e2e-two-followups");
  const Signer s{app};
  auto live = order("BASE", 100);
  live["starts_at"] = date_in(-30);
  live["expires_at"] = date_in(335);
  REQUIRE(s.sign({live}).exit_code == 0);
  const auto tf = [&](const std::string& id, int seats) {
    auto o = order(id, seats);
    o["kind"] = "true_forward";
    o["supersedes"] = "order:BASE";
    o["starts_at"] = date_in(0);
    o["expires_at"] = live["expires_at"];
    return o;
  };
  signet::test::write_file(app.dir() / "two.jsonl", tf("TF-A", 10).dump() + "\n" + tf("TF-B", 1000).dump() + "\n");
  for (const bool dry : {true, false}) {
    std::vector<std::string> args = {"sign", "two.jsonl", "--out", "out2", "--skip-invalid", "--key", app.ed_kid};
    if (dry) args.emplace_back("--dry-run");
    const auto r = app.signet(args);
    INFO(r.err);
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("two.jsonl:2: order TF-B: /supersedes: license ") != std::string::npos);
    CHECK(r.err.find("is superseded by another order of this batch too (at two.jsonl:1)") != std::string::npos);
    CHECK(r.err.find("refused as a whole, even with --skip-invalid") != std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(app.dir() / "out2"));
  // Either one alone is signed.
  const auto r = s.sign({tf("TF-B", 1000)});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(payload_of(app.dir() / "out" / "TF-B.license").at("features").at("users") == 1100);
}

TEST_CASE("the benchmark's order generator writes batches that sign", "[e2e][followups][bench]") {
  TestAppliance app("e2e-genorders");
  const auto gen = (signet::test::source_dir() / "tests/bench/gen_orders.sh").string();
  auto r = app.shell("bash '" + gen + "' SEED 60 > seed.jsonl && bash '" + gen + "' R 40 SEED 20 > orders.jsonl");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = app.signet({"sign", "seed.jsonl", "--out", "seed-out", "--key", app.ed_kid});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const auto& key : {app.ed_kid, app.rsa_kid}) {
    r = app.signet({"sign", "orders.jsonl", "--out", "dry", "--dry-run", "--key", key});
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
  r = app.signet({"sign", "orders.jsonl", "--out", "out", "--key", app.ed_kid});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::size_t n = 0;
  for (const auto& f : std::filesystem::directory_iterator(app.dir() / "out")) n += f.path().extension() == ".license";
  CHECK(n >= 100);  // 100 orders, and the non-production licenses of the premier ones
}
