// libFuzzer target: a license file as `signet verify` and the product read it.
// signet::decode_license recognises the encoding (mattermost base64 or the signet
// armored envelope) and refuses malformed input with LicenseError; a decoded
// license is then checked against two fixed keys: the product server's test RSA
// key (tests/fixtures/product-server/mm_test_pubkey.pem) and a fixed Ed25519 key
// (the seed corpus holds signet licenses signed by its private half, so the
// fuzzer starts from licenses that verify), and its payload against the product
// server's reading of it (product_server_problems).
#include "signet/keystore/keys.hpp"
#include "signet/signer/license.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

// tests/fixtures/product-server/mm_test_pubkey.pem
constexpr std::string_view kVendorRsaPem = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwVMaUtQMFtQsRoa2FQd+
17+acMRMqzPsFTJEix7n+tA8ieCAX0lvNBOjVh8lrt/AUe7B3ZJ0HE6v8xuKj9YA
zUqV8R27UmnIxf5TCXFWrt+fnzX31yLjqK4Fd6JmiDheUatd1hG+gkScMAPuj+Xw
4O+V5sMwaVusytVgmehqcVKYrKpDyhBDUEbDRbKKbP4YAHbmNs3AzlGBbQtvc1fi
0ww7oNKs9cZVcCIeNdwbkXmf8pK5zSXqVsmyPyH3Ue8M6JMNGuPGh1fyHRhFdIiD
lxd7LBKSh7BTjbRtG9DEt1dyMnYQDgRVAdpururuK/otowCowr6X/Etnk2NNeXcZ
4QIDAQAB
-----END PUBLIC KEY-----
)";

// SPKI DER of a fixed Ed25519 key: the 12-byte prefix 302a300506032b6570032100
// and the 32-byte public key. Key id 79ca8e24c0d0a3783edf8097189d74ee5d6bf7db704577a568949e241099745c.
constexpr std::uint8_t kEd25519Spki[] = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,  //
    0xe7, 0x69, 0x58, 0x98, 0x62, 0x73, 0xa3, 0x72, 0xdd, 0x4d, 0x4e, 0xbf, 0xea, 0xa1, 0xe6, 0x56,
    0x6e, 0x20, 0x10, 0xff, 0x14, 0xb8, 0x65, 0x50, 0x5c, 0x41, 0x2c, 0x55, 0xa7, 0x51, 0xfa, 0x0a};

struct Keys {
  signet::keystore::PublicKey rsa = signet::keystore::PublicKey::from_pem(kVendorRsaPem);
  signet::keystore::PublicKey ed25519 = signet::keystore::PublicKey::from_der(kEd25519Spki);
};

const Keys& keys() {
  static const Keys k;  // parsed once, at the first input
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)keys();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  signet::DecodedLicense license;
  try {
    license = signet::decode_license(text);
  } catch (const signet::LicenseError&) {
    return 0;
  }
  (void)signet::verify_license(license, keys().rsa);
  (void)signet::verify_license(license, keys().ed25519);
  // What `signet verify` checks once a signature holds: any payload, any shape.
  (void)signet::product_server_problems(license, size);
  return 0;
}
