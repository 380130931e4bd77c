// libFuzzer target: audit-log proofs.
//  1. The input as JSON (nlohmann, no exceptions): verify_inclusion_proof with no
//     keys and with one fixed Ed25519 key (so that the checkpoint-signature branch
//     is reached once the fuzzer learns its key id). It returns why a proof fails;
//     it must never crash or throw.
//  2. The input as binary: two little-endian uint64 sizes, then 32-byte hashes
//     (the first two as leaf/old root and root/new root, the rest as the path),
//     handed to verify_inclusion and verify_consistency as they are: any sizes and
//     any path must be refused cleanly.
//  3. The same hashes as the leaves of a small tree: the proofs inclusion_proof and
//     consistency_proof make for it must verify, and must not verify against a
//     different root (RFC 9162 round trip); a failure aborts.
#include "signet/audit/merkle.hpp"
#include "signet/audit/verify.hpp"
#include "signet/keystore/keys.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

namespace {

using signet::audit::Hash;

// The fixed Ed25519 key of fuzz_license.cpp (SPKI DER).
constexpr std::uint8_t kEd25519Spki[] = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,  //
    0xe7, 0x69, 0x58, 0x98, 0x62, 0x73, 0xa3, 0x72, 0xdd, 0x4d, 0x4e, 0xbf, 0xea, 0xa1, 0xe6, 0x56,
    0x6e, 0x20, 0x10, 0xff, 0x14, 0xb8, 0x65, 0x50, 0x5c, 0x41, 0x2c, 0x55, 0xa7, 0x51, 0xfa, 0x0a};

const std::vector<signet::keystore::PublicKey>& fixed_keys() {
  static const std::vector<signet::keystore::PublicKey> keys{signet::keystore::PublicKey::from_der(kEd25519Spki)};
  return keys;
}

std::uint64_t load_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8U) | p[i];
  return v;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_proof: %s\n", what);
    std::abort();
  }
}

// Repeated leaves make repeated subtrees, under which a path may hold at more than one index.
bool distinct(std::span<const Hash> leaves) {
  for (std::size_t i = 0; i < leaves.size(); ++i)
    for (std::size_t j = i + 1; j < leaves.size(); ++j)
      if (leaves[i] == leaves[j]) return false;
  return true;
}

void json_proof(const std::uint8_t* data, std::size_t size) {
  const auto json = signet::Json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) return;
  (void)signet::audit::verify_inclusion_proof(json, {});
  (void)signet::audit::verify_inclusion_proof(json, fixed_keys());
}

void binary_proofs(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t kHash = sizeof(Hash);
  if (size < 16) return;
  const auto a = load_u64(data);
  const auto b = load_u64(data + 8);
  std::vector<Hash> hashes((size - 16) / kHash);
  for (std::size_t i = 0; i < hashes.size(); ++i) std::memcpy(hashes[i].data(), data + 16 + i * kHash, kHash);

  // 2. Raw: whatever the sizes and the path, no crash.
  const Hash zero{};
  const Hash& first = hashes.empty() ? zero : hashes[0];
  const Hash& second = hashes.size() < 2 ? zero : hashes[1];
  const auto path = std::span<const Hash>(hashes).subspan(std::min<std::size_t>(2, hashes.size()));
  (void)signet::audit::verify_inclusion(a, b, first, path, second);
  (void)signet::audit::verify_consistency(a, b, first, second, path);
  (void)signet::audit::verify_inclusion(a, b, first, hashes, second);
  (void)signet::audit::verify_consistency(a, b, first, second, hashes);

  // 3. Round trip over a small tree of the hashes as leaves.
  constexpr std::size_t kMaxLeaves = 130;
  if (hashes.empty()) return;
  const auto leaves = std::span<const Hash>(hashes).first(std::min(hashes.size(), kMaxLeaves));
  const std::uint64_t n = leaves.size();
  const auto root = signet::audit::tree_root(leaves);
  Hash other = root;
  other[0] ^= 0x01U;

  const auto index = a % n;
  const auto inclusion = signet::audit::inclusion_proof(leaves, index);
  check(signet::audit::verify_inclusion(index, n, leaves[index], inclusion, root), "inclusion proof does not verify");
  check(!signet::audit::verify_inclusion(index, n, leaves[index], inclusion, other),
        "inclusion proof verifies against another root");
  if (n > 1 && distinct(leaves))
    check(!signet::audit::verify_inclusion((index + 1) % n, n, leaves[index], inclusion, root),
          "inclusion proof verifies at another index");

  const auto m = 1 + b % n;
  const auto old_root = signet::audit::tree_root(leaves.first(m));
  const auto consistency = signet::audit::consistency_proof(leaves, m);
  check(signet::audit::verify_consistency(m, n, old_root, root, consistency), "consistency proof does not verify");
  check(!signet::audit::verify_consistency(m, n, old_root, other, consistency),
        "consistency proof verifies against another new root");
  if (m < n) {
    Hash other_old = old_root;
    other_old[0] ^= 0x01U;
    check(!signet::audit::verify_consistency(m, n, other_old, root, consistency),
          "consistency proof verifies against another old root");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)fixed_keys();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  json_proof(data, size);
  binary_proofs(data, size);
  return 0;
}
