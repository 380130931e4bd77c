// Manifest reading and validation: every rule of docs/manifest.md, each refusal
// naming the field (JSON pointer) and the rule; bounded sizes; strict JSON;
// detached order-desk signatures checked with libsodium.
#include "appliance.hpp"

#include "signet/core/bytes.hpp"
#include "signet/signer/manifest.hpp"
#include "signet/signer/text.hpp"

#include <catch2/catch.hpp>
#include <sodium.h>

#include <fstream>
#include <set>

using signet::Json;

namespace {

Json base_manifest() {
  return Json::parse(R"({
    "manifest_version": 1, "order_id": "SO-1", "kind": "new", "channel": "direct",
    "customer": {"id": "c1", "name": "Ann", "email": "ann@example.com", "company": "Example Ltd"},
    "sku": "enterprise", "seats": 10, "starts_at": "2026-01-01", "expires_at": "2027-01-01"})");
}

std::vector<signet::ManifestProblem> problems_of(const Json& m) {
  auto r = signet::validate_manifest(m, "t.json", signet::Policy{});
  if (std::holds_alternative<signet::Order>(r)) return {};
  return std::get<std::vector<signet::ManifestProblem>>(r);
}

struct BadCase {
  const char* name;
  const char* patch;  // RFC 6902 JSON patch applied to the base manifest
  const char* pointer;
  const char* rule;   // a substring of the rule
};

}  // namespace

TEST_CASE("a complete manifest is accepted with its terms", "[manifest]") {
  auto r = signet::validate_manifest(base_manifest(), "t.json", signet::Policy{});
  REQUIRE(std::holds_alternative<signet::Order>(r));
  const auto& o = std::get<signet::Order>(r);
  CHECK(o.order_id == "SO-1");
  CHECK(o.seats == 10);
  CHECK(o.customer.email == "ann@example.com");
  CHECK(signet::to_unix_ms(o.starts_at) == 1767225600000);
  CHECK(signet::to_unix_ms(o.expires_at) == 1798761600000);
}

TEST_CASE("each broken rule is refused naming the field and the rule", "[manifest]") {
  static const BadCase cases[] = {
      {"version missing", R"([{"op":"remove","path":"/manifest_version"}])", "/manifest_version", "required"},
      {"version 2", R"([{"op":"replace","path":"/manifest_version","value":2}])", "/manifest_version", "integer 1 to 1"},
      {"version as string", R"([{"op":"replace","path":"/manifest_version","value":"1"}])", "/manifest_version", "integer"},
      {"order id missing", R"([{"op":"remove","path":"/order_id"}])", "/order_id", "required"},
      {"order id empty", R"([{"op":"replace","path":"/order_id","value":""}])", "/order_id", "must not be empty"},
      {"order id with slash", R"([{"op":"replace","path":"/order_id","value":"a/b"}])", "/order_id", "A-Z a-z 0-9"},
      {"order id with space", R"([{"op":"replace","path":"/order_id","value":"a b"}])", "/order_id", "A-Z a-z 0-9"},
      {"order id too long", R"([{"op":"replace","path":"/order_id","value":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}])", "/order_id", "at most 64"},
      {"order id dot-dot", R"([{"op":"replace","path":"/order_id","value":".."}])", "/order_id", "must not be"},
      {"order id of a non-production file", R"([{"op":"replace","path":"/order_id","value":"X.nonprod-1"}])", "/order_id", "must not end in .nonprod-<digits>"},
      {"order id of a non-production file, upper case", R"([{"op":"replace","path":"/order_id","value":"X.NONPROD-12"}])", "/order_id", ".nonprod-<digits>"},
      {"order id number", R"([{"op":"replace","path":"/order_id","value":17}])", "/order_id", "must be a string"},
      {"kind unknown", R"([{"op":"replace","path":"/kind","value":"upgrade"}])", "/kind", "new, renewal"},
      {"renewal without supersedes", R"([{"op":"replace","path":"/kind","value":"renewal"}])", "/supersedes", "required"},
      {"new with supersedes", R"([{"op":"add","path":"/supersedes","value":"abcdefghijklmnopqrstuvwxyz"}])", "/supersedes", "only renewal"},
      {"supersedes malformed", R"([{"op":"replace","path":"/kind","value":"renewal"},{"op":"add","path":"/supersedes","value":"XYZ"}])", "/supersedes", "26 characters"},
      {"supersedes order ref empty", R"([{"op":"replace","path":"/kind","value":"reissue"},{"op":"add","path":"/supersedes","value":"order:"},{"op":"add","path":"/reason","value":"lost"}])", "/supersedes", "order:ORDER_ID"},
      {"reissue without reason", R"([{"op":"replace","path":"/kind","value":"reissue"},{"op":"add","path":"/supersedes","value":"abcdefghijklmnopqrstuvwxyz"}])", "/reason", "required"},
      {"reason on a new order", R"([{"op":"add","path":"/reason","value":"x"}])", "/reason", "only a reissue"},
      {"channel unknown", R"([{"op":"replace","path":"/channel","value":"partner"}])", "/channel", "direct, reseller or government"},
      {"reseller channel without reseller", R"([{"op":"replace","path":"/channel","value":"reseller"}])", "/reseller", "required when channel is reseller"},
      {"direct with reseller", R"([{"op":"add","path":"/reseller","value":{"id":"r1","name":"R"}}])", "/reseller", "direct order has no reseller"},
      {"reseller not object", R"([{"op":"replace","path":"/channel","value":"reseller"},{"op":"add","path":"/reseller","value":"r1"}])", "/reseller", "must be an object"},
      {"reseller without name", R"([{"op":"replace","path":"/channel","value":"reseller"},{"op":"add","path":"/reseller","value":{"id":"r1"}}])", "/reseller/name", "required"},
      {"reseller extra field", R"([{"op":"replace","path":"/channel","value":"reseller"},{"op":"add","path":"/reseller","value":{"id":"r1","name":"R","tier":"gold"}}])", "/reseller/tier", "unknown field"},
      {"customer missing", R"([{"op":"remove","path":"/customer"}])", "/customer", "required"},
      {"customer email missing", R"([{"op":"remove","path":"/customer/email"}])", "/customer/email", "required"},
      {"customer email without at", R"([{"op":"replace","path":"/customer/email","value":"ann.example.com"}])", "/customer/email", "e-mail"},
      {"customer email without domain dot", R"([{"op":"replace","path":"/customer/email","value":"ann@localhost"}])", "/customer/email", "e-mail"},
      {"customer email with space", R"([{"op":"replace","path":"/customer/email","value":"a nn@example.com"}])", "/customer/email", "e-mail"},
      {"customer name with newline", R"([{"op":"replace","path":"/customer/name","value":"Ann\nEvil: yes"}])", "/customer/name", "control characters"},
      {"customer name with C1 CSI", R"([{"op":"replace","path":"/customer/name","value":"Ann\u009b31m"}])", "/customer/name", "control characters or invisible formatting characters (U+009B at byte 3)"},
      {"customer name with NEL", R"([{"op":"replace","path":"/customer/name","value":"Ann\u0085"}])", "/customer/name", "U+0085"},
      {"customer company with right-to-left override", R"([{"op":"replace","path":"/customer/company","value":"Acme\u202eevil"}])", "/customer/company", "U+202E"},
      {"customer company with zero-width space", R"([{"op":"replace","path":"/customer/company","value":"Ac\u200bme"}])", "/customer/company", "U+200B"},
      {"customer name with word joiner", R"([{"op":"replace","path":"/customer/name","value":"A\u2060nn"}])", "/customer/name", "U+2060"},
      {"customer name with isolate", R"([{"op":"replace","path":"/customer/name","value":"\u2066Ann\u2069"}])", "/customer/name", "U+2066"},
      {"customer name with byte order mark", R"([{"op":"replace","path":"/customer/name","value":"\ufeffAnn"}])", "/customer/name", "U+FEFF at byte 0"},
      {"customer name with tab", R"([{"op":"replace","path":"/customer/name","value":"Ann\tB"}])", "/customer/name", "U+0009"},
      {"customer name with DEL", R"([{"op":"replace","path":"/customer/name","value":"Ann\u007f"}])", "/customer/name", "U+007F"},
      {"po number with escape", R"([{"op":"add","path":"/po_number","value":"PO\u001b[2J"}])", "/po_number", "U+001B"},
      {"notes with NUL", R"([{"op":"add","path":"/notes","value":"a\u0000b"}])", "/notes", "other than newline and tab (U+0000 at byte 1)"},
      {"notes with escape", R"([{"op":"add","path":"/notes","value":"a\n\u001b[2Jc"}])", "/notes", "U+001B at byte 2"},
      {"notes with carriage return", R"([{"op":"add","path":"/notes","value":"line\r\nline"}])", "/notes", "U+000D"},
      {"notes with C1", R"([{"op":"add","path":"/notes","value":"a\u009bb"}])", "/notes", "U+009B"},
      {"reason with escape", R"([{"op":"replace","path":"/kind","value":"reissue"},{"op":"add","path":"/supersedes","value":"abcdefghijklmnopqrstuvwxyz"},{"op":"add","path":"/reason","value":"\u001b[32mok"}])", "/reason", "U+001B"},
      {"reason with bidi override", R"([{"op":"replace","path":"/kind","value":"reissue"},{"op":"add","path":"/supersedes","value":"abcdefghijklmnopqrstuvwxyz"},{"op":"add","path":"/reason","value":"lost \u202d"}])", "/reason", "U+202D"},
      {"customer unknown field", R"([{"op":"add","path":"/customer/phone","value":"555"}])", "/customer/phone", "unknown field"},
      {"customer id bad chars", R"([{"op":"replace","path":"/customer/id","value":"c 1"}])", "/customer/id", "A-Z a-z 0-9"},
      {"sku unknown", R"([{"op":"replace","path":"/sku","value":"platinum"}])", "/sku", "professional, enterprise"},
      {"sku wrong case", R"([{"op":"replace","path":"/sku","value":"Enterprise"}])", "/sku", "professional, enterprise"},
      {"seats zero", R"([{"op":"replace","path":"/seats","value":0}])", "/seats", "1 to 1000000"},
      {"seats negative", R"([{"op":"replace","path":"/seats","value":-5}])", "/seats", "1 to 1000000"},
      {"seats above policy", R"([{"op":"replace","path":"/seats","value":1000001}])", "/seats", "1 to 1000000"},
      {"seats huge", R"([{"op":"replace","path":"/seats","value":18446744073709551615}])", "/seats", "1 to 1000000"},
      {"seats float", R"([{"op":"replace","path":"/seats","value":10.5}])", "/seats", "integer"},
      {"seats string", R"([{"op":"replace","path":"/seats","value":"10"}])", "/seats", "integer"},
      {"starts_at missing", R"([{"op":"remove","path":"/starts_at"}])", "/starts_at", "required"},
      {"starts_at not a date", R"([{"op":"replace","path":"/starts_at","value":"next monday"}])", "/starts_at", "RFC 3339"},
      {"starts_at impossible date", R"([{"op":"replace","path":"/starts_at","value":"2026-02-30"}])", "/starts_at", "RFC 3339"},
      {"starts_at with offset", R"([{"op":"replace","path":"/starts_at","value":"2026-01-01T00:00:00+02:00"}])", "/starts_at", "RFC 3339"},
      {"expires before starts", R"([{"op":"replace","path":"/expires_at","value":"2025-12-31"}])", "/expires_at", "after starts_at"},
      {"expires equals starts", R"([{"op":"replace","path":"/expires_at","value":"2026-01-01"}])", "/expires_at", "after starts_at"},
      {"term too long", R"([{"op":"replace","path":"/expires_at","value":"2030-01-01"}])", "/expires_at", "at most 3 years (policy max_term_years)"},
      {"term 3 years and 1 ms", R"([{"op":"replace","path":"/expires_at","value":"2029-01-01T00:00:00.001Z"}])", "/expires_at", "at the latest 2029-01-01T00:00:00.000Z"},
      {"starts before the epoch", R"([{"op":"replace","path":"/starts_at","value":"1969-12-31"}])", "/starts_at", "1970-01-01 or later"},
      {"starts in year 0", R"([{"op":"replace","path":"/starts_at","value":"0000-01-01"},{"op":"replace","path":"/expires_at","value":"0001-01-01"}])", "/starts_at", "1970-01-01 or later"},
      {"the product's trial term, not a trial", R"([{"op":"replace","path":"/expires_at","value":"2026-01-31T08:00:00Z"}])", "/expires_at", "the product server would take this license for a trial"},
      {"the product's admin trial term, not a trial", R"([{"op":"replace","path":"/expires_at","value":"2026-01-31T23:59:59Z"}])", "/expires_at", "30 days 23:59:59"},
      {"premier on professional", R"([{"op":"replace","path":"/sku","value":"professional"},{"op":"add","path":"/premier_support","value":true}])", "/premier_support", "E20, enterprise or advanced"},
      {"premier not bool", R"([{"op":"add","path":"/premier_support","value":"yes"}])", "/premier_support", "true or false"},
      {"nonprod without premier", R"([{"op":"add","path":"/non_production_deployments","value":2}])", "/non_production_deployments", "only with premier_support"},
      {"nonprod above 4", R"([{"op":"add","path":"/premier_support","value":true},{"op":"add","path":"/non_production_deployments","value":5}])", "/non_production_deployments", "0 to 4"},
      {"government on direct", R"([{"op":"add","path":"/government","value":true}])", "/government", "channel government or reseller"},
      {"trial not bool", R"([{"op":"add","path":"/trial","value":1}])", "/trial", "true or false"},
      {"deployment id bad chars", R"([{"op":"add","path":"/deployment_id","value":"../etc"}])", "/deployment_id", "A-Z a-z 0-9"},
      {"feature unknown", R"([{"op":"add","path":"/features","value":{"teleport":true}}])", "/features/teleport", "unknown feature flag"},
      {"feature not bool", R"([{"op":"add","path":"/features","value":{"saml":"on"}}])", "/features/saml", "true or false"},
      {"feature cloud on", R"([{"op":"add","path":"/features","value":{"cloud":true}}])", "/features/cloud", "must not be true: a cloud license"},
      {"feature future_features on", R"([{"op":"add","path":"/features","value":{"future_features":true}}])", "/features/future_features", "every flag a later server version adds"},
      {"feature users", R"([{"op":"add","path":"/features","value":{"users":5}}])", "/features/users", "comes from seats"},
      {"features not object", R"([{"op":"add","path":"/features","value":["saml"]}])", "/features", "must be an object"},
      {"unknown top-level field", R"([{"op":"add","path":"/seat","value":10}])", "/seat", "unknown field"},
      {"po number too long", R"([{"op":"add","path":"/po_number","value":"PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP"}])", "/po_number", "at most 64"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      const auto m = base_manifest().patch(Json::parse(c.patch));
      const auto problems = problems_of(m);
      REQUIRE_FALSE(problems.empty());
      bool found = false;
      for (const auto& p : problems) {
        if (p.pointer == c.pointer && p.rule.find(c.rule) != std::string::npos) found = true;
      }
      INFO(c.name << ": " << problems.front().text());
      CHECK(found);
      // The refusal names the file and, when it is readable, the order.
      CHECK(problems.front().text().starts_with("t.json"));
    }
  }
  CHECK(std::size(cases) >= 40);
}

TEST_CASE("the term is at most policy.max_term_years calendar years, and max_term_days when set", "[manifest]") {
  auto m = base_manifest();
  m["expires_at"] = "2029-01-01";  // exactly 3 years (1096 days, with 2028-02-29)
  CHECK(problems_of(m).empty());
  m["starts_at"] = "2028-02-29";  // no 29 February in 2031: its 28 February
  m["expires_at"] = "2031-02-28";
  CHECK(problems_of(m).empty());
  m["expires_at"] = "2031-03-01";
  CHECK_FALSE(problems_of(m).empty());
  // A trial of the product's own trial term is what the product expects.
  m = base_manifest();
  m["expires_at"] = "2026-01-31T08:00:00Z";
  m["trial"] = true;
  CHECK(problems_of(m).empty());
  signet::Policy p;
  p.max_term_years = 1;
  p.max_term_days = 30;
  m = base_manifest();
  auto r = signet::validate_manifest(m, "t.json", p);
  REQUIRE(std::holds_alternative<std::vector<signet::ManifestProblem>>(r));
  CHECK_THAT(std::get<1>(r).front().rule, Catch::Contains("at most 30 days (policy max_term_days)"));
  p.max_term_days = 0;
  CHECK(std::holds_alternative<signet::Order>(signet::validate_manifest(m, "t.json", p)));
}

TEST_CASE("a problem's text names file, order, pointer and rule", "[manifest]") {
  auto m = base_manifest();
  m["seats"] = 0;
  const auto problems = problems_of(m);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].text() == "t.json: order SO-1: /seats: must be an integer 1 to 1000000");
}

TEST_CASE("an order id may look like a non-production file name only in part", "[manifest]") {
  // X.nonprod-1 would write X.nonprod-1.license, the first non-production file of order X.
  for (const char* id : {"X.nonprod", "X.nonprod-", "X.nonprod-1a", "Xnonprod-1", "X-nonprod-1", "nonprod-1"}) {
    INFO(id);
    auto m = base_manifest();
    m["order_id"] = id;
    CHECK(problems_of(m).empty());
  }
}

TEST_CASE("text may hold any script; notes and reasons may hold newlines and tabs", "[manifest]") {
  auto m = base_manifest();
  m["customer"]["name"] = "Zoë Ørsted 中文 Ελένη 😀";
  m["customer"]["company"] = "Société Générale";
  m["notes"] = "line one\n\tline two";
  CHECK(problems_of(m).empty());
  // Scripts that need the zero-width non-joiner and joiner (Persian, Devanagari, emoji sequences).
  m["customer"]["name"] = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u0915\u094d\u200d\u0937 \U0001F469\u200d\U0001F4BB";
  CHECK(problems_of(m).empty());
  m["kind"] = "reissue";
  m["supersedes"] = "abcdefghijklmnopqrstuvwxyz";
  m["reason"] = "server rebuilt:\n\tnew hardware";
  CHECK(problems_of(m).empty());
}

TEST_CASE("the text rule and the terminal escape agree on every character", "[manifest][text]") {
  CHECK(signet::text_rule_broken("plain text", false).empty());
  CHECK(signet::text_rule_broken("a\nb\tc", true).empty());
  CHECK_FALSE(signet::text_rule_broken("a\nb", false).empty());
  CHECK(signet::text_rule_broken("\xc3\x28", false).find("valid UTF-8") != std::string::npos);
  CHECK(signet::text_rule_broken("\xed\xa0\x80", false).find("valid UTF-8") != std::string::npos);  // a surrogate
  CHECK(signet::text_rule_broken("\xc0\xaf", false).find("valid UTF-8") != std::string::npos);      // overlong '/'
  static constexpr char32_t refused[] = {0x0000, 0x001f, 0x007f, 0x0080, 0x009f, 0x061c, 0x200b, 0x200e, 0x200f,
                                         0x2028, 0x202e, 0x2060, 0x2064, 0x2066, 0x2069, 0xfeff, 0x00ad, 0x034f,
                                         0x115f, 0x1160, 0x17b4, 0x17b5, 0x180e, 0x3164, 0xffa0, 0xfff9, 0xfffb,
                                         0xe0000, 0xe0041, 0xe007f};
  for (const char32_t c : refused) CHECK(signet::is_control_or_format(c));
  static constexpr char32_t allowed[] = {0x0020, 0x007e, 0x00a0, 0x00ac, 0x00ae, 0x00e9, 0x200a, 0x200c, 0x200d,
                                         0x2027, 0x202f, 0x2065, 0x206a, 0x3163, 0x3165, 0xfffd, 0xe0080, 0x1f600};
  for (const char32_t c : allowed) CHECK_FALSE(signet::is_control_or_format(c));
  CHECK(signet::escape_for_terminal("C\xc2\x9b" "31mRED\xc2\x85\xe2\x80\xae!") == "C\\u009b31mRED\\u0085\\u202e!");
  CHECK(signet::escape_for_terminal("\x1b[2J a\\b\n\t\r \xff é") == "\\u001b[2J a\\\\b\\n\\t\\r \\xff é");
  CHECK(signet::escape_json_for_terminal("{\"a\":\"x\xc2\x9b\xe2\x80\xaey é\\u001b\"}") == "{\"a\":\"x\\u009b\\u202ey é\\u001b\"}");
}

TEST_CASE("a text of invisible characters or of white space only is refused, naming the field", "[manifest][text]") {
  const std::pair<std::string, std::string> cases[] = {
      {"\u3164", "U+3164"},                       // a Hangul filler: a name that shows as nothing
      {"Ann\u00adSmith", "U+00AD"},               // a soft hyphen: looks like AnnSmith
      {"Acme\u180e", "U+180E"},                   // the Mongolian vowel separator
      {"Acme\U000E0041", "U+E0041"},              // a tag character
      {"   ", "must not be blank"},
      {"\u00a0\u3000", "must not be blank"},
  };
  for (const auto& [name, rule] : cases) {
    INFO(name);
    auto m = base_manifest();
    m["customer"]["name"] = name;
    const auto problems = problems_of(m);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].pointer == "/customer/name");
    CHECK_THAT(problems[0].rule, Catch::Contains(rule));
  }
  auto m = base_manifest();
  m["customer"]["name"] = " Ann Smith ";  // white space around a name is text like any other
  CHECK(problems_of(m).empty());
  // Above U+FFFF the escape is the UTF-16 pair, as JSON writes it: the JSON stays the same value.
  CHECK(signet::escape_for_terminal("A\U000E0041") == "A\\udb40\\udc41");
  const auto json = Json(std::string("A\U000E0041")).dump();
  CHECK(Json::parse(signet::escape_json_for_terminal(json)) == Json(std::string("A\U000E0041")));
  CHECK(signet::escape_json_for_terminal(json) == "\"A\\udb40\\udc41\"");
  CHECK(signet::is_blank(""));
  CHECK_FALSE(signet::is_blank("\xff"));
}

TEST_CASE("every flag of the product server is known; cloud and future_features may only be off", "[manifest]") {
  // model.Features of server/public/model/license.go, users aside.
  const std::set<std::string> server = {
      "ldap", "ldap_groups", "mfa", "google_oauth", "office365_oauth", "openid", "compliance", "cluster", "metrics",
      "mhpns", "saml", "elastic_search", "announcement", "theme_management", "email_notification_contents",
      "data_retention", "message_export", "custom_permissions_schemes", "custom_terms_of_service", "guest_accounts",
      "guest_accounts_permissions", "id_loaded", "lock_teammate_name_display", "enterprise_plugins", "advanced_logging",
      "cloud", "shared_channels", "remote_cluster_service", "outgoing_oauth_connections", "auto_translation",
      "future_features"};
  const auto& names = signet::feature_names();
  CHECK(std::set<std::string>(names.begin(), names.end()) == server);
  CHECK(names.size() == server.size());
  for (const char* sku : {"enterprise", "advanced", "E20"}) {
    INFO(sku);
    CHECK(signet::sku_features(sku).at("outgoing_oauth_connections"));
    CHECK_FALSE(signet::sku_features(sku).at("auto_translation"));
  }
  for (const char* sku : {"professional", "entry", "E10"}) {
    INFO(sku);
    CHECK_FALSE(signet::sku_features(sku).at("outgoing_oauth_connections"));
    CHECK_FALSE(signet::sku_features(sku).at("auto_translation"));
  }
  for (const auto& sku : {"professional", "enterprise", "advanced", "entry", "E10", "E20"}) {
    CHECK_FALSE(signet::sku_features(sku).at("cloud"));
    CHECK_FALSE(signet::sku_features(sku).at("future_features"));
    CHECK(signet::sku_features(sku).size() == server.size());
  }
  auto m = base_manifest();
  m["features"] = {{"auto_translation", true}, {"cloud", false}, {"future_features", false}};
  const auto r = signet::validate_manifest(m, "t.json", signet::Policy{});
  REQUIRE(std::holds_alternative<signet::Order>(r));
  CHECK(std::get<signet::Order>(r).features.at("auto_translation"));
}

TEST_CASE("all problems of a manifest are reported at once", "[manifest]") {
  auto m = base_manifest();
  m["seats"] = 0;
  m["sku"] = "gold";
  m["customer"]["email"] = "nope";
  CHECK(problems_of(m).size() == 3);
}

TEST_CASE("strict JSON: duplicate keys, deep nesting and garbage are refused", "[manifest]") {
  std::string why;
  CHECK_FALSE(signet::parse_strict_json(R"({"seats":1,"seats":1000})", why));
  CHECK(why.find("duplicate key \"seats\"") != std::string::npos);
  CHECK_FALSE(signet::parse_strict_json(R"({"customer":{"id":"a","id":"b"}})", why));
  CHECK_FALSE(signet::parse_strict_json(std::string(100, '[') + std::string(100, ']'), why));
  CHECK(why.find("nested deeper") != std::string::npos);
  CHECK_FALSE(signet::parse_strict_json("{\"a\":1", why));
  CHECK_FALSE(signet::parse_strict_json("{\"a\":\"\xff\"}", why));
  CHECK(signet::parse_strict_json(R"({"a":{"id":1},"b":{"id":2}})", why));
  // Found by fuzz_manifest: a number too large for a double escaped as an internal error.
  CHECK_FALSE(signet::parse_strict_json(R"({"seats":1e400})", why));
  CHECK(why.find("out of range") != std::string::npos);
  CHECK_FALSE(signet::parse_strict_json(R"({"users":-1e999})", why));
  // The parser takes a NUL for the end of its input: what follows one must not be ignored.
  CHECK_FALSE(signet::parse_strict_json(std::string("{\"a\":1}\0 {\"seats\":9}", 17), why));
  CHECK_THAT(why, Catch::Contains("NUL byte at byte offset 7"));
  CHECK_FALSE(signet::parse_strict_json(std::string("\0{}", 3), why));
}

TEST_CASE("a repeated key is named by its JSON Pointer", "[manifest]") {
  std::string why;
  std::string pointer;
  CHECK_FALSE(signet::parse_strict_json(R"({"customer":{"id":"a","name":"x","name":"y"},"seats":1})", why, &pointer));
  CHECK(pointer == "/customer/name");
  CHECK_FALSE(signet::parse_strict_json(R"({"a":[{"b":1},{"c":{"d~/e":1,"d~/e":2}}]})", why, &pointer));
  CHECK(pointer == "/a/1/c/d~0~1e");
  CHECK_FALSE(signet::parse_strict_json(R"({"x":{"y":1},"z":2,"z":3})", why, &pointer));
  CHECK(pointer == "/z");
}

namespace {

struct Collected {
  std::vector<signet::Order> orders;
  std::vector<signet::ManifestProblem> problems;
};

Collected read_all(const std::vector<std::filesystem::path>& inputs, const signet::ReadOptions& options = {}) {
  Collected c;
  signet::read_orders(signet::manifest_files(inputs), options, [&](signet::Order&& o) { c.orders.push_back(std::move(o)); },
                      [&](signet::ManifestProblem&& p) { c.problems.push_back(std::move(p)); });
  return c;
}

}  // namespace

TEST_CASE("folders are read recursively and sorted; .jsonl problems name the line", "[manifest]") {
  const auto dir = signet::test::temp_dir("signet-manifests");
  std::filesystem::create_directories(dir / "b");
  auto m = base_manifest();
  m["order_id"] = "B-1";
  signet::test::write_file(dir / "b" / "x.json", m.dump());
  m["order_id"] = "A-1";
  signet::test::write_file(dir / "a.json", m.dump());
  signet::test::write_file(dir / "ignored.txt", "not a manifest");
  std::string lines;
  m["order_id"] = "C-1";
  lines += m.dump() + "\n\n";
  m["order_id"] = "C-2";
  m["seats"] = "many";
  lines += m.dump() + "\n";
  signet::test::write_file(dir / "c.jsonl", lines);
  const auto c = read_all({dir});
  REQUIRE(c.orders.size() == 3);
  CHECK(c.orders[0].order_id == "A-1");
  CHECK(c.orders[1].order_id == "B-1");
  CHECK(c.orders[2].order_id == "C-1");
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].source == (dir / "c.jsonl").string() + ":3");
  CHECK(c.problems[0].order_id == "C-2");
  CHECK(c.problems[0].pointer == "/seats");
  std::filesystem::remove_all(dir);
}

TEST_CASE("a manifest with a NUL byte, or a repeated key, is refused naming the order and the field", "[manifest]") {
  const auto dir = signet::test::temp_dir("signet-nul");
  auto m = base_manifest();
  m["order_id"] = "N-1";
  signet::test::write_file(dir / "nul.json", m.dump() + std::string(1, '\0') + R"( {"seats":100000} )" + "\xff");
  m["order_id"] = "N-2";
  signet::test::write_file(dir / "nul.jsonl", m.dump() + std::string(1, '\0') + "junk\n");
  m["order_id"] = "D-1";
  auto dup = m.dump();
  dup.insert(dup.find("\"name\":"), R"("name":"Mallory",)");  // the first "name" is the customer's
  signet::test::write_file(dir / "dup.json", dup);
  const auto c = read_all({dir});
  CHECK(c.orders.empty());
  REQUIRE(c.problems.size() == 3);
  std::map<std::string, signet::ManifestProblem> by_file;
  for (const auto& p : c.problems) by_file.emplace(std::filesystem::path(p.source).filename().string(), p);
  CHECK_THAT(by_file.at("nul.json").rule, Catch::Contains("NUL byte"));
  CHECK_THAT(by_file.at("nul.jsonl:1").rule, Catch::Contains("NUL byte"));
  const auto& d = by_file.at("dup.json");
  CHECK(d.pointer == "/customer/name");
  CHECK(d.order_id == std::optional<std::string>("D-1"));
  CHECK_THAT(d.rule, Catch::Contains("duplicate key \"name\""));
  std::filesystem::remove_all(dir);
}

TEST_CASE("oversized files and lines are refused without being loaded", "[manifest]") {
  const auto dir = signet::test::temp_dir("signet-big");
  {
    // A sparse 2 GiB .json file: refused by its size alone.
    std::ofstream f(dir / "huge.json", std::ios::binary);
    f.seekp((2LL << 30) - 1);
    f.put('}');
  }
  auto c = read_all({dir / "huge.json"});
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].rule.find("more than the") != std::string::npos);
  // A 10 MB string inside one .jsonl line.
  auto m = base_manifest();
  m["notes"] = std::string(10'000'000, 'x');
  signet::test::write_file(dir / "long.jsonl", m.dump() + "\n" + base_manifest().dump() + "\n");
  c = read_all({dir / "long.jsonl"});
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].source.ends_with("long.jsonl:1"));
  CHECK(c.problems[0].rule.find("line longer than") != std::string::npos);
  CHECK(c.orders.size() == 1);  // the next line is still read
  // A 10 MB string inside a .json file.
  signet::test::write_file(dir / "long.json", m.dump());
  c = read_all({dir / "long.json"});
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].rule.find("more than the") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("missing inputs and other extensions are refused", "[manifest]") {
  try {
    (void)signet::manifest_files({"/nonexistent/orders"});
    FAIL("no error");
  } catch (const signet::Error& e) {
    CHECK(e.kind() == signet::ErrorKind::no_input);
    CHECK(std::string(e.what()).find("/nonexistent/orders") != std::string::npos);
  }
  const auto dir = signet::test::temp_dir("signet-ext");
  signet::test::write_file(dir / "order.txt", "{}");
  CHECK_THROWS_AS(signet::manifest_files({dir / "order.txt"}), signet::Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("signed manifests: a trusted desk key's detached signature is checked with libsodium", "[manifest]") {
  REQUIRE(sodium_init() >= 0);
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_keypair(pk.data(), sk.data());
  // SPKI DER of an Ed25519 key: the fixed 12-byte prefix, then the key.
  signet::Bytes der = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
  der.insert(der.end(), pk.begin(), pk.end());
  signet::ReadOptions options;
  options.require_signature = true;
  options.desk_keys.push_back(signet::keystore::PublicKey::from_der(der));

  const auto dir = signet::test::temp_dir("signet-signed");
  const auto text = base_manifest().dump();
  signet::test::write_file(dir / "o.json", text);
  auto c = read_all({dir / "o.json"}, options);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].rule.find("unsigned") != std::string::npos);

  std::array<unsigned char, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(text.data()), text.size(), sk.data());
  signet::test::write_file(dir / "o.json.sig", signet::base64_encode(sig) + "\n");
  c = read_all({dir / "o.json"}, options);
  CHECK(c.problems.empty());
  CHECK(c.orders.size() == 1);

  // The same signature over a changed manifest is refused.
  auto changed = base_manifest();
  changed["seats"] = 11;
  signet::test::write_file(dir / "o.json", changed.dump());
  c = read_all({dir / "o.json"}, options);
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems[0].rule.find("does not verify") != std::string::npos);
  std::filesystem::remove_all(dir);
}
