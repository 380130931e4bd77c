// Builds a large audit log for the verification benchmark, and measures raw
// SHA-256 (OpenSSL) over exactly the bytes `signet audit verify` hashes.
//   bench_auditlog build DB N     append N issued-like entries by the appliance's
//                                 Ed25519 key, each chunk closed by a checkpoint it
//                                 signs in the token (as signet sign would: a writer
//                                 refuses to extend a log otherwise). Environment:
//                                 SOFTHSM2_CONF, BENCH_MODULE, BENCH_TOKEN_URI, BENCH_PIN_FILE.
//   bench_auditlog sha DB         hash every entry's chain input and leaf input;
//                                 prints "sha_entries_per_s=... bytes=..."
#include "signet/audit/log.hpp"
#include "signet/audit/merkle.hpp"
#include "signet/core/crypto.hpp"
#include "signet/hsm/pin.hpp"
#include "signet/keystore/registry.hpp"
#include "signet/keystore/token.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

using namespace signet;

namespace {

// A record the size and shape of a real `issued` entry (manifest, payload, license).
Json record_for(std::int64_t i) {
  const auto id = "BENCH-" + std::to_string(i);
  Json manifest = {{"manifest_version", 1}, {"order_id", id}, {"kind", "new"}, {"channel", i % 3 == 0 ? "reseller" : "direct"},
                   {"customer", {{"id", "c" + std::to_string(i % 5000)}, {"name", "Customer"}, {"email", "it@example.com"}, {"company", "Company"}}},
                   {"sku", "enterprise"}, {"seats", 10 + i % 900}, {"starts_at", "2026-12-01"}, {"expires_at", "2027-12-01"}};
  Json features = Json::object();
  for (const char* f : {"ldap", "saml", "mfa", "cluster", "metrics", "compliance", "guest_accounts", "openid"}) features[f] = true;
  features["users"] = 10 + i % 900;
  Json payload = {{"id", "x" + std::to_string(i)}, {"issued_at", 1795460781177 + i}, {"starts_at", 1796083200000},
                  {"expires_at", 1827619200000}, {"customer", manifest["customer"]}, {"features", features},
                  {"sku_name", "Enterprise"}, {"sku_short_name", "enterprise"}, {"is_trial", false}, {"is_gov_sku", false}};
  return Json{{"manifest", manifest}, {"payload", payload}, {"license", std::string(1400, 'Q')}, {"encoding", "mattermost"},
              {"file", id + ".license"}, {"non_production", 0}, {"supersedes_license", nullptr}, {"source", "bench.jsonl"}};
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) throw std::runtime_error(std::string(name) + " is not set");
  return v;
}

int build(const char* path, std::int64_t n) {
  auto db = Database::open(path, Database::Mode::read_write);
  audit::Log log(db);
  keystore::KeyRegistry registry(db);
  std::optional<keystore::KeyRecord> ed;
  for (auto& k : registry.list())
    if (k.algorithm == keystore::Algorithm::ed25519 && k.state == keystore::KeyState::active) ed = k;
  if (!ed) throw std::runtime_error("the database has no active Ed25519 key");
  auto token = keystore::TokenKeys::open({env("BENCH_MODULE"), env("BENCH_TOKEN_URI")},
                                         hsm::read_pin(hsm::PinSource::from_file(env("BENCH_PIN_FILE"))));
  const auto key = token.signing_key(*ed);
  audit::AppendOptions options;
  options.actor = "bench";
  options.clock_margin = std::chrono::minutes(1 << 20);
  options.checkpoint_key = key.get();
  options.trust.hsm_key = [&token](const std::string& id) { return token.public_key_in_token(id); };
  constexpr std::int64_t kChunk = 20000;
  for (std::int64_t done = 0; done < n;) {
    std::vector<audit::NewEntry> chunk;
    for (std::int64_t i = 0; i < kChunk && done < n; ++i, ++done) {
      chunk.push_back({.kind = "issued", .order_id = "BENCH-" + std::to_string(done), .license_id = "l" + std::to_string(done),
                       .key_id = ed->key_id, .record = record_for(done), .record_text = {}});
    }
    log.append(chunk, options);
  }
  std::printf("built %lld entries\n", static_cast<long long>(n));
  return 0;
}

int sha(const char* path) {
  auto db = Database::open(path, Database::Mode::read_only);
  // Load the inputs first (in memory), then time the hashing alone.
  std::vector<std::string> chain_inputs, leaf_inputs;
  audit::read_entries(db, [&](const audit::Entry& e) {
    const auto encoding = audit::entry_encoding(e);
    chain_inputs.push_back(std::string(audit::kEntryDomain) + e.prev_hash + encoding);
    leaf_inputs.push_back(std::string(1, '\0') + encoding);
  });
  std::size_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  std::uint8_t sink = 0;
  for (std::size_t i = 0; i < chain_inputs.size(); ++i) {
    sink ^= sha256(as_bytes(chain_inputs[i]))[0];
    sink ^= sha256(as_bytes(leaf_inputs[i]))[0];
    bytes += chain_inputs[i].size() + leaf_inputs[i].size();
  }
  const std::chrono::duration<double> s = std::chrono::steady_clock::now() - start;
  std::printf("sha_entries_per_s=%.0f sha_mb_per_s=%.1f bytes=%zu entries=%zu sink=%u\n",
              static_cast<double>(chain_inputs.size()) / s.count(), static_cast<double>(bytes) / s.count() / 1e6, bytes,
              chain_inputs.size(), static_cast<unsigned>(sink));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 4 && std::string(argv[1]) == "build") return build(argv[2], std::stoll(argv[3]));
    if (argc == 3 && std::string(argv[1]) == "sha") return sha(argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_auditlog: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: bench_auditlog build DB N | sha DB\n");
  return 64;
}
