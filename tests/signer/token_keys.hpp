// The signer tests' keys: generated in the process-wide SoftHSM2 test token and
// kept for the whole run, deliberately never destroyed (SoftHSM2 tears down its
// own state at exit, before static destructors here could close sessions).
#pragma once

#include "softhsm.hpp"

#include "signet/keystore/token.hpp"

#include <map>
#include <memory>
#include <string>

namespace signet::test {

inline keystore::TokenKeys& shared_token_keys() {
  static auto* keys = [] {
    auto& hsm = SoftHsm::shared();
    SecretBuffer pin(16);
    for (const char c : hsm.user_pin()) pin.push_back(static_cast<std::uint8_t>(c));
    return new keystore::TokenKeys(keystore::TokenKeys::open({hsm.module_path(), hsm.token_uri()}, std::move(pin)));
  }();
  return *keys;
}

// One key of each algorithm, generated on first use; the record is kept too.
inline const std::pair<keystore::KeyRecord, std::shared_ptr<keystore::SigningKey>>& shared_key(
    keystore::Algorithm alg) {
  static auto* keys = new std::map<keystore::Algorithm, std::pair<keystore::KeyRecord, std::shared_ptr<keystore::SigningKey>>>();
  auto& k = (*keys)[alg];
  if (!k.second) {
    k.first = shared_token_keys().generate(alg, "signer-test-" + std::string(keystore::to_string(alg)));
    k.second = shared_token_keys().signing_key(k.first);
  }
  return k;
}

}  // namespace signet::test
