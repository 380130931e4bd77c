// Unit tests of the audit module: RFC 9162 Merkle trees and proofs (known
// answers from Certificate Transparency), the hash-chained log in a real SQLite
// file, its triggers, verification, export and queries.
#include "signet/audit/log.hpp"
#include "signet/audit/merkle.hpp"
#include "signet/audit/query.hpp"
#include "signet/audit/report.hpp"
#include "signet/audit/verify.hpp"
#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"
#include "signet/core/json.hpp"
#include "signet/core/sqlite.hpp"
#include "signet/core/time.hpp"

#include "appliance.hpp"
#include "log_fixture.hpp"

#include <sodium.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <utility>

using namespace signet;
using namespace signet::audit;
using namespace signet::audit::testing;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- helpers

Hash H(std::string_view hex) {
  const auto h = hash_from_hex(hex);
  REQUIRE(h.has_value());
  return *h;
}

std::vector<Hash> hashes(std::initializer_list<std::string_view> hex) {
  std::vector<Hash> out;
  for (const auto h : hex) out.push_back(H(h));
  return out;
}

// The leaf hashes of n distinct entries.
std::vector<Hash> make_leaves(std::size_t n) {
  std::vector<Hash> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(leaf_hash(as_bytes("entry " + std::to_string(i))));
  return out;
}

std::span<const Hash> prefix(const std::vector<Hash>& v, std::size_t n) { return {v.data(), n}; }

Hash flip(Hash h) {
  h[0] = static_cast<std::uint8_t>(h[0] ^ 0x01U);
  return h;
}

// The Certificate Transparency test tree (RFC 6962 / RFC 9162 test data).
const std::vector<std::string_view> kCtLeaves = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
const std::vector<std::string_view> kCtRoots = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

std::vector<Hash> ct_leaf_hashes() {
  std::vector<Hash> out;
  for (const auto hex : kCtLeaves) {
    const auto bytes = from_hex(hex);
    REQUIRE(bytes.has_value());
    out.push_back(leaf_hash(*bytes));
  }
  return out;
}

// SHA-256 of a file with the OpenSSL command-line tool, independent of our code.
std::string openssl_sha256(const fs::path& file) {
  const std::string cmd = "openssl dgst -sha256 -r '" + file.string() + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, static_cast<int>(sizeof buf), p) != nullptr) out += buf;
  REQUIRE(::pclose(p) == 0);
  REQUIRE(out.size() >= 64);
  return out.substr(0, 64);
}

std::vector<std::int64_t> query_seqs(Database& db, const LogFilter& f) {
  std::vector<std::int64_t> out;
  query(db, f, [&](const Entry& e) { out.push_back(e.seq); });
  return out;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

void write_lines(const fs::path& p, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  signet::test::write_file(p, text);
}

}  // namespace

// ---------------------------------------------------------------- Merkle

TEST_CASE("Merkle tree heads match the RFC 9162 / CT known answers", "[audit][merkle]") {
  const auto leaves = ct_leaf_hashes();
  for (std::size_t n = 1; n <= leaves.size(); ++n) {
    INFO("n = " << n);
    CHECK(to_hex(tree_root(prefix(leaves, n))) == kCtRoots[n - 1]);
  }
  CHECK(to_hex(empty_root()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(tree_root(std::span<const Hash>{}) == empty_root());
  // Leaf and node hashes are domain separated: SHA-256(0x00 || d), SHA-256(0x01 || l || r).
  CHECK(leaf_hash(ByteView{}) == H(kCtRoots[0]));
  CHECK(to_hex(leaf_hash(ByteView{})) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  Bytes node{0x01};
  node.insert(node.end(), leaves[0].begin(), leaves[0].end());
  node.insert(node.end(), leaves[1].begin(), leaves[1].end());
  CHECK(node_hash(leaves[0], leaves[1]) == sha256(node));
  CHECK(node_hash(leaves[0], leaves[1]) == H(kCtRoots[1]));
}

TEST_CASE("Merkle proofs match the CT known answers for the 8-leaf tree", "[audit][merkle]") {
  const auto leaves = ct_leaf_hashes();
  struct Inclusion {
    std::uint64_t index, size;
    std::vector<Hash> path;
  };
  const std::vector<Inclusion> inclusions = {
      {0, 1, {}},
      {0, 8,
       hashes({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {5, 8,
       hashes({"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
               "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 3, hashes({"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"})},
      {1, 5,
       hashes({"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
  };
  for (const auto& [index, size, path] : inclusions) {
    INFO("inclusion of leaf " << index << " in " << size);
    const auto tree = prefix(leaves, size);
    CHECK(inclusion_proof(tree, index) == path);
    CHECK(verify_inclusion(index, size, leaves[index], path, H(kCtRoots[size - 1])));
  }

  struct Consistency {
    std::uint64_t m, n;
    std::vector<Hash> proof;
  };
  const std::vector<Consistency> consistencies = {
      {1, 1, {}},
      {1, 8,
       hashes({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {6, 8,
       hashes({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
               "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 5,
       hashes({"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
      {6, 7,
       hashes({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
               "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
  };
  for (const auto& [m, n, proof] : consistencies) {
    INFO("consistency " << m << " -> " << n);
    CHECK(consistency_proof(prefix(leaves, n), m) == proof);
    CHECK(verify_consistency(m, n, H(kCtRoots[m - 1]), H(kCtRoots[n - 1]), proof));
  }
}

TEST_CASE("hash hex helpers round-trip and refuse malformed text", "[audit][merkle]") {
  const auto h = empty_root();
  CHECK(hash_from_hex(to_hex(h)) == h);
  CHECK(hash_from_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855") == h);
  CHECK_FALSE(hash_from_hex(""));
  CHECK_FALSE(hash_from_hex(to_hex(h).substr(2)));          // too short
  CHECK_FALSE(hash_from_hex(to_hex(h) + "00"));             // too long
  CHECK_FALSE(hash_from_hex("zz" + to_hex(h).substr(2)));   // not hex
}

TEST_CASE("Frontier tracks the tree head of every prefix and restores from its nodes", "[audit][merkle]") {
  const auto leaves = make_leaves(1000);
  Frontier f;
  CHECK(f.size() == 0);
  CHECK(f.root() == empty_root());
  CHECK(f.nodes().empty());
  for (std::size_t n = 1; n <= leaves.size(); ++n) {
    f.append(leaves[n - 1]);
    INFO("size " << n);
    REQUIRE(f.size() == n);
    const auto expected = tree_root(prefix(leaves, n));
    REQUIRE(f.root() == expected);
    REQUIRE(f.nodes().size() == static_cast<std::size_t>(std::popcount(n)));

    const auto restored = Frontier::restore(n, f.nodes());
    REQUIRE(restored.has_value());
    REQUIRE(restored->size() == n);
    REQUIRE(restored->root() == expected);

    auto fewer = f.nodes();
    fewer.pop_back();
    REQUIRE_FALSE(Frontier::restore(n, fewer).has_value());
    auto more = f.nodes();
    more.push_back(leaves[0]);
    REQUIRE_FALSE(Frontier::restore(n, more).has_value());
  }
  // A restored frontier keeps growing like the original.
  Frontier a;
  for (std::size_t i = 0; i < 13; ++i) a.append(leaves[i]);
  auto b = Frontier::restore(13, a.nodes());
  REQUIRE(b.has_value());
  for (std::size_t i = 13; i < 40; ++i) b->append(leaves[i]);
  CHECK(b->root() == tree_root(prefix(leaves, 40)));
  CHECK(Frontier::restore(0, {}).has_value());
  CHECK(Frontier::restore(0, {}).value().root() == empty_root());
  CHECK_FALSE(Frontier::restore(0, {leaves[0]}).has_value());
}

namespace {

// The inclusion proof of leaf i in the first n leaves holds, and each corruption of it fails.
void check_inclusion(const std::vector<Hash>& all, std::uint64_t n, std::uint64_t i) {
  INFO("leaf " << i << " of " << n);
  const auto tree = prefix(all, n);
  const auto root = tree_root(tree);
  const auto path = inclusion_proof(tree, i);
  REQUIRE(verify_inclusion(i, n, all[i], path, root));

  REQUIRE_FALSE(verify_inclusion(i, n, flip(all[i]), path, root));  // wrong leaf
  if (n > 1) {
    REQUIRE_FALSE(verify_inclusion((i + 1) % n, n, all[i], path, root));  // wrong index
    REQUIRE_FALSE(verify_inclusion(i, n, all[(i + 1) % n], path, root));  // another leaf of the tree
  }
  REQUIRE_FALSE(verify_inclusion(n, n, all[i], path, root));      // index beyond the tree
  REQUIRE_FALSE(verify_inclusion(i, 2 * n, all[i], path, root));  // wrong size
  REQUIRE_FALSE(verify_inclusion(i, n, all[i], path, flip(root)));  // wrong root
  for (std::size_t k = 0; k < path.size(); ++k) {  // a changed path element
    auto bad = path;
    bad[k] = flip(bad[k]);
    REQUIRE_FALSE(verify_inclusion(i, n, all[i], bad, root));
  }
  if (!path.empty()) {  // truncated
    auto bad = path;
    bad.pop_back();
    REQUIRE_FALSE(verify_inclusion(i, n, all[i], bad, root));
  }
  auto longer = path;  // extended
  longer.push_back(all[0]);
  REQUIRE_FALSE(verify_inclusion(i, n, all[i], longer, root));
}

// The consistency proof from the first m to the first n leaves holds, and each corruption of it fails.
void check_consistency(const std::vector<Hash>& all, std::uint64_t m, std::uint64_t n) {
  INFO("consistency " << m << " -> " << n);
  const auto old_root = tree_root(prefix(all, m));
  const auto new_root = tree_root(prefix(all, n));
  const auto proof = consistency_proof(prefix(all, n), m);
  REQUIRE(verify_consistency(m, n, old_root, new_root, proof));
  REQUIRE(proof.empty() == (m == n));

  REQUIRE_FALSE(verify_consistency(m, n, flip(old_root), new_root, proof));  // wrong old root
  REQUIRE_FALSE(verify_consistency(m, n, old_root, flip(new_root), proof));  // wrong new root
  for (std::size_t k = 0; k < proof.size(); ++k) {  // a changed proof hash
    auto bad = proof;
    bad[k] = flip(bad[k]);
    REQUIRE_FALSE(verify_consistency(m, n, old_root, new_root, bad));
  }
  if (!proof.empty()) {  // truncated
    auto bad = proof;
    bad.pop_back();
    REQUIRE_FALSE(verify_consistency(m, n, old_root, new_root, bad));
  }
  auto longer = proof;  // extended
  longer.push_back(all[0]);
  REQUIRE_FALSE(verify_consistency(m, n, old_root, new_root, longer));
  REQUIRE_FALSE(verify_consistency(0, n, empty_root(), new_root, proof));  // m == 0
  if (m < n) REQUIRE_FALSE(verify_consistency(n, m, new_root, old_root, proof));  // m > n
}

}  // namespace

TEST_CASE("inclusion proofs verify for every leaf of trees up to 64 and sampled leaves up to 1000",
          "[audit][merkle]") {
  const auto all = make_leaves(1000);
  for (std::uint64_t n = 1; n <= 64; ++n)
    for (std::uint64_t i = 0; i < n; ++i) check_inclusion(all, n, i);

  std::mt19937_64 rng(20260131);
  for (std::uint64_t n = 65; n <= 1000; n += (n < 300 ? 1U : 7U)) {
    std::set<std::uint64_t> picks = {0, n - 1, n / 2};
    for (int k = 0; k < 3; ++k) picks.insert(rng() % n);
    for (const auto i : picks) check_inclusion(all, n, i);
  }
  check_inclusion(all, 1000, 0);
  check_inclusion(all, 1000, 999);
  check_inclusion(all, 1000, 511);
  check_inclusion(all, 1000, 512);

  CHECK_THROWS_AS(inclusion_proof(prefix(all, 5), 5), Error);
  CHECK_THROWS_AS(inclusion_proof(std::span<const Hash>{}, 0), Error);
}

TEST_CASE("consistency proofs verify for all pairs up to 64 and sampled pairs up to 1000", "[audit][merkle]") {
  const auto all = make_leaves(1000);
  for (std::uint64_t n = 1; n <= 64; ++n)
    for (std::uint64_t m = 1; m <= n; ++m) check_consistency(all, m, n);

  std::mt19937_64 rng(777);
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> fixed = {
      {1, 1000}, {999, 1000}, {1000, 1000}, {512, 1000}, {511, 512}, {256, 768}, {255, 1000}, {64, 65}, {100, 999}};
  for (const auto& [m, n] : fixed) check_consistency(all, m, n);
  for (int k = 0; k < 150; ++k) {
    const auto n = 65 + rng() % 936;  // 65 .. 1000
    const auto m = 1 + rng() % n;
    check_consistency(all, m, n);
  }

  CHECK_THROWS_AS(consistency_proof(prefix(all, 5), 0), Error);
  CHECK_THROWS_AS(consistency_proof(prefix(all, 5), 6), Error);
  // m == n needs an empty proof and equal roots.
  const auto r = tree_root(prefix(all, 7));
  CHECK(verify_consistency(7, 7, r, r, {}));
  CHECK_FALSE(verify_consistency(7, 7, r, flip(r), {}));
  CHECK_FALSE(verify_consistency(7, 8, r, tree_root(prefix(all, 8)), {}));  // empty proof for m < n
}

// ---------------------------------------------------------------- the log

TEST_CASE("entry_encoding is the canonical JSON of the eight columns and entry_hash matches OpenSSL",
          "[audit][log]") {
  Entry e;
  e.seq = 1;
  e.at = "2026-01-31T12:00:00.250Z";
  e.kind = "issued";
  e.actor = "tester";
  e.order_id = "O-1";
  e.license_id = "L-1";
  e.key_id = std::nullopt;
  e.record = R"({"a":1,"b":{"c":"x"}})";
  e.prev_hash = std::string(kGenesisHash);
  const auto encoding = entry_encoding(e);
  CHECK(encoding ==
        R"({"actor":"tester","at":"2026-01-31T12:00:00.250Z","key_id":null,"kind":"issued","license_id":"L-1",)"
        R"("order_id":"O-1","record":{"a":1,"b":{"c":"x"}},"seq":1})");

  const auto dir = signet::test::temp_dir("signet-audit-hash");
  const auto file = dir / "preimage";
  signet::test::write_file(file, std::string(kEntryDomain) + std::string(kGenesisHash) + encoding);
  const auto first = entry_hash(kGenesisHash, encoding);
  CHECK(first == openssl_sha256(file));

  // A second entry chained to the first, with a key id and no order.
  Entry e2 = e;
  e2.seq = 2;
  e2.kind = "key_generated";
  e2.order_id = std::nullopt;
  e2.license_id = std::nullopt;
  e2.key_id = "k-123";
  e2.record = R"({"label":"line\nbreak \"q\""})";
  const auto encoding2 = entry_encoding(e2);
  CHECK(encoding2 ==
        R"({"actor":"tester","at":"2026-01-31T12:00:00.250Z","key_id":"k-123","kind":"key_generated",)"
        R"("license_id":null,"order_id":null,"record":{"label":"line\nbreak \"q\""},"seq":2})");
  signet::test::write_file(file, std::string(kEntryDomain) + first + encoding2);
  CHECK(entry_hash(first, encoding2) == openssl_sha256(file));

  // E takes the record's text verbatim (the hash pins its exact bytes, as the
  // shell recipe does); whether it is a JSON object is the verifier's check.
  Entry broken = e;
  broken.record = "{not json";
  CHECK(entry_encoding(broken).find(R"("record":{not json,"seq":)") != std::string::npos);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_CASE("appended entries are numbered from 1, chained and hashed over their encoding", "[audit][log]") {
  TempLog t;
  CHECK(t.log.log_id().size() == 32);
  CHECK_FALSE(t.log.last().has_value());

  std::vector<Entry> returned;
  for (int i = 1; i <= 5; ++i) {
    auto r = t.log.append({TempLog::note("hello " + std::to_string(i))}, TempLog::options());
    REQUIRE(r.size() == 1);
    returned.push_back(r[0]);
  }
  NewEntry issued;
  issued.kind = "issued";
  issued.order_id = "O-9";
  issued.license_id = "L-9";
  issued.key_id = "k-1";
  issued.record = Json{{"z", 1}, {"a", Json{{"y", "v"}}}};
  const auto batch = t.log.append({issued, TempLog::note("after")}, TempLog::options());
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].at == batch[1].at);  // one append, one time
  returned.insert(returned.end(), batch.begin(), batch.end());

  const auto stored = t.all();
  REQUIRE(stored.size() == 7);
  CHECK(same(stored, returned));
  std::string prev(kGenesisHash);
  std::string prev_at;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const auto& e = stored[i];
    INFO("seq " << e.seq);
    CHECK(e.seq == static_cast<std::int64_t>(i + 1));
    CHECK(e.actor == "tester");
    CHECK(e.prev_hash == prev);
    CHECK(e.hash.size() == 64);
    CHECK(entry_hash(e.prev_hash, entry_encoding(e)) == e.hash);
    CHECK(parse_rfc3339_utc(e.at).has_value());
    CHECK(e.at >= prev_at);
    CHECK(canonical_json(Json::parse(e.record)) == e.record);
    // E has exactly the eight columns.
    const auto enc = Json::parse(entry_encoding(e));
    std::set<std::string> keys;
    for (auto it = enc.begin(); it != enc.end(); ++it) keys.insert(it.key());
    CHECK(keys == std::set<std::string>{"actor", "at", "key_id", "kind", "license_id", "order_id", "record", "seq"});
    CHECK(enc.at("seq") == e.seq);
    REQUIRE(t.log.get(e.seq).has_value());
    CHECK(same(*t.log.get(e.seq), e));
    prev = e.hash;
    prev_at = e.at;
  }
  CHECK(stored[5].kind == "issued");
  CHECK(stored[5].order_id == std::optional<std::string>("O-9"));
  CHECK(stored[5].license_id == std::optional<std::string>("L-9"));
  CHECK(stored[5].key_id == std::optional<std::string>("k-1"));
  CHECK(stored[5].record == R"({"a":{"y":"v"},"z":1})");
  CHECK_FALSE(stored[0].order_id.has_value());
  CHECK(same(*t.log.last(), stored.back()));
  CHECK_FALSE(t.log.get(8).has_value());
  CHECK_FALSE(t.log.get(0).has_value());
  CHECK(t.log.issued_for_order("O-9").size() == 1);
  CHECK(t.log.issued_license("L-9").has_value());
  CHECK_FALSE(t.log.issued_license("L-8").has_value());
  CHECK_FALSE(t.log.is_revoked("L-9"));

  // The count kept in audit_meta follows the appends.
  auto st = t.db.prepare("SELECT value FROM audit_meta WHERE key = 'entries'");
  REQUIRE(st.step());
  CHECK(st.column_text(0) == "7");
}

TEST_CASE("a precheck that throws aborts the append and changes nothing", "[audit][log]") {
  TempLog t;
  t.append_notes(2);
  const auto before = t.all();
  auto opts = TempLog::options();
  opts.precheck = [](Database&) { throw Error(ErrorKind::already_exists, "already issued"); };
  CHECK_THROWS_AS(t.log.append({TempLog::note("x")}, opts), Error);
  CHECK(same(t.all(), before));
  t.append_notes(1);
  CHECK(t.log.last()->seq == 3);
}

TEST_CASE("a record assembled as text that is not canonical is refused and nothing is appended", "[audit][log]") {
  TempLog t;
  t.append_notes(2);
  const auto before = t.all();
  for (const std::string text : {R"({"b":1,"a":2})", R"({"a":1,"a":1})", R"({"a": 1})", R"({"a":1.5})", "[1]",
                                 "{\"a\":\"\xff\"}"}) {
    INFO(text);
    NewEntry n;
    n.kind = "issued";
    n.order_id = "ORD-1";
    n.license_id = "lic-1";
    n.record_text = text;
    try {
      t.log.append({TempLog::note("first"), n}, TempLog::options());
      FAIL("appended");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::software);
      CHECK_THAT(e.what(), Catch::Contains("the issued entry's record is not canonical JSON") &&
                               Catch::Contains("nothing was appended"));
    }
    CHECK(same(t.all(), before));
  }
  NewEntry ok;
  ok.kind = "note";
  ok.record_text = R"({"a":2,"b":1})";
  t.log.append({ok}, TempLog::options());
  CHECK(t.log.last()->record == ok.record_text);
}

TEST_CASE("an append whose rows do not land as written is rolled back", "[audit][log][triggers]") {
  // Appends without trust skip the schema check: the read-back alone must catch
  // a trigger that drops rows (or one that adds a row of its own).
  TempLog t;
  t.append_notes(2);
  const auto before = t.all();
  SECTION("the last row dropped (the chain trigger sees no gap after it)") {
    t.db.exec("CREATE TRIGGER zz_drop BEFORE INSERT ON entries WHEN NEW.seq = 5 BEGIN SELECT RAISE(IGNORE); END");
  }
  SECTION("the count not kept") {
    t.db.exec("DROP TRIGGER entries_count");
  }
  try {
    t.log.append({TempLog::note("a"), TempLog::note("b"), TempLog::note("c")}, TempLog::options());
    FAIL("the append was not refused");
  } catch (const AuditError& e) {
    CHECK(e.kind() == ErrorKind::bad_data);
    CHECK_THAT(std::string(e.what()), Catch::Contains("did not land as written"));
  }
  CHECK(same(t.all(), before));
}

TEST_CASE("triggers refuse UPDATE, DELETE and out-of-chain INSERTs", "[audit][log][triggers]") {
  TempLog t;
  t.append_notes(4);
  const auto before = t.all();
  const auto last = before.back();

  CHECK_THROWS_AS(t.db.exec("UPDATE entries SET actor = 'mallory' WHERE seq = 2"), SqliteError);
  CHECK_THROWS_WITH(t.db.exec("UPDATE entries SET record = '{}'"), Catch::Contains("append-only"));
  CHECK_THROWS_AS(t.db.exec("DELETE FROM entries WHERE seq = 4"), SqliteError);
  CHECK_THROWS_WITH(t.db.exec("DELETE FROM entries"), Catch::Contains("append-only"));

  auto insert = [&](std::int64_t seq, const std::string& prev) {
    auto st = t.db.prepare(
        "INSERT INTO entries(seq, at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash) "
        "VALUES (?, ?, 'note', 'mallory', NULL, NULL, NULL, '{}', ?, ?)");
    Entry e;
    e.seq = seq;
    e.at = last.at;
    e.kind = "note";
    e.actor = "mallory";
    e.record = "{}";
    const auto hash = entry_hash(prev, entry_encoding(e));
    st.bind(1, seq).bind(2, last.at).bind(3, prev).bind(4, hash);
    st.run();
  };
  CHECK_THROWS_AS(insert(last.seq + 2, last.hash), SqliteError);               // a gap
  CHECK_THROWS_AS(insert(last.seq, last.hash), SqliteError);                   // a duplicate seq
  CHECK_THROWS_AS(insert(last.seq + 1, before[2].hash), SqliteError);          // wrong prev_hash
  CHECK_THROWS_AS(insert(last.seq + 1, std::string(kGenesisHash)), SqliteError);
  CHECK(same(t.all(), before));

  // The chain rule is what refused them: an in-chain INSERT passes the triggers
  // (its hash is right, so the chain holds; only the missing checkpoint shows).
  insert(last.seq + 1, last.hash);
  CHECK(t.all().size() == before.size() + 1);
  const auto report = verify_database(t.path, {});
  CHECK(holds_but_unprotected(report));
  CHECK(report.entries == 5);

  // audit_meta rows cannot be deleted.
  CHECK_THROWS_AS(t.db.exec("DELETE FROM audit_meta WHERE key = 'entries'"), SqliteError);
}

TEST_CASE("a log made with the earlier json_extract index gets the current index at its next append", "[audit][log][schema]") {
  TempLog t;
  t.db.exec("DROP INDEX entries_by_superseded_tail");
  t.db.exec("CREATE INDEX entries_by_superseded ON entries(json_extract(record, '$.supersedes_license')) WHERE kind = 'issued'");
  const auto index_names = [&] {
    std::set<std::string> names;
    auto st = t.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'entries_by_superseded%'");
    while (st.step()) names.insert(st.column_text(0));
    return names;
  };
  CHECK(index_names() == std::set<std::string>{"entries_by_superseded"});
  Log log(t.db);
  log.append({TempLog::note("x")}, TempLog::options());
  CHECK(index_names() == std::set<std::string>{"entries_by_superseded_tail"});
}

TEST_CASE("a log of another schema version, a database without the tables and a non-SQLite file are refused",
          "[audit][log][schema]") {
  SECTION("schema version 2") {
    TempLog t;
    t.append_notes(1);
    t.db.exec("UPDATE audit_meta SET value = '2' WHERE key = 'schema_version'");
    try {
      Log again(t.db);
      FAIL("a log of schema version 2 was accepted");
    } catch (const AuditError& e) {
      CHECK(e.kind() == ErrorKind::bad_data);
      CHECK_THAT(std::string(e.what()), Catch::Contains("schema version 2"));
      CHECK_THAT(std::string(e.what()), Catch::Contains(t.path.string()));
    }
    CHECK_THROWS_AS(verify_database(t.path, {}), AuditError);
  }
  SECTION("a SQLite file without the audit tables") {
    const auto dir = signet::test::temp_dir("signet-audit-empty");
    {
      auto db = Database::open(dir / "other.db", Database::Mode::create);
      db.exec("CREATE TABLE something(x INTEGER)");
      try {
        Log log(db);
        FAIL("a database without the audit tables was accepted");
      } catch (const AuditError& e) {
        CHECK(e.kind() == ErrorKind::bad_data);
        CHECK_THAT(std::string(e.what()), Catch::Contains("not a Signet audit log"));
      }
    }
    {
      // audit_meta present but without a schema version.
      auto db = Database::open(dir / "nover.db", Database::Mode::create);
      db.exec("CREATE TABLE audit_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      try {
        Log log(db);
        FAIL("a database without a schema version was accepted");
      } catch (const AuditError& e) {
        CHECK(e.kind() == ErrorKind::bad_data);
      }
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  SECTION("a file that is not SQLite") {
    const auto dir = signet::test::temp_dir("signet-audit-garbage");
    const auto path = dir / "garbage.db";
    std::string garbage;
    for (int i = 0; i < 4096; ++i) garbage += static_cast<char>('A' + i % 23);
    signet::test::write_file(path, garbage);
    try {
      auto db = Database::open(path, Database::Mode::read_write);
      Log log(db);
      FAIL("a garbage file was accepted as a log");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::bad_data);
    }
    try {
      (void)verify_database(path, {});
      FAIL("verify_database accepted a garbage file");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::bad_data);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}

TEST_CASE("an append while another connection holds the write lock fails busy and appends nothing",
          "[audit][log][busy]") {
  TempLog t;
  t.append_notes(2);
  const auto before = t.all();
  auto other = Database::open(t.path, Database::Mode::read_write);
  other.exec("BEGIN IMMEDIATE");

  const auto start = std::chrono::steady_clock::now();
  try {
    t.log.append({TempLog::note("blocked")}, TempLog::options(200));
    FAIL("append succeeded while another writer held the lock");
  } catch (const AuditError& e) {
    CHECK(e.kind() == ErrorKind::busy);
    CHECK_THAT(std::string(e.what()), Catch::Contains("busy"));
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= std::chrono::milliseconds(150));  // it did wait for the lock ...
  CHECK(waited < std::chrono::milliseconds(4000));  // ... but not the default 5 s
  CHECK(same(t.all(), before));

  SECTION("after ROLLBACK") { other.exec("ROLLBACK"); }
  SECTION("after COMMIT") { other.exec("COMMIT"); }
  const auto r = t.log.append({TempLog::note("unblocked")}, TempLog::options(200));
  REQUIRE(r.size() == 1);
  CHECK(r[0].seq == 3);
  CHECK(r[0].prev_hash == before.back().hash);
  CHECK(holds_but_unprotected(verify_database(t.path, {})));
}

// ---------------------------------------------------------------- verification

TEST_CASE("verify_database accepts an intact log and finds the first changed or missing entry",
          "[audit][verify]") {
  TempLog t;
  t.append_notes(5);
  // Entries and no checkpoint: Signet never writes such a log, so it fails at
  // the first entry, after every entry was checked.
  const auto good = verify_database(t.path, {});
  CHECK(holds_but_unprotected(good));
  CHECK(good.entries == 5);
  CHECK(good.unprotected == 5);
  CHECK(good.checkpoints == 0);
  CHECK(good.last_checkpoint_seq == 0);
  CHECK(good.failed_seq == std::optional<std::int64_t>(1));
  CHECK_THAT(good.reason, Catch::Contains("no checkpoint at all"));
  CHECK(good.log_id == t.log.log_id());
  CHECK_THAT(describe(good), Catch::Contains("FAILED at seq 1"));
  CHECK_THAT(describe(good), Catch::Contains("5 entries after the last checkpoint (seq 0) are unprotected"));
  CHECK(to_json(good).at("ok") == false);
  CHECK(to_json(good).at("unprotected") == 5);

  SECTION("a changed field") {
    t.db.exec("DROP TRIGGER entries_no_update");
    t.db.exec("UPDATE entries SET actor = 'mallory' WHERE seq = 3");
    const auto r = verify_database(t.path, {});
    CHECK_FALSE(r.ok);
    REQUIRE(r.failed_seq.has_value());
    CHECK(*r.failed_seq == 3);
    CHECK(r.entries == 2);
    CHECK_THAT(describe(r), Catch::Contains("FAILED at seq 3"));
    CHECK(to_json(r).at("failed_seq") == 3);
    CHECK(r.unprotected == 0);  // the entries past a failure were not read: none is counted unprotected
  }
  SECTION("a changed record with its hash recomputed breaks the next link") {
    t.db.exec("DROP TRIGGER entries_no_update");
    auto e = *t.log.get(3);
    e.record = R"({"text":"forged"})";
    const auto h = entry_hash(e.prev_hash, entry_encoding(e));
    auto st = t.db.prepare("UPDATE entries SET record = ?, hash = ? WHERE seq = 3");
    st.bind(1, e.record).bind(2, h);
    st.run();
    const auto r = verify_database(t.path, {});
    CHECK_FALSE(r.ok);
    CHECK(r.failed_seq == std::optional<std::int64_t>(4));
  }
  SECTION("the last entry deleted") {
    t.db.exec("DROP TRIGGER entries_no_delete");
    t.db.exec("DELETE FROM entries WHERE seq = 5");
    const auto r = verify_database(t.path, {});
    CHECK_FALSE(r.ok);
    CHECK(r.failed_seq == std::optional<std::int64_t>(5));
    CHECK(r.entries == 4);
    CHECK_THAT(r.reason, Catch::Contains("truncated"));
  }
  SECTION("a middle entry deleted") {
    t.db.exec("DROP TRIGGER entries_no_delete");
    t.db.exec("DELETE FROM entries WHERE seq = 2");
    const auto r = verify_database(t.path, {});
    CHECK_FALSE(r.ok);
    CHECK(r.failed_seq == std::optional<std::int64_t>(2));
    CHECK_THAT(r.reason, Catch::Contains("missing"));
  }
}

TEST_CASE("an exported log verifies and a changed character in it is found", "[audit][export]") {
  TempLog t;
  SoftEd25519 key;
  NewEntry issued;
  issued.kind = "issued";
  issued.order_id = "O-1";
  issued.license_id = "L-1";
  issued.key_id = key.key_id();
  issued.record = Json{{"manifest", Json{{"channel", "direct"}}}};
  // seq 1 announces the key, 2 is the issuance, 3..6 "hello 1".."hello 4", 7 the checkpoint.
  t.log.append({announce(key), issued, TempLog::note("hello 1"), TempLog::note("hello 2"), TempLog::note("hello 3"),
                TempLog::note("hello 4")},
               signed_options(key));
  const auto stored = t.all();
  const auto opts = trusting(key.public_key());
  const auto file = t.dir / "export.jsonl";
  {
    std::ofstream out(file, std::ios::binary);
    export_jsonl(t.db, out);
    REQUIRE(out.good());
  }
  const auto lines = read_lines(file);
  REQUIRE(lines.size() == 8);
  const auto header = Json::parse(lines[0]);
  CHECK(header.at("signet_audit_export") == 1);
  CHECK(header.at("log_id") == t.log.log_id());
  CHECK(header.at("entries") == 7);

  std::vector<Entry> read;
  const auto h = read_export(file, [&](const Entry& e) { read.push_back(e); });
  CHECK(h.log_id == t.log.log_id());
  CHECK(h.entries == 7);
  CHECK(same(read, stored));

  const auto ok = verify_export(file, opts);
  CHECK(ok.ok);
  CHECK(ok.entries == 7);
  CHECK(ok.checkpoints == 1);
  CHECK(ok.log_id == t.log.log_id());

  std::vector<Hash> leaves;
  CHECK(verify_export(file, opts, &leaves).ok);
  REQUIRE(leaves.size() == 7);
  CHECK(leaves[2] == leaf_hash(as_bytes(entry_encoding(stored[2]))));

  SECTION("a changed character in a record") {
    auto changed = lines;
    auto& line = changed[4];  // seq 4: "hello 2"
    const auto rec = line.find("\"record\":");
    REQUIRE(rec != std::string::npos);
    const auto pos = line.find("hello 2", rec);
    REQUIRE(pos != std::string::npos);
    line[pos] = 'j';
    write_lines(file, changed);
    const auto r = verify_export(file, opts);
    CHECK_FALSE(r.ok);
    CHECK(r.failed_seq == std::optional<std::int64_t>(4));
  }
  SECTION("a truncated export") {
    auto shorter = lines;
    shorter.pop_back();
    write_lines(file, shorter);
    const auto r = verify_export(file, opts);
    CHECK_FALSE(r.ok);
    CHECK(r.failed_seq == std::optional<std::int64_t>(7));
  }
  SECTION("a line with a duplicate key (which a reader would take differently)") {
    auto doubled = lines;
    auto& line = doubled[2];  // seq 2: the issuance
    const auto pos = line.find("\"channel\":\"direct\"");
    REQUIRE(pos != std::string::npos);
    line.insert(pos, "\"channel\":\"government\",");
    write_lines(file, doubled);
    try {
      (void)verify_export(file, opts);
      FAIL("an export line with a duplicate key was read");
    } catch (const AuditError& e) {
      CHECK(e.kind() == ErrorKind::bad_data);
      CHECK_THAT(std::string(e.what()), Catch::Contains(file.string() + ":3:"));
      CHECK_THAT(std::string(e.what()), Catch::Contains("duplicate key"));
    }
  }
  SECTION("the header not on the first line") {
    auto swapped = lines;
    std::swap(swapped[0], swapped[1]);
    write_lines(file, swapped);
    try {
      (void)read_export(file, [](const Entry&) {});
      FAIL("an export without a header line was read");
    } catch (const AuditError& e) {
      CHECK(e.kind() == ErrorKind::bad_data);
      CHECK_THAT(std::string(e.what()), Catch::Contains(file.string() + ":1:"));
    }
  }
  SECTION("a field beside the ten columns, a header field or count out of place, blank lines first") {
    const std::pair<std::pair<std::size_t, std::string>, std::string> edits[] = {
        {{2, R"("hash":)"}, R"("note":"mallory was here","hash":)"},
        {{0, R"("entries":7)"}, R"("entries":-1)"},
        {{0, R"("entries":7)"}, R"("comment":"x","entries":7)"},
    };
    for (const auto& [where, replacement] : edits) {
      auto edited = lines;
      auto& line = edited[where.first];
      const auto pos = line.find(where.second);
      REQUIRE(pos != std::string::npos);
      line.replace(pos, where.second.size(), replacement);
      write_lines(file, edited);
      INFO(line);
      try {
        (void)verify_export(file, opts);
        FAIL("the edited export was read");
      } catch (const AuditError& e) {
        CHECK(e.kind() == ErrorKind::bad_data);
        CHECK_THAT(std::string(e.what()), Catch::Contains(file.string() + ":" + std::to_string(where.first + 1) + ":"));
        if (where.first == 2) CHECK_THAT(std::string(e.what()), Catch::Contains("\"note\" is not one"));
      }
    }
    auto blank_first = lines;
    blank_first.insert(blank_first.begin(), "");
    write_lines(file, blank_first);
    CHECK(verify_export(file, opts).ok);
  }
  SECTION("a line that is not JSON") {
    auto broken = lines;
    broken[2] = "{\"seq\":";
    write_lines(file, broken);
    try {
      (void)read_export(file, [](const Entry&) {});
      FAIL("a broken export was read");
    } catch (const AuditError& e) {
      CHECK(e.kind() == ErrorKind::bad_data);
      CHECK_THAT(std::string(e.what()), Catch::Contains(file.string() + ":3:"));
    }
  }
}

// ---------------------------------------------------------------- queries

TEST_CASE("query filters by kind, order, channel, reseller, customer and time", "[audit][query]") {
  TempLog t;
  auto issued = [](const std::string& order, const std::string& license, const std::string& channel,
                   const std::string& customer_id, const std::string& reseller_id) {
    NewEntry n;
    n.kind = "issued";
    n.order_id = order;
    n.license_id = license;
    Json manifest = {{"channel", channel},
                     {"customer",
                      {{"id", customer_id}, {"name", "Name " + customer_id}, {"company", "Co " + customer_id},
                       {"email", customer_id + "@x.io"}}}};
    if (!reseller_id.empty()) manifest["reseller"] = {{"id", reseller_id}, {"name", "Reseller " + reseller_id}};
    n.record = Json{{"manifest", manifest}};
    return n;
  };
  t.log.append({issued("O-1", "L-1", "reseller", "c1", "r1")}, TempLog::options());  // 1
  t.log.append({TempLog::note("n")}, TempLog::options());                              // 2
  t.log.append({issued("O-2", "L-2", "direct", "c2", "")}, TempLog::options());       // 3
  t.log.append({issued("O-1", "L-3", "reseller", "c1", "r2")}, TempLog::options());   // 4
  auto order_note = TempLog::note("about O-2");
  order_note.order_id = "O-2";
  t.log.append({order_note}, TempLog::options());                                      // 5
  t.log.append({issued("O-3", "L-4", "reseller", "c3", "r1")}, TempLog::options());   // 6

  using V = std::vector<std::int64_t>;
  CHECK(query_seqs(t.db, {}) == V{1, 2, 3, 4, 5, 6});
  LogFilter f;
  f.kind = "issued";
  CHECK(query_seqs(t.db, f) == V{1, 3, 4, 6});
  f = {};
  f.kind = "note";
  CHECK(query_seqs(t.db, f) == V{2, 5});
  f = {};
  f.order = "O-2";
  CHECK(query_seqs(t.db, f) == V{3, 5});
  f.kind = "issued";
  CHECK(query_seqs(t.db, f) == V{3});
  f = {};
  f.license = "L-3";
  CHECK(query_seqs(t.db, f) == V{4});
  // An entry of another kind about the license is found with its issued one
  // (the two are in different indexes).
  auto license_note = TempLog::note("about L-3");
  license_note.license_id = "L-3";
  t.log.append({license_note}, TempLog::options());  // 7
  CHECK(query_seqs(t.db, f) == V{4, 7});
  f.kind = "note";
  CHECK(query_seqs(t.db, f) == V{7});
  f.kind = "issued";
  CHECK(query_seqs(t.db, f) == V{4});
  f = {};
  f.license = "L-9";
  CHECK(query_seqs(t.db, f).empty());
  f = {};
  f.channel = "reseller";
  CHECK(query_seqs(t.db, f) == V{1, 4, 6});
  f.channel = "direct";
  CHECK(query_seqs(t.db, f) == V{3});
  f = {};
  f.reseller = "r1";
  CHECK(query_seqs(t.db, f) == V{1, 6});
  f.reseller = "Reseller r2";  // by name
  CHECK(query_seqs(t.db, f) == V{4});
  f = {};
  f.customer = "c1";
  CHECK(query_seqs(t.db, f) == V{1, 4});
  f.customer = "Name c2";
  CHECK(query_seqs(t.db, f) == V{3});
  f.customer = "Co c3";
  CHECK(query_seqs(t.db, f) == V{6});
  f.customer = "c1@x.io";
  CHECK(query_seqs(t.db, f) == V{1, 4});
  f.customer = "nobody";
  CHECK(query_seqs(t.db, f).empty());
  f = {};
  f.customer = "c1";
  f.reseller = "r2";
  f.channel = "reseller";
  CHECK(query_seqs(t.db, f) == V{4});

  // Times: dates cover whole days, full times compare to the millisecond.
  const auto entries = t.all();
  const auto day = entries.front().at.substr(0, 10);
  const auto day_tp = parse_rfc3339_utc(day);
  REQUIRE(day_tp.has_value());
  const auto next_day = format_date(*day_tp + std::chrono::hours(24));
  const auto prev_day = format_date(*day_tp - std::chrono::hours(24));
  const bool one_day = entries.back().at.substr(0, 10) == day;  // not run across midnight
  if (one_day) {
    f = {};
    f.since = day;
    f.until = day;
    CHECK(query_seqs(t.db, f) == V{1, 2, 3, 4, 5, 6, 7});
    f = {};
    f.since = next_day;
    CHECK(query_seqs(t.db, f).empty());
    f = {};
    f.until = prev_day;
    CHECK(query_seqs(t.db, f).empty());
    f = {};
    f.until = day;
    f.kind = "note";
    CHECK(query_seqs(t.db, f) == V{2, 5, 7});
  }
  // A full RFC 3339 time: since and until the time of entry 4.
  const auto at4 = entries[3].at;
  V since4, until4;
  for (const auto& e : entries) {
    if (e.at >= at4) since4.push_back(e.seq);
    if (e.at <= at4) until4.push_back(e.seq);
  }
  f = {};
  f.since = at4;
  CHECK(query_seqs(t.db, f) == since4);
  CHECK(since4.front() <= 4);
  f = {};
  f.until = at4;
  CHECK(query_seqs(t.db, f) == until4);
  CHECK(until4.back() >= 4);
  f = {};
  f.since = at4;
  f.until = at4;
  const auto exact = query_seqs(t.db, f);
  CHECK(std::find(exact.begin(), exact.end(), 4) != exact.end());

  f = {};
  f.since = "yesterday";
  CHECK_THROWS_AS(query_seqs(t.db, f), AuditError);
  f = {};
  f.until = "2026-02-30";
  try {
    (void)query_seqs(t.db, f);
    FAIL("an invalid date was accepted");
  } catch (const AuditError& e) {
    CHECK(e.kind() == ErrorKind::usage);
  }
}

// ---------------------------------------------------------------- clock

namespace {

// Inserts an entry behind the Log's back (the triggers allow an in-chain insert).
Entry insert_raw(Database& db, std::int64_t seq, const std::string& prev, const std::string& at) {
  Entry e;
  e.seq = seq;
  e.at = at;
  e.kind = "note";
  e.actor = "raw";
  e.record = R"({"text":"raw"})";
  e.prev_hash = prev;
  e.hash = entry_hash(prev, entry_encoding(e));
  auto st = db.prepare(
      "INSERT INTO entries(seq, at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash) "
      "VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?)");
  st.bind(1, e.seq).bind(2, e.at).bind(3, e.kind).bind(4, e.actor).bind(5, e.record).bind(6, e.prev_hash).bind(7, e.hash);
  st.run();
  return e;
}

}  // namespace

TEST_CASE("an append refuses a clock behind the last entry and warns about one far ahead", "[audit][log][clock]") {
  TempLog t;
  SECTION("behind") {
    const auto future = format_rfc3339(now_utc() + std::chrono::hours(1));
    insert_raw(t.db, 1, std::string(kGenesisHash), future);
    const auto before = t.all();
    try {
      t.log.append({TempLog::note("x")}, TempLog::options());
      FAIL("appended although the clock is behind the log");
    } catch (const AuditError& e) {
      CHECK(e.kind() == ErrorKind::config);
      CHECK_THAT(std::string(e.what()), Catch::Contains("clock is behind"));
    }
    CHECK(same(t.all(), before));
  }
  SECTION("far ahead") {
    const auto past = format_rfc3339(now_utc() - std::chrono::hours(48));
    insert_raw(t.db, 1, std::string(kGenesisHash), past);
    std::vector<std::string> warnings;
    auto opts = TempLog::options();
    opts.warn = [&](const std::string& w) { warnings.push_back(w); };
    const auto r = t.log.append({TempLog::note("x")}, opts);
    REQUIRE(r.size() == 1);
    CHECK(r[0].seq == 2);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::Contains("ahead"));
    // Within the margin: no warning.
    warnings.clear();
    t.log.append({TempLog::note("y")}, opts);
    CHECK(warnings.empty());
    CHECK(holds_but_unprotected(verify_database(t.path, {})));
  }
}

// ---------------------------------------------------------------- checkpoints

TEST_CASE("a checkpoint signs the RFC 9162 root of the entries before it", "[audit][checkpoint]") {
  TempLog t;
  SoftEd25519 key;
  const auto r =
      t.log.append({announce(key), TempLog::note("a"), TempLog::note("b"), TempLog::note("c")}, signed_options(key));
  REQUIRE(r.size() == 5);
  const auto& cp = r[4];
  CHECK(cp.kind == "checkpoint");
  CHECK(cp.seq == 5);
  CHECK(cp.key_id == std::optional<std::string>(key.key_id()));
  const auto rec = Json::parse(cp.record);
  CHECK(rec.at("tree_size") == 4);
  CHECK(rec.at("log_id") == t.log.log_id());
  CHECK(rec.at("time") == cp.at);
  CHECK(rec.at("alg") == "ed25519");
  std::vector<Hash> leaves;
  for (int i = 0; i < 4; ++i) leaves.push_back(leaf_hash(as_bytes(entry_encoding(r[static_cast<std::size_t>(i)]))));
  CHECK(rec.at("root_hash") == to_hex(tree_root(leaves)));
  const auto sig = base64_decode(rec.at("signature").get<std::string>());
  REQUIRE(sig.has_value());
  const auto message = checkpoint_message(t.log.log_id(), 4, to_hex(tree_root(leaves)), cp.at);
  CHECK(message == std::string(kCheckpointDomain) + R"({"log_id":")" + t.log.log_id() + R"(","root_hash":")" +
                       to_hex(tree_root(leaves)) + R"(","time":")" + cp.at + R"(","tree_size":4})");
  CHECK(key.public_key().verify(as_bytes(message), *sig));

  // The next checkpoint extends the signed tree: it covers all 5 + 2 entries.
  const auto r2 = t.log.append({TempLog::note("d"), TempLog::note("e")}, signed_options(key));
  REQUIRE(r2.size() == 3);
  leaves.push_back(leaf_hash(as_bytes(entry_encoding(cp))));
  for (int i = 0; i < 2; ++i) leaves.push_back(leaf_hash(as_bytes(entry_encoding(r2[static_cast<std::size_t>(i)]))));
  const auto rec2 = Json::parse(r2[2].record);
  CHECK(rec2.at("tree_size") == 7);
  CHECK(rec2.at("root_hash") == to_hex(tree_root(leaves)));

  const auto report = verify_database(t.path, trusting(key.public_key()));
  CHECK(report.ok);
  CHECK(report.entries == 8);
  CHECK(report.checkpoints == 2);
  CHECK(report.last_checkpoint_seq == 8);
  CHECK(report.last_tree_size == 7);
  CHECK(report.last_root == tree_root(leaves));
  CHECK(report.unprotected == 0);

  SECTION("entries after the last checkpoint fail, named by seq and counted") {
    t.append_notes(2);
    const auto tail = verify_database(t.path, trusting(key.public_key()));
    CHECK(holds_but_unprotected(tail));
    CHECK(tail.failed_seq == std::optional<std::int64_t>(9));
    CHECK(tail.unprotected == 2);
    CHECK(tail.checkpoints == 2);
    CHECK_THAT(tail.reason, Catch::Contains("entries 9..10"));
    CHECK(to_json(tail).at("unprotected") == 2);
  }
  SECTION("an untrusted key") {
    SoftEd25519 other;
    const auto bad = verify_database(t.path, trusting(other.public_key()));
    CHECK_FALSE(bad.ok);
    CHECK(bad.failed_seq == std::optional<std::int64_t>(5));
  }
  SECTION("no keys given: the log's own announcement is used, and said to be not independent") {
    const auto self = verify_database(t.path, {});
    CHECK(self.ok);
    CHECK_THAT(self.key_source, Catch::Contains("not independent"));
  }
  SECTION("a rewritten, re-chained log fails at the checkpoint") {
    t.db.exec("DROP TRIGGER entries_no_update");
    t.db.exec(R"(UPDATE entries SET record = '{"text":"forged"}' WHERE seq = 2)");
    rechain(t.db, 2);
    const auto bad = verify_database(t.path, trusting(key.public_key()));
    CHECK_FALSE(bad.ok);
    CHECK(bad.failed_seq == std::optional<std::int64_t>(5));
    CHECK_THAT(bad.reason, Catch::Contains("root_hash"));
  }
  SECTION("a log cut back before a checkpoint held outside it") {
    t.db.exec("DROP TRIGGER entries_no_delete");
    t.db.exec("DELETE FROM entries WHERE seq >= 6");
    t.db.exec("UPDATE audit_meta SET value = '5' WHERE key = 'entries'");  // hide the count too
    // The dropped trigger shows it, with no entry to blame...
    const auto dropped = verify_database(t.path, trusting(key.public_key()));
    CHECK_FALSE(dropped.ok);
    CHECK_FALSE(dropped.failed_seq.has_value());
    CHECK_THAT(dropped.reason, Catch::Contains("trigger entries_no_delete was dropped outside signet"));
    // ...until it is made again as Signet made it: then nothing inside the file shows the cut.
    t.db.exec("CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries\n"
              "BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END;");
    CHECK(verify_database(t.path, trusting(key.public_key())).ok);
    auto opts = trusting(key.public_key());
    opts.known_checkpoints.push_back(rec2);
    const auto bad = verify_database(t.path, opts);
    CHECK_FALSE(bad.ok);
    CHECK(bad.failed_seq == std::optional<std::int64_t>(6));
    CHECK_THAT(bad.reason, Catch::Contains("truncated"));
  }
  SECTION("an external checkpoint that matches") {
    auto opts = trusting(key.public_key());
    opts.known_checkpoints.push_back(rec);
    opts.known_checkpoints.push_back(rec2);
    CHECK(verify_database(t.path, opts).ok);
  }
  SECTION("two external checkpoints of one size, one from a fork, fail in either order") {
    // The same key signed another tree of 7 entries: the two heads of a fork.
    auto fork = rec2;
    fork["root_hash"] = std::string(64, 'f');
    fork["signature"] = base64_encode(key.sign(as_bytes(checkpoint_message(
        t.log.log_id(), 7, fork["root_hash"].get<std::string>(), fork["time"].get<std::string>()))));
    for (const bool fork_first : {true, false}) {
      INFO(fork_first);
      auto opts = trusting(key.public_key());
      opts.known_checkpoints.push_back(fork_first ? fork : rec2);
      opts.known_checkpoints.push_back(fork_first ? rec2 : fork);
      const auto forked = verify_database(t.path, opts);
      CHECK_FALSE(forked.ok);
      CHECK(forked.failed_seq == std::optional<std::int64_t>(7));
      CHECK_THAT(forked.reason, Catch::Contains("do not match the external checkpoint of that size"));
    }
  }
  SECTION("an external checkpoint without a usable tree size is refused, not ignored") {
    auto opts = trusting(key.public_key());
    auto odd = rec2;
    odd["tree_size"] = "7";
    opts.known_checkpoints.push_back(odd);
    CHECK_THROWS_WITH(verify_database(t.path, opts), Catch::Contains("no tree_size"));
  }
}

TEST_CASE("a trigger dropped, changed or added with every entry intact fails the file, and the report says so",
          "[audit][verify][triggers]") {
  TempLog t;
  SoftEd25519 key;
  (void)t.log.append({announce(key), TempLog::note("a"), TempLog::note("b")}, signed_options(key));
  REQUIRE(verify_database(t.path, trusting(key.public_key())).ok);
  std::string rule;
  SECTION("dropped") {
    t.db.exec("DROP TRIGGER entries_chain");
    rule = "trigger entries_chain was dropped outside signet";
  }
  SECTION("changed under its name") {
    t.db.exec("DROP TRIGGER entries_no_delete; CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries "
              "BEGIN SELECT 1; END");
    rule = "trigger entries_no_delete was changed outside signet";
  }
  SECTION("added (one that would drop issued rows as they are inserted)") {
    t.db.exec("CREATE TRIGGER quiet BEFORE INSERT ON entries WHEN NEW.kind = 'issued' BEGIN SELECT RAISE(IGNORE); END");
    rule = "a trigger signet did not make (quiet)";
  }
  const auto r = verify_database(t.path, trusting(key.public_key()));
  CHECK_FALSE(r.ok);
  CHECK_FALSE(r.failed_seq.has_value());
  CHECK(r.entries == 4);
  CHECK(r.checkpoints == 1);
  CHECK_THAT(r.reason, Catch::Contains(rule));
  CHECK_THAT(describe(r), Catch::Contains("FAILED: "));
  CHECK(to_json(r).at("failed_seq").is_null());
  const auto html = render_html_report(t.db, r, now_utc());
  CHECK_THAT(html, Catch::Contains("but <strong>the file</strong> does not"));
  CHECK_THAT(html, !Catch::Contains("seq ?"));
}

TEST_CASE("a key announced in a key_generated entry verifies checkpoints when no key is given", "[audit][checkpoint]") {
  TempLog t;
  SoftEd25519 key;
  t.log.append({announce(key), TempLog::note("a")}, signed_options(key));
  const auto report = verify_database(t.path, {});
  CHECK(report.ok);
  CHECK(report.checkpoints == 1);
  CHECK_THAT(report.key_source, Catch::Contains("not independent"));
}

TEST_CASE("inclusion proofs of entries against a signed checkpoint", "[audit][checkpoint][proof]") {
  TempLog t;
  SoftEd25519 key;
  t.log.append({announce(key), TempLog::note("a"), TempLog::note("b"), TempLog::note("c"), TempLog::note("d"),
                TempLog::note("e")},
               signed_options(key));  // checkpoint at seq 7, tree_size 6
  t.append_notes(1);                   // seq 8, not covered
  const std::vector<keystore::PublicKey> keys{key.public_key()};
  for (std::int64_t seq = 1; seq <= 6; ++seq) {
    INFO("seq " << seq);
    const auto proof = prove_inclusion(t.path, seq);
    CHECK(proof.at("tree_size") == 6);
    CHECK(proof.at("checkpoint_seq") == 7);
    CHECK(proof.at("entry") == entry_encoding(*t.log.get(seq)));
    CHECK(verify_inclusion_proof(proof, keys).empty());
    CHECK(verify_inclusion_proof(proof, {}).empty());

    auto bad = proof;
    auto text = bad.at("entry").get<std::string>();
    text.replace(text.find("\"actor\":\"tester\""), 16, "\"actor\":\"tastar\"");
    bad["entry"] = text;
    CHECK_FALSE(verify_inclusion_proof(bad, keys).empty());
    bad = proof;
    bad["leaf_index"] = (seq % 6);
    CHECK_FALSE(verify_inclusion_proof(bad, keys).empty());
    bad = proof;
    auto p = bad.at("path").get<std::vector<std::string>>();
    REQUIRE_FALSE(p.empty());
    p[0][0] = p[0][0] == '0' ? '1' : '0';
    bad["path"] = p;
    CHECK_FALSE(verify_inclusion_proof(bad, keys).empty());
    SoftEd25519 other;
    CHECK_FALSE(verify_inclusion_proof(proof, {other.public_key()}).empty());
    // Numbers that are not integers of the right range are refused, not converted.
    for (const auto* field : {"leaf_index", "tree_size"}) {
      for (const auto& value : {Json(18446744073709551616.0), Json(-1), Json(1.5), Json("1")}) {
        bad = proof;
        bad[field] = value;
        CHECK_FALSE(verify_inclusion_proof(bad, keys).empty());
      }
    }
    bad = proof;
    bad["checkpoint"]["tree_size"] = 1e30;
    CHECK_FALSE(verify_inclusion_proof(bad, keys).empty());
    // What `audit verify-proof` prints is held too: the seq it names, the
    // checkpoint's seq, the checkpoint's unsigned fields, nothing added.
    const std::vector<std::pair<std::function<void(Json&)>, std::string>> edits = {
        {[&](Json& j) { j["seq"] = seq + 1; }, "seq does not match leaf_index + 1"},
        {[&](Json& j) { j["seq"] = -seq; }, "seq does not match leaf_index + 1"},
        {[](Json& j) { j["seq"] = "abc"; }, "seq does not match leaf_index + 1"},
        {[](Json& j) { j.erase("seq"); }, "malformed proof"},
        {[](Json& j) { j["checkpoint_seq"] = 3; }, "checkpoint_seq is not tree_size + 1"},
        {[](Json& j) { j["checkpoint"]["alg"] = "rsa2048"; }, "is not the algorithm of key"},
        {[](Json& j) { j["checkpoint"]["note"] = "x"; }, "exactly its seven fields"},
        {[](Json& j) { j["comment"] = "x"; }, "a field signet does not write: comment"},
    };
    for (const auto& [edit, rule] : edits) {
      bad = proof;
      edit(bad);
      INFO(bad.dump());
      CHECK_THAT(verify_inclusion_proof(bad, keys), Catch::Contains(rule));
    }
  }
  // Found by fuzz_proof: a leaf_index beyond uint64 (a float) was converted with undefined behaviour.
  for (const auto& entry : std::filesystem::directory_iterator(signet::test::source_dir() / "tests/fuzz/regressions/proof")) {
    INFO(entry.path());
    const auto text = signet::test::read_file(entry.path());
    const auto j = Json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("checkpoint")) CHECK_FALSE(verify_inclusion_proof(j, keys).empty());
  }
  for (const std::int64_t uncovered : {7, 8}) {
    try {
      (void)prove_inclusion(t.path, uncovered);
      FAIL("an entry not covered by a checkpoint was proven");
    } catch (const AuditError& e) {
      CHECK(e.kind() == ErrorKind::not_found);
    }
  }
  CHECK_THROWS_AS(prove_inclusion(t.path, 99), AuditError);
}

TEST_CASE("consistency between two exports of a growing log, and of a rewritten one", "[audit][checkpoint][proof]") {
  TempLog t;
  SoftEd25519 key;
  const auto opts = trusting(key.public_key());
  t.log.append({announce(key), TempLog::note("a"), TempLog::note("b"), TempLog::note("c")}, signed_options(key));  // cp tree 4
  const auto old_file = t.dir / "old.jsonl";
  export_to(t.db, old_file);
  t.log.append({TempLog::note("d"), TempLog::note("e")}, signed_options(key));  // cp tree 7
  const auto new_file = t.dir / "new.jsonl";
  export_to(t.db, new_file);

  Json proof;
  CHECK(check_consistency(old_file, new_file, opts, &proof) == "");
  CHECK(proof.at("old_size") == 4);
  CHECK(proof.at("new_size") == 7);
  CHECK(check_consistency(old_file, old_file, opts) == "");
  CHECK_FALSE(check_consistency(new_file, old_file, opts).empty());  // the older is not an extension

  SECTION("a rewritten log with fresh signatures does not extend the old export") {
    // Someone with the key rewrites entry 3 and re-signs: each export verifies on
    // its own, but the newer one is not an extension of the older one.
    TempLog forged;
    forged.db.exec("UPDATE audit_meta SET value = '" + t.log.log_id() + "' WHERE key = 'log_id'");
    Log relog(forged.db);
    relog.append({announce(key), TempLog::note("a"), TempLog::note("B"), TempLog::note("c")}, signed_options(key));
    relog.append({TempLog::note("d"), TempLog::note("e")}, signed_options(key));
    const auto forged_file = t.dir / "forged.jsonl";
    export_to(forged.db, forged_file);
    REQUIRE(verify_export(forged_file, opts).ok);
    CHECK_THAT(check_consistency(old_file, forged_file, opts), Catch::Contains("does not extend"));
  }
  SECTION("an export with entries after its last checkpoint does not verify") {
    t.append_notes(1);
    const auto tail_file = t.dir / "tail.jsonl";
    export_to(t.db, tail_file);
    CHECK_THAT(check_consistency(old_file, tail_file, opts), Catch::Contains("does not verify"));
  }
}

TEST_CASE("an export of a log truncated behind the triggers does not verify", "[audit][export]") {
  // verify_database sees the deleted last entry through audit_meta's count; an
  // export should carry that count so that the evidence survives the export.
  TempLog t;
  t.append_notes(5);
  t.db.exec("DROP TRIGGER entries_no_delete");
  t.db.exec("DELETE FROM entries WHERE seq = 5");
  REQUIRE_FALSE(verify_database(t.path, {}).ok);
  const auto file = t.dir / "export.jsonl";
  export_to(t.db, file);
  const auto r = verify_export(file, {});
  CHECK_FALSE(r.ok);
  CHECK(r.failed_seq == std::optional<std::int64_t>(5));
}

TEST_CASE("the per-order lookups of a signing run use an index, without a sort, however many entries are issued",
          "[audit][log][plan]") {
  TempLog t;
  std::vector<NewEntry> batch;
  for (int i = 0; i < 200; ++i) batch.push_back(TempLog::note("n" + std::to_string(i)));
  t.log.append(std::move(batch), TempLog::options());
  // The queries of Log::issued_for_order, Log::issued_license and Log::is_revoked.
  const std::string cols = "seq, at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash";
  const std::vector<std::pair<std::string, std::string>> queries = {
      {"SELECT " + cols + " FROM entries WHERE order_id = ? AND kind = 'issued' ORDER BY seq",
       "entries_by_order"},
      {"SELECT " + cols + " FROM entries WHERE license_id = ? AND kind = 'issued'",
       "entries_one_issue_per_license"},
      {std::string(kRevokedQuery), "entries_by_license_not_issued"},
      {"SELECT 1 FROM entries WHERE kind = 'key_retired' AND key_id = ? LIMIT 1", "entries_by_kind"}};
  const auto plan_of = [&](const std::string& sql) {
    auto st = t.db.prepare("EXPLAIN QUERY PLAN " + sql);
    std::string plan;
    while (st.step()) plan += st.column_text(3) + "\n";
    return plan;
  };
  for (const auto& [sql, index] : queries) {
    INFO(sql);
    const auto plan = plan_of(sql);
    CHECK_THAT(plan, Catch::Contains(index));
    CHECK_THAT(plan, !Catch::Contains("TEMP B-TREE"));
    CHECK_THAT(plan, !Catch::Contains("SCAN entries"));
  }
  // An issued entry is in one license index only: every index on license_id
  // but the unique one leaves issued entries out.
  auto idx = t.db.prepare(
      "SELECT il.name, sm.sql FROM pragma_index_list('entries') il JOIN sqlite_schema sm ON "
      "sm.name = il.name WHERE EXISTS (SELECT 1 FROM pragma_index_info(il.name) WHERE name = "
      "'license_id')");
  int license_indexes = 0;
  while (idx.step()) {
    ++license_indexes;
    const auto name = idx.column_text(0);
    INFO(name);
    if (name == "entries_one_issue_per_license") continue;
    CHECK_THAT(idx.column_text(1), Catch::EndsWith("WHERE kind <> 'issued'"));
  }
  CHECK(license_indexes == 2);
  // The auditor's --license filter finds every kind through the two indexes.
  CHECK_THAT(plan_of("SELECT seq FROM entries WHERE " + std::string(kLicenseClause)),
             !Catch::Contains("SCAN entries"));
}

TEST_CASE(
    "a log made before the license indexes were split answers the same lookups through its index over every "
    "kind, without a scan",
    "[audit][log][plan]") {
  TempLog t;
  t.db.exec(
      "DROP INDEX entries_by_license_not_issued; CREATE INDEX entries_by_license ON entries(license_id, "
      "kind)");
  const std::string cols = "seq, at, kind, actor, order_id, license_id, key_id, record, prev_hash, hash";
  for (const auto& sql : {std::string(kRevokedQuery),
                          "SELECT " + cols + " FROM entries WHERE license_id = ? AND kind = 'issued'",
                          "SELECT seq FROM entries WHERE " + std::string(kLicenseClause)}) {
    INFO(sql);
    auto st = t.db.prepare("EXPLAIN QUERY PLAN " + sql);
    std::string plan;
    while (st.step()) plan += st.column_text(3) + "\n";
    CHECK_THAT(plan, Catch::Contains("USING"));
    CHECK_THAT(plan, !Catch::Contains("SCAN entries"));
  }
}

TEST_CASE("a verify beside a writer reads one consistent log: the count, the schema and the rows of one snapshot",
          "[audit][verify][concurrency]") {
  // The log is WAL: a verify and a signet appending run at once. The entry
  // count was once read before the snapshot the rows came from, and a write
  // between the two made a healthy log fail ("recorded 10 entries but 11").
  TempLog t;
  SoftEd25519 key;
  t.log.append({announce(key), TempLog::note("first")}, signed_options(key));
  constexpr int kWrites = 60;
  std::atomic<int> writes{0};
  std::thread writer([&] {
    auto db = Database::open(t.path, Database::Mode::read_write);
    Log log(db);
    for (int i = 0; i < kWrites; ++i) {
      log.append({TempLog::note("more")}, signed_options(key));
      ++writes;
    }
  });
  int verified = 0;
  std::vector<std::string> failures;
  while (writes < kWrites && failures.empty()) {
    const auto r = verify_database(t.path, trusting(key.public_key()));
    if (!r.ok) failures.push_back(r.reason);
    ++verified;
  }
  writer.join();
  INFO((failures.empty() ? std::string() : failures.front()));
  CHECK(failures.empty());
  CHECK(verified > 10);  // verifies ran while the writer wrote
  CHECK(verify_database(t.path, trusting(key.public_key())).ok);
}

TEST_CASE("verify fails an order issued again in a later write, and passes its siblings of one write",
          "[audit][verify]") {
  TempLog t;
  SoftEd25519 key;
  const auto issued = [&key](const std::string& order, const std::string& license, int non_production) {
    NewEntry n;
    n.kind = "issued";
    n.order_id = order;
    n.license_id = license;
    n.key_id = key.key_id();
    n.record = Json{{"non_production", non_production}};
    return n;
  };
  // One write: the production license and two non-production siblings.
  t.log.append({announce(key), issued("ORD-1", "L1", 0), issued("ORD-1", "L2", 1), issued("ORD-1", "L3", 2),
                issued("ORD-2", "L4", 0)},
               signed_options(key));
  const auto good = verify_database(t.path, trusting(key.public_key()));
  INFO(good.reason);
  CHECK(good.ok);
  // A later write issues ORD-1 again (the writer's lookup was misled, e.g. by an
  // index changed outside signet): the log itself says so.
  const auto again = t.log.append({issued("ORD-3", "L5", 0), issued("ORD-1", "L6", 0)}, signed_options(key));
  const auto r = verify_database(t.path, trusting(key.public_key()));
  CHECK_FALSE(r.ok);
  REQUIRE(r.failed_seq.has_value());
  CHECK(*r.failed_seq == again[1].seq);
  CHECK_THAT(r.reason, Catch::Contains("order ORD-1 is issued again: it was issued at seq 2, in an earlier write"));
}
