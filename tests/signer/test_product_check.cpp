// The product server's reading of a license whose signature holds: the shape Go's
// json.Unmarshal into model.License needs, the id format, the 10,000-byte limit.
#include "appliance.hpp"

#include "signet/signer/license.hpp"

#include <catch2/catch.hpp>

using signet::Json;

namespace {

Json vendor_payload() {
  const auto text = signet::test::read_file(signet::test::source_dir() / "tests/fixtures/product-server/mm_test_license.txt");
  return signet::decode_license(text).payload_json;
}

std::vector<signet::ProductServerProblem> problems(const Json& payload, std::size_t bytes = 2000,
                                                   signet::Encoding encoding = signet::Encoding::mattermost) {
  signet::DecodedLicense d;
  d.encoding = encoding;
  d.payload_json = payload;
  return signet::product_server_problems(d, bytes);
}

// The one problem a payload gives, as text ("" when it gives none or several).
std::string problem_of(const Json& payload) {
  const auto p = problems(payload);
  if (p.size() != 1) {
    for (const auto& x : p) UNSCOPED_INFO(x.text());
    return p.empty() ? "" : "several";
  }
  return p.front().text();
}

}  // namespace

TEST_CASE("the vendor's license and Signet's payloads are what the product server reads", "[license][product]") {
  CHECK(problems(vendor_payload()).empty());
  signet::Terms t;
  t.license_id = signet::new_license_id();
  t.customer = {"c1", "Ann", "ann@example.com", "Example Ltd"};
  t.sku = "enterprise";
  t.users = 250;
  t.features = signet::sku_features("enterprise");
  t.deployment_id = "dep-1";
  t.non_production = true;
  CHECK(problems(signet::payload_json(t)).empty());
  // Keys the server does not know are ignored, whatever they hold.
  auto p = vendor_payload();
  p["channel"] = 17;
  p["extra"] = Json::array({1, 2});
  p["features"]["teleport"] = "maybe";
  CHECK(problems(p).empty());
  // A null is no value to Go: fine where the field is optional.
  p = vendor_payload();
  p["is_gov_sku"] = nullptr;
  p["features"]["ldap"] = nullptr;
  CHECK(problems(p).empty());
}

TEST_CASE("a payload the product server's json.Unmarshal would refuse names the field and the rule", "[license][product]") {
  struct Case {
    const char* name;
    const char* patch;  // RFC 6902 patch of the vendor's payload
    const char* text;   // the problem
  };
  static const Case cases[] = {
      {"users a string", R"([{"op":"replace","path":"/features/users","value":"200000"}])", "/features/users must be an integer"},
      {"users a float", R"([{"op":"replace","path":"/features/users","value":10.0}])", "/features/users must be an integer"},
      {"users in exponent form", R"([{"op":"replace","path":"/features/users","value":1e3}])", "/features/users must be an integer"},
      {"users missing", R"([{"op":"remove","path":"/features/users"}])", "/features/users is required"},
      {"features missing", R"([{"op":"remove","path":"/features"}])", "/features is required"},
      {"features an array", R"([{"op":"replace","path":"/features","value":[]}])", "/features must be an object of users and feature flags"},
      {"a flag a string", R"([{"op":"replace","path":"/features/ldap","value":"true"}])", "/features/ldap must be true or false"},
      {"a new flag a number", R"([{"op":"add","path":"/features/outgoing_oauth_connections","value":1}])", "/features/outgoing_oauth_connections must be true or false"},
      {"id too short", R"([{"op":"replace","path":"/id","value":"zogw65n8gifj5dlrha8mbu1pi"}])", "/id must be 26 letters and digits (the product server's id format)"},
      {"id with a dash", R"([{"op":"replace","path":"/id","value":"zogw65n8gifj5dlrha8mbu1pi-"}])", "/id must be 26 letters and digits (the product server's id format)"},
      {"id a number", R"([{"op":"replace","path":"/id","value":17}])", "/id must be a string"},
      {"id null", R"([{"op":"replace","path":"/id","value":null}])", "/id is required"},
      {"issued_at a string", R"([{"op":"replace","path":"/issued_at","value":"1684787371869"}])", "/issued_at must be an integer"},
      {"starts_at a float", R"([{"op":"replace","path":"/starts_at","value":1684787371869.5}])", "/starts_at must be an integer"},
      {"expires_at beyond int64", R"([{"op":"replace","path":"/expires_at","value":9223372036854775808}])", "/expires_at must be an integer"},
      {"expires_at missing", R"([{"op":"remove","path":"/expires_at"}])", "/expires_at is required"},
      {"customer a string", R"([{"op":"replace","path":"/customer","value":"Mattermost"}])", "/customer must be an object {id, name, email, company}"},
      {"customer missing", R"([{"op":"remove","path":"/customer"}])", "/customer is required"},
      {"customer email a number", R"([{"op":"replace","path":"/customer/email","value":5}])", "/customer/email must be a string"},
      {"sku_name a number", R"([{"op":"replace","path":"/sku_name","value":20}])", "/sku_name must be a string"},
      {"sku_short_name an object", R"([{"op":"replace","path":"/sku_short_name","value":{}}])", "/sku_short_name must be a string"},
      {"is_trial a string", R"([{"op":"replace","path":"/is_trial","value":"yes"}])", "/is_trial must be true or false"},
      {"is_gov_sku a number", R"([{"op":"replace","path":"/is_gov_sku","value":0}])", "/is_gov_sku must be true or false"},
      {"limits of the wrong type", R"([{"op":"add","path":"/limits","value":{"post_history":"x"}}])", "/limits/post_history must be an integer"},
      {"extra_users a float", R"([{"op":"add","path":"/extra_users","value":1.5}])", "/extra_users must be an integer"},
      // Go matches a key to a field without regard to case (K and S also to U+212A and U+017F); verify
      // refuses such a key, since it reads the terms by the exact names.
      {"a differently cased key", R"([{"op":"move","from":"/is_trial","path":"/IS_TRIAL"}])", "/IS_TRIAL is not spelled as the product's field is_trial: the product server reads it case-insensitively as is_trial; a license from Signet spells every key exactly"},
      {"a differently cased date", R"([{"op":"move","from":"/expires_at","path":"/Expires_At"}])", "/Expires_At is not spelled as the product's field expires_at: the product server reads it case-insensitively as expires_at; a license from Signet spells every key exactly"},
      {"a differently cased seat count", R"([{"op":"move","from":"/features/users","path":"/features/Users"}])", "/features/Users is not spelled as the product's field users: the product server reads it case-insensitively as users; a license from Signet spells every key exactly"},
      {"a differently cased customer field", R"([{"op":"move","from":"/customer/name","path":"/customer/NAME"}])", "/customer/NAME is not spelled as the product's field name: the product server reads it case-insensitively as name; a license from Signet spells every key exactly"},
      {"a differently cased limit", R"([{"op":"add","path":"/limits","value":{"Post_History":5}}])", "/limits/Post_History is not spelled as the product's field post_history: the product server reads it case-insensitively as post_history; a license from Signet spells every key exactly"},
      {"a Kelvin sign", R"([{"op":"move","from":"/sku_name","path":"/s\u212au_name"}])", "/s\u212au_name is not spelled as the product's field sku_name: the product server reads it case-insensitively as sku_name; a license from Signet spells every key exactly"},
      {"a long s", R"([{"op":"move","from":"/is_gov_sku","path":"/is_gov_\u017fku"}])", "/is_gov_\u017fku is not spelled as the product's field is_gov_sku: the product server reads it case-insensitively as is_gov_sku; a license from Signet spells every key exactly"},
  };
  for (const auto& c : cases) {
    SECTION(c.name) { CHECK(problem_of(vendor_payload().patch(Json::parse(c.patch))) == c.text); }
  }
}

TEST_CASE("a key the server reads only by folding case is refused, and still checked as the field it fills",
          "[license][product]") {
  auto texts = [](const Json& payload) {
    std::vector<std::string> out;
    for (const auto& p : problems(payload)) out.push_back(p.text());
    return out;
  };
  using Catch::Matchers::VectorContains;
  auto p = vendor_payload();
  p["Features"] = Json{{"Users", "x"}};
  p.erase("features");
  auto t = texts(p);
  CHECK(t.size() == 3);
  CHECK_THAT(t, VectorContains(std::string("/Features is not spelled as the product's field features: the product server reads "
                                           "it case-insensitively as features; a license from Signet spells every key exactly")));
  CHECK_THAT(t, VectorContains(std::string("/Features/Users is not spelled as the product's field users: the product server reads "
                                           "it case-insensitively as users; a license from Signet spells every key exactly")));
  CHECK_THAT(t, VectorContains(std::string("/Features/Users must be an integer")));
  // Given twice by case: both rules.
  p = vendor_payload();
  p["ID"] = "abcdefghijklmnopqrstuvwxyz";
  t = texts(p);
  CHECK(t.size() == 2);
  CHECK_THAT(t, VectorContains(std::string("/id is given 2 times (/ID, /id): the product server matches names without regard to "
                                           "case, and the last in the file wins")));
  CHECK_THAT(t, VectorContains(std::string("/ID is not spelled as the product's field id: the product server reads it "
                                           "case-insensitively as id; a license from Signet spells every key exactly")));
  // A key that folds to no field of its level is ignored, as the server ignores it.
  p = vendor_payload();
  p["Deployment_ID"] = "x";
  p["customer"]["Users"] = 3;
  p["features"]["Is_Trial"] = 3;
  CHECK(problems(p).empty());
}

TEST_CASE("a mattermost license file over 10,000 bytes would be refused by the product server", "[license][product]") {
  CHECK(problems(vendor_payload(), 10'000).empty());
  const auto p = problems(vendor_payload(), 10'001);
  REQUIRE(p.size() == 1);
  CHECK(p[0].pointer.empty());
  CHECK(p[0].text() == "the license file is 10001 bytes; the product server takes at most 10,000 bytes");
  // The limit is the product server's, for its own format only.
  CHECK(problems(vendor_payload(), 20'000, signet::Encoding::signet).empty());
}
