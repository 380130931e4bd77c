// Token objects other than signing: destroying a key pair, and the data objects
// (CKO_DATA) that keep the audit log's anchored head. Checked with OpenSC's
// pkcs11-tool, which Signet did not write.
#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"
#include "signet/hsm/hsm.hpp"
#include "signet/hsm/pin.hpp"
#include "softhsm.hpp"

using namespace signet;
using signet::hsm::KeyType;
using signet::test::SoftHsm;

namespace {

struct Opened {
  std::shared_ptr<hsm::Module> module;
  std::shared_ptr<hsm::Token> token;
};

Opened open_logged_in(const SoftHsm& softhsm) {
  softhsm.activate();
  Opened s;
  s.module = hsm::Module::load(softhsm.module_path());
  s.token = hsm::Token::open(s.module, hsm::Uri::parse(softhsm.token_uri()));
  SecretBuffer pin(hsm::kMaxPinBytes);
  for (const char c : softhsm.user_pin()) pin.push_back(static_cast<std::uint8_t>(c));
  s.token->login(pin);
  return s;
}

// pkcs11-tool's standard output for the arguments (with the token and the PIN).
std::string pkcs11_tool(const SoftHsm& softhsm, const std::string& args) {
  const std::string cmd = "pkcs11-tool --module " + softhsm.module_path() + " --token-label '" +
                          softhsm.token_label() + "' --login --pin " + softhsm.user_pin() + " " + args +
                          " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) out += buf.data();
  ::pclose(p);
  return out;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

Bytes bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

}  // namespace

TEST_CASE("destroy removes both halves of a generated key pair", "[hsm][key][destroy]") {
  auto& softhsm = SoftHsm::shared();
  auto s = open_logged_in(softhsm);
  const auto pair = s.token->generate(
      {.type = KeyType::ed25519, .rsa_bits = 0, .label = "doomed", .id = Bytes{0xde, 0xad}});
  REQUIRE(count(pkcs11_tool(softhsm, "--list-objects"), "label:      doomed") == 2);
  s.token->destroy(pair);
  CHECK_FALSE(s.token->find_by_id(Bytes{0xde, 0xad}));
  CHECK(count(pkcs11_tool(softhsm, "--list-objects"), "label:      doomed") == 0);
  // The label is free again.
  const auto again = s.token->generate(
      {.type = KeyType::ed25519, .rsa_bits = 0, .label = "doomed", .id = Bytes{0xde, 0xae}});
  CHECK(again.label == "doomed");
  s.token->destroy(again);
  // Destroying what is gone is an error with the CKR_ name, not silence.
  CHECK_THROWS_WITH(s.token->destroy(again), Catch::Contains("C_DestroyObject(private key)"));
}

TEST_CASE("data objects: written, replaced, read back, private and found by label", "[hsm][data]") {
  auto& softhsm = SoftHsm::shared();
  auto s = open_logged_in(softhsm);
  const std::string app = "signet-test-app";
  const std::string label = "head-test";
  CHECK(s.token->read_data(app, label).empty());

  s.token->write_data(app, label, as_bytes("first"));
  auto values = s.token->read_data(app, label);
  REQUIRE(values.size() == 1);
  CHECK(values[0] == bytes("first"));
  // pkcs11-tool reads the same value, and only with the login (CKA_PRIVATE).
  CHECK(pkcs11_tool(softhsm, "--read-object --type data --label " + label + " --application-label " + app) ==
        "first");
  const auto listing = pkcs11_tool(softhsm, "--list-objects --type data");
  CHECK(count(listing, "label:          '" + label + "'") == 1);
  CHECK(listing.find("application:    '" + app + "'") != std::string::npos);
  CHECK(listing.find("modifiable private") != std::string::npos);

  // A new value replaces the old one (SoftHSM2 refuses to change CKA_VALUE in
  // place, so the object is recreated): still exactly one object.
  s.token->write_data(app, label, as_bytes("second, longer"));
  values = s.token->read_data(app, label);
  REQUIRE(values.size() == 1);
  CHECK(values[0] == bytes("second, longer"));
  CHECK(count(pkcs11_tool(softhsm, "--list-objects --type data"), "label:          '" + label + "'") == 1);
  // Another application's object of the same label is another object.
  CHECK(s.token->read_data("other-app", label).empty());
}
