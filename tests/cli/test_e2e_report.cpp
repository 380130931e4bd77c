// signet audit report --html: the auditor's page, rendered by a real browser
// (Debian's chromium, headless): the figures in the DOM match what sqlite3 reads
// from the same file, the page is self-contained, a tampered log says FAILED,
// and text from the log is escaped. One appliance, checked step by step (each
// step is a block; chromium and the SoftHSM signing are too slow to repeat per
// Catch2 SECTION).
#include "appliance.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>
#include <string>

using nlohmann::json;
using signet::test::TestAppliance;

namespace {

const std::filesystem::path kChromium = "/usr/bin/chromium";

std::string sh_quote(const std::string& s) { return "'" + s + "'"; }
std::string sh_quote(const std::filesystem::path& p) { return sh_quote(p.string()); }

std::string sql_text(const TestAppliance& app, const std::string& sql, const std::filesystem::path& db = {}) {
  const auto r = app.shell("sqlite3 " + sh_quote(db.empty() ? app.db() : db) + " \"" + sql + "\"");
  INFO(sql << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  auto out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::int64_t sql_int(const TestAppliance& app, const std::string& sql, const std::filesystem::path& db = {}) {
  return std::stoll(sql_text(app, sql, db));
}

// Chromium headless with its own throwaway profile: --dump-dom prints the DOM
// after the page's scripts ran.
std::string chromium(const TestAppliance& app, const std::string& args) {
  const auto r = app.shell("timeout 180 " + kChromium.string() +
                           " --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run"
                           " --user-data-dir=" + sh_quote(app.dir() / "chromium-profile") + " " + args + " 2>chromium.err");
  INFO(args << "\n" << signet::test::read_file(app.dir() / "chromium.err"));
  REQUIRE(r.exit_code == 0);
  return r.out;
}

std::string dump_dom(const TestAppliance& app, const std::filesystem::path& html) {
  auto dom = chromium(app, "--dump-dom " + sh_quote("file://" + html.string()));
  REQUIRE(dom.find("</html>") != std::string::npos);
  return dom;
}

// The opening tag that starts with `start` (e.g. `<section id="verification"`).
std::string tag(const std::string& html, const std::string& start) {
  const auto at = html.find(start);
  INFO(start);
  REQUIRE(at != std::string::npos);
  return html.substr(at, html.find('>', at) - at + 1);
}

// An attribute of that tag; "" when absent.
std::string attr(const std::string& html, const std::string& start, const std::string& name) {
  const auto t = tag(html, start);
  const std::regex re("\\s" + name + "=\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(t, m, re) ? m[1].str() : std::string();
}

// The markup of <section id="ID"> … </section> (sections do not nest).
std::string section(const std::string& html, const std::string& id) {
  const auto at = html.find("<section id=\"" + id + "\"");
  INFO(id);
  REQUIRE(at != std::string::npos);
  return html.substr(at, html.find("</section>", at) - at);
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + needle.size())) ++n;
  return n;
}

std::vector<std::string> report_args(const TestAppliance& app, const std::string& html, const std::filesystem::path& db = {}) {
  std::vector<std::string> args{"audit", "report", "--html", html, "--pubkey", app.ed_pem.string(), "--pubkey",
                                app.rsa_pem.string()};
  if (!db.empty()) {
    args.push_back("--db");
    args.push_back(db.string());
  }
  return args;
}

void check_self_contained(const std::string& html) {
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("<script src") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  CHECK(count(html, "<script") == 1);
  CHECK(html.find("Content-Security-Policy") != std::string::npos);
}

}  // namespace

TEST_CASE("audit report: a self-contained page whose rendered figures match the log", "[e2e][report]") {
  if (!std::filesystem::exists(kChromium)) {
    WARN("SKIPPED: " << kChromium.string() << " is not installed (Debian package 'chromium'); "
                     "the report test renders the page with headless chromium");
    return;
  }
  TestAppliance app("e2e-report");
  // The examples dated for today: the follow-ups supersede live licenses, and the
  // expiry windows below hold what they held on the day the examples were written.
  const auto ex = signet::test::dated_examples(app.dir() / "examples");
  for (const char* batch : {"orders", "followups"}) {
    const auto r = app.signet({"sign", (ex / batch).string(), "--out", "out", "--key", app.rsa_kid});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  const auto revoked = sql_text(app, "SELECT license_id FROM entries WHERE kind = 'issued' AND order_id = 'STARK-2026-102'");
  REQUIRE(revoked.size() == 26);
  {
    const auto r = app.signet({"revoke", revoked, "--reason", "customer <left> & \"went\" elsewhere"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }

  const auto html_path = app.dir() / "report.html";
  auto r = app.signet(report_args(app, html_path.string()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("warning") == std::string::npos);
  const auto html = signet::test::read_file(html_path);
  check_self_contained(html);
  CHECK(html.starts_with("<!DOCTYPE html>"));
  // The revocation reason, escaped.
  CHECK(html.find("customer &lt;left&gt; &amp; &quot;went&quot; elsewhere") != std::string::npos);
  CHECK(html.find("<left>") == std::string::npos);

  const auto dom = dump_dom(app, html_path);
  const auto entries = sql_int(app, "SELECT COUNT(*) FROM entries");
  const auto checkpoints = sql_int(app, "SELECT COUNT(*) FROM entries WHERE kind = 'checkpoint'");
  const auto issued = sql_int(app, "SELECT COUNT(*) FROM entries WHERE kind = 'issued'");
  const auto seats =
      sql_int(app, "SELECT SUM(json_extract(record, '\\$.payload.features.users')) FROM entries WHERE kind = 'issued'");
  CHECK(issued == 12);

  {  // verification
    CHECK(attr(dom, "<section id=\"verification\"", "data-ok") == "true");
    CHECK(attr(dom, "<section id=\"verification\"", "data-entries") == std::to_string(entries));
    CHECK(attr(dom, "<section id=\"verification\"", "data-checkpoints") == std::to_string(checkpoints));
    CHECK(attr(dom, "<section id=\"verification\"", "data-unprotected") == "0");
    const auto v = section(dom, "verification");
    CHECK(v.find("<strong>OK</strong>") != std::string::npos);
    CHECK(v.find("FAILED") == std::string::npos);
    CHECK(v.find("2 key(s) given with --pubkey") != std::string::npos);
  }
  {  // issuance table, totals, revocations, expiring, lineage
    const auto table = dom.substr(dom.find("<table id=\"issuance\""));
    CHECK(static_cast<std::int64_t>(count(table, "<tr class=\"license\"")) == issued);
    CHECK(attr(dom, "<td class=\"num\" data-total-seats=", "data-total-seats") == std::to_string(seats));
    CHECK(attr(dom, "<section id=\"revocations\"", "data-count") == "1");
    CHECK(section(dom, "revocations").find(revoked) != std::string::npos);
    CHECK(attr(dom, "<tr class=\"license\" data-seq=\"" +
                        sql_text(app, "SELECT seq FROM entries WHERE kind = 'issued' AND license_id = '" + revoked + "'"),
               "data-revoked") == "true");
    // Seats through resellers: Northwind (Globex 120 + its true-forward 160 + Stark 75), Carahsoft (1500 + reissue 1500).
    const auto reseller_seats = sql_int(app, "SELECT SUM(json_extract(record, '\\$.payload.features.users')) FROM entries "
                                             "WHERE kind = 'issued' AND json_extract(record, '\\$.manifest.reseller.id') IS NOT NULL");
    CHECK(attr(dom, "<section id=\"by-reseller\"", "data-reseller-seats") == std::to_string(reseller_seats));
    CHECK(attr(dom, "<section id=\"by-reseller\"", "data-count") == "2");
    // Expiring within 60 days of now, not revoked (the trial, which ends 28 days from now).
    const auto expiring = sql_int(
        app, "SELECT COUNT(*) FROM entries WHERE kind = 'issued' "
             "AND json_extract(record, '\\$.payload.expires_at') BETWEEN CAST(strftime('%s', 'now') AS INTEGER) * 1000 "
             "AND CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 60 * 86400000 "
             "AND license_id NOT IN (SELECT license_id FROM entries WHERE kind = 'revoked')");
    CHECK(attr(dom, "<section id=\"expiring\"", "data-count") == std::to_string(expiring));
    // Every follow-up kind appears nested in its customer's chain.
    const auto lineage = section(dom, "lineage");
    for (const char* kind : {"new", "renewal", "true_forward", "reissue"})
      CHECK(lineage.find(std::string("data-kind=\"") + kind + "\"") != std::string::npos);
    const auto acme_renewal = sql_text(app, "SELECT license_id FROM entries WHERE order_id = 'ACME-2027-001-R'");
    const auto acme_new = sql_text(app, "SELECT license_id FROM entries WHERE kind = 'issued' AND order_id = 'ACME-2026-001'");
    const auto at_new = lineage.find("data-license-id=\"" + acme_new + "\"");
    const auto at_renewal = lineage.find("data-license-id=\"" + acme_renewal + "\"");
    REQUIRE(at_new != std::string::npos);
    REQUIRE(at_renewal != std::string::npos);
    CHECK(at_new < at_renewal);
    CHECK(lineage.substr(at_new, at_renewal - at_new).find("<ul class=\"chain\">") != std::string::npos);
  }
  {  // --as-of dates the report and moves the expiry window
    const auto as_of = app.dir() / "as-of.html";
    const auto day = signet::test::example_date("2027-10-15");  // 47 days before the examples' licenses expire
    const auto a = app.signet({"audit", "report", "--html", as_of.string(), "--as-of", day});
    INFO(a.err);
    REQUIRE(a.exit_code == 0);
    CHECK(a.err.find("--pubkey") != std::string::npos);  // keys from the log itself: not independent, and it says so
    const auto page = signet::test::read_file(as_of);
    const auto expiring = sql_int(
        app, "SELECT COUNT(*) FROM entries WHERE kind = 'issued' "
             "AND json_extract(record, '\\$.payload.expires_at') BETWEEN CAST(strftime('%s', '" + day + "') AS INTEGER) * 1000 "
             "AND CAST(strftime('%s', '" + day + "') AS INTEGER) * 1000 + 60 * 86400000 "
             "AND license_id NOT IN (SELECT license_id FROM entries WHERE kind = 'revoked')");
    CHECK(expiring == 9);
    CHECK(attr(page, "<section id=\"expiring\"", "data-count") == std::to_string(expiring));
    CHECK(attr(page, "<time id=\"generated-at\"", "datetime") == day + "T00:00:00.000Z");
    CHECK(section(page, "expiring").find(revoked) == std::string::npos);
    CHECK(app.signet({"audit", "report", "--html", as_of.string(), "--as-of", "next week"}).exit_code == 64);
  }
  {  // the script ran under the page's own Content-Security-Policy
    // It unhides the filter box and marks the table; without scripts everything is shown anyway.
    CHECK(html.find("data-script=\"on\"") == std::string::npos);
    CHECK(attr(dom, "<table id=\"issuance\"", "data-script") == "on");
    CHECK(tag(dom, "<p class=\"filter\" id=\"issuance-tools\"").find("hidden") == std::string::npos);
    CHECK(tag(html, "<p class=\"filter\" id=\"issuance-tools\"").find("hidden") != std::string::npos);
  }
  {  // a screenshot
    const auto png = app.dir() / "report.png";
    chromium(app, "--screenshot=" + sh_quote(png) + " --window-size=1280,2000 " + sh_quote("file://" + html_path.string()));
    REQUIRE(std::filesystem::exists(png));
    CHECK(std::filesystem::file_size(png) > 10000);
    CHECK(signet::test::read_file(png).substr(0, 8) == "\x89PNG\r\n\x1a\n");
  }
  {  // a log changed behind Signet's back renders FAILED at the changed entry
    const auto copy = app.dir() / "tampered.db";
    std::filesystem::copy_file(app.db(), copy);
    const auto target = sql_int(app, "SELECT MIN(seq) FROM entries WHERE kind = 'issued'") + 2;
    sql_text(app, "DROP TRIGGER entries_no_update; UPDATE entries SET actor = 'mallory' WHERE seq = " + std::to_string(target), copy);
    const auto bad = app.dir() / "tampered.html";
    const auto t = app.signet(report_args(app, bad.string(), copy));
    INFO(t.err);
    CHECK(t.exit_code == 0);  // the report shows the failure
    CHECK(t.err.find("warning") != std::string::npos);
    CHECK(t.err.find("seq " + std::to_string(target)) != std::string::npos);
    const auto bad_dom = dump_dom(app, bad);
    CHECK(attr(bad_dom, "<section id=\"verification\"", "data-ok") == "false");
    CHECK(attr(bad_dom, "<section id=\"verification\"", "data-failed-seq") == std::to_string(target));
    const auto v = section(bad_dom, "verification");
    CHECK(v.find("<strong>FAILED</strong>") != std::string::npos);
    CHECK(v.find("seq " + std::to_string(target)) != std::string::npos);
    check_self_contained(signet::test::read_file(bad));
  }
  {  // text from a manifest is escaped, so no markup from the log reaches the page
    json order = {{"manifest_version", 1},
                  {"order_id", "EVIL-1"},
                  {"kind", "new"},
                  {"channel", "reseller"},
                  {"reseller", {{"id", "evil-reseller"}, {"name", "<script>alert('r')</script>"}}},
                  {"customer",
                   {{"id", "evil"},
                    {"name", "\"><img src=x onerror=alert(1)>"},
                    {"email", "evil@evil.example"},
                    {"company", "Evil <b>\"Co\"</b> & 'Sons'"}}},
                  {"sku", "professional"},
                  {"seats", 5},
                  {"starts_at", signet::test::date_in(-3)},
                  {"expires_at", signet::test::date_in(362)}};
    signet::test::write_file(app.dir() / "evil.json", order.dump());
    const auto s = app.signet({"sign", "evil.json", "--out", "out", "--key", app.rsa_kid});
    INFO(s.err);
    REQUIRE(s.exit_code == 0);
    const auto evil = app.dir() / "evil.html";
    REQUIRE(app.signet(report_args(app, evil.string())).exit_code == 0);
    const auto page = signet::test::read_file(evil);
    CHECK(page.find("Evil &lt;b&gt;&quot;Co&quot;&lt;/b&gt; &amp; &#39;Sons&#39;") != std::string::npos);
    CHECK(page.find("&lt;script&gt;alert(&#39;r&#39;)&lt;/script&gt;") != std::string::npos);
    CHECK(page.find("<b>") == std::string::npos);
    CHECK(page.find("<img") == std::string::npos);
    CHECK(count(page, "<script") == 1);
    const auto evil_dom = dump_dom(app, evil);
    CHECK(static_cast<std::int64_t>(count(evil_dom.substr(evil_dom.find("<table id=\"issuance\"")), "<tr class=\"license\"")) ==
          issued + 1);
    CHECK(evil_dom.find("<img") == std::string::npos);
  }
}
