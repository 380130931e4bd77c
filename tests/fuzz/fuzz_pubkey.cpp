// libFuzzer target: public keys as `signet verify --pubkey`, `audit verify
// --pubkey` and the audit log's key_generated records give them, PEM or DER.
// Beyond "no crash, no leak, no UB", a key that is accepted must be canonical:
// its key id is the SHA-256 of its DER, and reading its own DER or PEM again
// gives the same key id (so no two encodings of one key have two ids).
#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"
#include "signet/keystore/keys.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void check(const signet::keystore::PublicKey& key) {
  if (key.key_id() != signet::to_hex(signet::sha256(key.der()))) std::abort();
  if (signet::keystore::PublicKey::from_der(key.der()).key_id() != key.key_id()) std::abort();
  if (signet::keystore::PublicKey::from_pem(key.pem()).key_id() != key.key_id()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    check(signet::keystore::PublicKey::from_der(signet::ByteView(data, size)));
  } catch (const signet::keystore::KeyError&) {
  }
  try {
    check(signet::keystore::PublicKey::from_pem(text));
  } catch (const signet::keystore::KeyError&) {
  }
  return 0;
}
