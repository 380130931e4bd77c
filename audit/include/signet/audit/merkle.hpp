// RFC 9162 (Certificate Transparency v2) Merkle trees over the audit log: leaf
// hash SHA-256(0x00 || E), node hash SHA-256(0x01 || left || right), the tree
// head of n leaves, inclusion and consistency proofs and their verification
// (RFC 9162 sections 2.1.3 and 2.1.4). Pure functions; thread-safe.
#pragma once

#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"
#include "signet/core/error.hpp"

#include <optional>
#include <span>
#include <string>

#include <cstdint>
#include <vector>

namespace signet::audit {

using Hash = Sha256Digest;

Hash leaf_hash(ByteView entry);
Hash node_hash(const Hash& left, const Hash& right);
// The tree head of no leaves: SHA-256 of the empty string.
Hash empty_root();

// The compact right edge of a growing tree: one perfect subtree per set bit of
// the size. Appending is O(log n); root() is the RFC 9162 tree head.
class Frontier {
 public:
  void append(const Hash& leaf);
  [[nodiscard]] std::uint64_t size() const noexcept { return m_size; }
  [[nodiscard]] Hash root() const;
  // The subtree roots (for storing the frontier) and the inverse.
  [[nodiscard]] const std::vector<Hash>& nodes() const noexcept { return m_stack; }
  // nullopt when the node count does not match the size's set bits.
  static std::optional<Frontier> restore(std::uint64_t size, std::vector<Hash> nodes);

 private:
  std::uint64_t m_size = 0;
  std::vector<Hash> m_stack;  // subtree roots, largest (leftmost) first
};

// MTH(D[0:n]) of the given leaf hashes.
Hash tree_root(std::span<const Hash> leaves);
// PATH(m, D[0:n]): the inclusion proof of leaf `index` in the tree of all `leaves`.
std::vector<Hash> inclusion_proof(std::span<const Hash> leaves, std::uint64_t index);
// PROOF(m, D[0:n]): the consistency proof from the tree of the first `old_size` leaves.
std::vector<Hash> consistency_proof(std::span<const Hash> leaves, std::uint64_t old_size);

// RFC 9162 2.1.3.2: true when the path proves `leaf` at `index` in a tree of `size` with `root`.
[[nodiscard]] bool verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                                    std::span<const Hash> path, const Hash& root);
// RFC 9162 2.1.4.2: true when the proof shows the tree (new_size, new_root) extends (old_size, old_root).
[[nodiscard]] bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                                      const Hash& new_root, std::span<const Hash> proof);

std::string to_hex(const Hash& hash);
// Parses 64 hex digits; nullopt otherwise.
std::optional<Hash> hash_from_hex(std::string_view hex);

}  // namespace signet::audit
