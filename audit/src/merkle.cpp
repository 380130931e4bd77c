#include "signet/audit/merkle.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace signet::audit {

namespace {

// The largest power of two strictly smaller than n (n > 1).
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

void path(std::span<const Hash> d, std::uint64_t m, std::vector<Hash>& out) {
  const auto n = d.size();
  if (n <= 1) return;
  const auto k = split_point(n);
  if (m < k) {
    path(d.first(k), m, out);
    out.push_back(tree_root(d.subspan(k)));
  } else {
    path(d.subspan(k), m - k, out);
    out.push_back(tree_root(d.first(k)));
  }
}

void subproof(std::span<const Hash> d, std::uint64_t m, bool complete, std::vector<Hash>& out) {
  const auto n = d.size();
  if (m == n) {
    if (!complete) out.push_back(tree_root(d));
    return;
  }
  const auto k = split_point(n);
  if (m <= k) {
    subproof(d.first(k), m, complete, out);
    out.push_back(tree_root(d.subspan(k)));
  } else {
    subproof(d.subspan(k), m - k, false, out);
    out.push_back(tree_root(d.first(k)));
  }
}

}  // namespace

Hash leaf_hash(ByteView entry) {
  Sha256 h;
  const std::uint8_t prefix = 0x00;
  h.update(ByteView(&prefix, 1));
  h.update(entry);
  return h.finish();
}

Hash node_hash(const Hash& left, const Hash& right) {
  std::array<std::uint8_t, 1 + 2 * kSha256Bytes> buf{};
  buf[0] = 0x01;
  std::memcpy(buf.data() + 1, left.data(), kSha256Bytes);
  std::memcpy(buf.data() + 1 + kSha256Bytes, right.data(), kSha256Bytes);
  return sha256(buf);
}

Hash empty_root() { return sha256(ByteView{}); }

void Frontier::append(const Hash& leaf) {
  m_stack.push_back(leaf);
  // Merge equal-sized subtrees: one merge per trailing 1 bit of the old size.
  for (auto s = m_size; s & 1U; s >>= 1) {
    const auto right = m_stack.back();
    m_stack.pop_back();
    m_stack.back() = node_hash(m_stack.back(), right);
  }
  ++m_size;
}

Hash Frontier::root() const {
  if (m_stack.empty()) return empty_root();
  auto acc = m_stack.back();
  for (auto it = m_stack.rbegin() + 1; it != m_stack.rend(); ++it) acc = node_hash(*it, acc);
  return acc;
}

std::optional<Frontier> Frontier::restore(std::uint64_t size, std::vector<Hash> nodes) {
  if (static_cast<std::size_t>(std::popcount(size)) != nodes.size()) return std::nullopt;
  Frontier f;
  f.m_size = size;
  f.m_stack = std::move(nodes);
  return f;
}

Hash tree_root(std::span<const Hash> leaves) {
  Frontier f;
  for (const auto& leaf : leaves) f.append(leaf);
  return f.root();
}

std::vector<Hash> inclusion_proof(std::span<const Hash> leaves, std::uint64_t index) {
  if (index >= leaves.size()) throw Error(ErrorKind::usage, "inclusion proof: leaf index beyond the tree");
  std::vector<Hash> out;
  path(leaves, index, out);
  return out;
}

std::vector<Hash> consistency_proof(std::span<const Hash> leaves, std::uint64_t old_size) {
  if (old_size == 0 || old_size > leaves.size())
    throw Error(ErrorKind::usage, "consistency proof: old size must be 1 .. new size");
  std::vector<Hash> out;
  if (old_size == leaves.size()) return out;
  subproof(leaves, old_size, true, out);
  return out;
}

bool verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf, std::span<const Hash> path,
                      const Hash& root) {
  if (index >= size) return false;
  auto fn = index;
  auto sn = size - 1;
  auto r = leaf;
  for (const auto& p : path) {
    if (sn == 0) return false;
    if ((fn & 1U) || fn == sn) {
      r = node_hash(p, r);
      if (!(fn & 1U))
        while (fn != 0 && !(fn & 1U)) { fn >>= 1; sn >>= 1; }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root, const Hash& new_root,
                        std::span<const Hash> proof) {
  if (old_size == 0 || old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (proof.empty()) return false;
  std::vector<Hash> p(proof.begin(), proof.end());
  if (std::has_single_bit(old_size)) p.insert(p.begin(), old_root);
  auto fn = old_size - 1;
  auto sn = new_size - 1;
  while (fn & 1U) { fn >>= 1; sn >>= 1; }
  auto fr = p.front();
  auto sr = p.front();
  for (std::size_t i = 1; i < p.size(); ++i) {
    const auto& c = p[i];
    if (sn == 0) return false;
    if ((fn & 1U) || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if (!(fn & 1U))
        while (fn != 0 && !(fn & 1U)) { fn >>= 1; sn >>= 1; }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

std::string to_hex(const Hash& hash) { return signet::to_hex(ByteView(hash)); }

std::optional<Hash> hash_from_hex(std::string_view hex) {
  if (hex.size() != 2 * kSha256Bytes) return std::nullopt;
  const auto bytes = from_hex(hex);
  if (!bytes) return std::nullopt;
  Hash h{};
  std::copy(bytes->begin(), bytes->end(), h.begin());
  return h;
}

}  // namespace signet::audit
