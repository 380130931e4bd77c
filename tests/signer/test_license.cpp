// License payloads and encodings, signed in a real SoftHSM2 token and checked
// by libsodium/OpenSSL through keystore::PublicKey and by the vendor's vector.
#include "appliance.hpp"
#include "token_keys.hpp"

#include "signet/core/bytes.hpp"
#include "signet/keystore/token.hpp"
#include "signet/signer/license.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <iterator>
#include <map>
#include <regex>
#include <set>

using signet::Json;

namespace {

std::shared_ptr<signet::keystore::SigningKey> key(signet::keystore::Algorithm alg) {
  return signet::test::shared_key(alg).second;
}

signet::Terms terms() {
  signet::Terms t;
  t.license_id = signet::new_license_id();
  t.issued_at = signet::now_utc();
  t.starts_at = *signet::parse_rfc3339_utc("2026-01-01");
  t.expires_at = *signet::parse_rfc3339_utc("2027-01-01");
  t.customer = {"c1", "Ann", "ann@example.com", "Example Ltd"};
  t.sku = "enterprise";
  t.users = 250;
  t.features = signet::sku_features("enterprise");
  return t;
}

std::string fixture(const std::string& name) {
  return signet::test::read_file(signet::test::source_dir() / "tests/fixtures/product-server" / name);
}

}  // namespace

TEST_CASE("license ids are 26 characters of a-z0-9 and differ", "[license]") {
  const std::regex shape("^[a-z0-9]{26}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto id = signet::new_license_id();
    CHECK(std::regex_match(id, shape));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
  // Every character equally likely: 20,000 ids, each count within 5% of the
  // expectation (6 standard deviations; a plain byte % 36 would put a-d 14% high).
  std::map<char, int> counts;
  for (int i = 0; i < 20000; ++i)
    for (const char c : signet::new_license_id()) ++counts[c];
  CHECK(counts.size() == 36);
  const double expected = 20000.0 * 26 / 36;
  for (const auto& [c, n] : counts) {
    INFO(c);
    CHECK(std::abs(n - expected) < 0.05 * expected);
  }
}

TEST_CASE("the payload has what the product reads, every flag explicit", "[license]") {
  const auto p = signet::payload_json(terms());
  CHECK(p.at("features").at("users") == 250);
  for (const auto& name : signet::feature_names()) CHECK(p.at("features").at(name).is_boolean());
  CHECK(p.at("features").at("future_features") == false);
  CHECK(p.at("sku_name") == "Enterprise");
  CHECK(p.at("sku_short_name") == "enterprise");
  CHECK(p.at("starts_at") == 1767225600000);
  CHECK(p.at("customer").size() == 4);
  CHECK(p.at("is_trial") == false);
  CHECK(p.at("is_gov_sku") == false);
}

TEST_CASE("the payload text is exactly the canonical JSON of the payload object", "[license]") {
  // Varied terms: optional fields, every SKU, strings that need escapes, UTF-8.
  const char* names[] = {"Ann", "O\"Brien \\ Sons", "tab\there", "Zoë Ünal", "line\nbreak", "\x01\x1f\x7f", "日本語"};
  int n = 0;
  for (const auto& sku : {"professional", "enterprise", "advanced", "entry", "E10", "E20"}) {
    for (const auto* name : names) {
      auto t = terms();
      t.sku = sku;
      t.features = signet::sku_features(sku);
      // Terms that leave some flags out (off), or carry keys that are not
      // flags (ignored), before, between and after the real ones.
      if (n % 3 == 1) {
        bool drop = false;
        for (auto it = t.features.begin(); it != t.features.end();)
          it = (drop = !drop) ? t.features.erase(it) : std::next(it);
      }
      if (n % 3 == 2) t.features.insert({{"a", true}, {"lde", true}, {"users", true}, {"zz", true}});
      t.customer.name = name;
      t.customer.company = std::string(name) + " Ltd";
      t.trial = n % 2 == 0;
      t.government = n % 3 == 0;
      t.non_production = n % 4 == 0;
      if (n % 5 == 0) t.deployment_id = "dep-" + std::to_string(n);
      t.users = n * 1000 + 1;
      t.issued_at = signet::from_unix_ms(1'700'000'000'123 + n);
      INFO(sku << " " << name);
      CHECK(signet::payload_text(t) == signet::canonical_json(signet::payload_json(t)));
      ++n;
    }
  }
}

TEST_CASE("the vendor's own license verifies with its key, and nothing else does", "[license][vector]") {
  const auto text = fixture("mm_test_license.txt");
  const auto vendor = signet::keystore::PublicKey::from_pem(fixture("mm_test_pubkey.pem"));
  const auto d = signet::decode_license(text);
  CHECK(d.encoding == signet::Encoding::mattermost);
  CHECK(d.payload_json.at("id") == "zogw65n8gifj5dlrha8mbu1piw");
  CHECK(d.payload_json.at("features").at("users") == 200000);
  CHECK(signet::verify_license(d, vendor));
  // Another RSA key.
  CHECK_FALSE(signet::verify_license(d, key(signet::keystore::Algorithm::rsa2048)->public_key()));
  // Any change to the file: flip one bit of each of a spread of decoded bytes.
  const auto raw = *signet::base64_decode(text);
  for (std::size_t i = 0; i < raw.size(); i += 37) {
    auto changed = raw;
    changed[i] ^= 0x01;
    try {
      const auto dc = signet::decode_license(signet::base64_encode(changed));
      CHECK_FALSE(signet::verify_license(dc, vendor));
    } catch (const signet::LicenseError&) {
      SUCCEED("malformed after the change");
    }
  }
}

TEST_CASE("mattermost licenses signed in the token verify and stay under 10,000 bytes", "[license]") {
  auto k = key(signet::keystore::Algorithm::rsa2048);
  for (int i = 0; i < 20; ++i) {
    const auto t = terms();
    const auto s = signet::sign_license(t, signet::Encoding::mattermost, *k);
    CHECK(s.encoded.size() < signet::kMaxEncodedLicenseBytes);
    CHECK(s.license_id == t.license_id);
    const auto d = signet::decode_license(s.encoded);
    CHECK(d.payload == s.payload);
    CHECK(d.signature.size() == 256);
    CHECK(d.signature.back() != 0);
    CHECK(signet::verify_license(d, k->public_key()));
  }
}

TEST_CASE("a signature ending in 0x00 is never issued: the payload changes and is signed again", "[license]") {
  auto k = key(signet::keystore::Algorithm::rsa2048);
  // Find terms whose payload's signature ends in 0x00 (about one in 256).
  auto t = terms();
  bool found = false;
  for (int i = 0; i < 4096 && !found; ++i) {
    t.issued_at += std::chrono::milliseconds(1);
    const auto sig = k->sign(signet::as_bytes(signet::payload_text(t)));
    found = sig.back() == 0x00;
  }
  REQUIRE(found);
  const auto p = signet::payload_json(t);
  const auto s = signet::sign_license(t, signet::Encoding::mattermost, *k);
  CHECK(s.resigned >= 1);
  CHECK(signet::to_unix_ms(s.issued_at) == p.at("issued_at").get<std::int64_t>() + s.resigned);
  const auto d = signet::decode_license(s.encoded);
  CHECK(d.payload_json.at("issued_at") == signet::to_unix_ms(s.issued_at));
  CHECK(d.signature.back() != 0x00);
  CHECK(signet::verify_license(d, k->public_key()));
  // What the server would have done with the unchanged payload: strip the 0x00 and misread.
  const auto bad_sig = k->sign(signet::as_bytes(signet::canonical_json(p)));
  const auto bad = signet::encode_mattermost(signet::canonical_json(p), bad_sig);
  try {
    const auto misread = signet::decode_license(bad);
    CHECK_FALSE(signet::verify_license(misread, k->public_key()));
  } catch (const signet::LicenseError& e) {
    CHECK(std::string(e.what()).find("payload") != std::string::npos);  // the split cut into the payload
  }
}

TEST_CASE("signet licenses cover the key id, and a signature for one purpose passes for no other", "[license]") {
  auto ed = key(signet::keystore::Algorithm::ed25519);
  const auto s = signet::sign_license(terms(), signet::Encoding::signet, *ed);
  CHECK(s.encoded.starts_with("-----BEGIN SIGNET LICENSE-----\n"));
  CHECK(s.encoded.ends_with("-----END SIGNET LICENSE-----\n"));
  const auto d = signet::decode_license(s.encoded);
  CHECK(d.kid == ed->key_id());
  CHECK(d.alg == "ed25519");
  CHECK(signet::verify_license(d, ed->public_key()));
  // The signature is over the domain-separated message, not over the payload alone.
  CHECK_FALSE(ed->public_key().verify(signet::as_bytes(d.payload), d.signature));
  // Naming another key id breaks it.
  auto other = d;
  other.kid = std::string(64, '0');
  CHECK_FALSE(signet::verify_license(other, ed->public_key()));
  // A changed payload breaks it.
  auto changed = d;
  changed.payload[10] = changed.payload[10] == 'a' ? 'b' : 'a';
  CHECK_FALSE(signet::verify_license(changed, ed->public_key()));
  // The mattermost encoding refuses an Ed25519 key.
  CHECK_THROWS_AS(signet::sign_license(terms(), signet::Encoding::mattermost, *ed), signet::Error);
}

TEST_CASE("a payload the product server's JSON parser refuses is refused, though its signature holds", "[license]") {
  auto rsa = key(signet::keystore::Algorithm::rsa2048);
  const auto payload = signet::payload_text(terms());
  const auto refusal = [&](const std::string& p) {
    const auto encoded = signet::encode_mattermost(p, rsa->sign(signet::as_bytes(p)));
    try {
      signet::decode_license(encoded);
    } catch (const signet::LicenseError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  REQUIRE(refusal(payload) == "accepted");
  // Go's encoding/json: "invalid character 'ï' looking for beginning of value".
  CHECK_THAT(refusal("\xEF\xBB\xBF" + payload), Catch::Contains("byte order mark"));
  // A NUL ended the text for the JSON parser, which then ignored what followed;
  // Go's refuses any byte after the value but white space.
  CHECK_THAT(refusal(payload + std::string("\0junk", 5)), Catch::Contains("NUL byte at byte offset"));
  CHECK_THAT(refusal(payload + std::string(1, '\0') + "{}"), Catch::Contains("NUL byte"));
}

TEST_CASE("a signet envelope must be canonical, as signet writes it", "[license]") {
  auto ed = key(signet::keystore::Algorithm::ed25519);
  const auto s = signet::sign_license(terms(), signet::Encoding::signet, *ed);
  REQUIRE(signet::verify_license(signet::decode_license(s.encoded), ed->public_key()));
  const auto begin = s.encoded.find('\n') + 1;
  const auto end = s.encoded.find('\n', begin);
  const auto body = s.encoded.substr(begin, end - begin);
  const auto with_body = [&](const std::string& b) { return s.encoded.substr(0, begin) + b + s.encoded.substr(end); };
  // The same fields, with white space, or in another order: the signature would hold, the form does not.
  auto spaced = body;
  for (std::size_t at = spaced.find("\",\""); at != std::string::npos; at = spaced.find("\",\"", at + 3))
    spaced.replace(at, 2, "\", ");
  const auto env = Json::parse(body);
  const std::string reordered = "{\"v\":1,\"sig\":" + env.at("sig").dump() + ",\"payload\":" + env.at("payload").dump() +
                                ",\"kid\":" + env.at("kid").dump() + ",\"alg\":" + env.at("alg").dump() + "}";
  for (const auto& b : {spaced, reordered, "\xEF\xBB\xBF" + body}) {
    INFO(b);
    REQUIRE(b != body);
    CHECK_THROWS_WITH(signet::decode_license(with_body(b)), Catch::Contains("envelope"));
  }
}

TEST_CASE("malformed license files are refused with a reason", "[license]") {
  const char* bad[] = {"", "not base64 at all!", "AAAA", "-----BEGIN SIGNET LICENSE-----\n{}\n-----END SIGNET LICENSE-----\n",
                       "-----BEGIN SIGNET LICENSE-----\n{\"v\":1,\"alg\":\"ed25519\",\"kid\":\"k\",\"payload\":\"e30\",\"sig\":\"AA\",\"x\":1}\n-----END SIGNET LICENSE-----\n",
                       "-----BEGIN SIGNET LICENSE-----\n{\"v\":1,\"alg\":\"md5\",\"kid\":\"k\",\"payload\":\"e30\",\"sig\":\"AA\"}\n-----END SIGNET LICENSE-----\n",
                       "-----BEGIN SIGNET LICENSE-----\n{\"v\":1,\"alg\":\"ed25519\",\"kid\":\"k\",\"payload\":\"e30\",\"sig\":\"AA\"}\n-----END SIGNET LICENSE-----\ntrailing"};
  for (const auto* text : bad) {
    INFO(text);
    CHECK_THROWS_AS(signet::decode_license(text), signet::LicenseError);
  }
  CHECK_THROWS_AS(signet::decode_license(std::string(70000, 'A')), signet::LicenseError);
  // Found by fuzz_license: numbers out of a double's range, in either encoding.
  for (const auto& entry : std::filesystem::directory_iterator(signet::test::source_dir() / "tests/fuzz/regressions/license")) {
    INFO(entry.path());
    CHECK_THROWS_AS(signet::decode_license(signet::test::read_file(entry.path())), signet::LicenseError);
  }
}
