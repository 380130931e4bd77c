// Fixtures shared by the audit module's tests: a fresh log in a real SQLite file,
// an in-memory Ed25519 key standing in for an HSM key, and options that close an
// append with a checkpoint signed by it (with the head checked against it).
#pragma once

#include <sodium.h>

#include <array>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "appliance.hpp"
#include "signet/audit/log.hpp"
#include "signet/audit/query.hpp"
#include "signet/audit/verify.hpp"
#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"
#include "signet/core/json.hpp"
#include "signet/core/sqlite.hpp"

namespace signet::audit::testing {

namespace fs = std::filesystem;

// A fresh audit log in a real SQLite file (WAL), removed afterwards.
struct TempLog {
  fs::path dir = signet::test::temp_dir("signet-audit-test");
  fs::path path = dir / "audit.db";
  Database db = create(path);
  Log log{db};

  static Database create(const fs::path& p) {
    auto db = Database::open(p, Database::Mode::create);
    db.exec("PRAGMA journal_mode=WAL");
    Transaction tx(db);
    Log::create_schema(db);
    tx.commit();
    return db;
  }

  TempLog() = default;
  ~TempLog() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  TempLog(const TempLog&) = delete;  // owns a folder and a connection
  TempLog& operator=(const TempLog&) = delete;

  static AppendOptions options(int busy_ms = 5000) {
    AppendOptions o;
    o.actor = "tester";
    o.checkpoint_key = nullptr;
    o.busy_timeout_ms = busy_ms;
    o.warn = [](const std::string&) {};
    return o;
  }

  static NewEntry note(const std::string& text) {
    NewEntry n;
    n.kind = "note";
    n.record = Json{{"text", text}};
    return n;
  }

  // Appends n notes "hello 1".."hello n", one append each.
  void append_notes(int n) {
    for (int i = 1; i <= n; ++i) log.append({note("hello " + std::to_string(i))}, options());
  }

  std::vector<Entry> all() const {
    std::vector<Entry> out;
    log.for_each([&](const Entry& e) { out.push_back(e); });
    return out;
  }
};

inline bool same(const Entry& a, const Entry& b) {
  return a.seq == b.seq && a.at == b.at && a.kind == b.kind && a.actor == b.actor &&
         a.order_id == b.order_id && a.license_id == b.license_id && a.key_id == b.key_id &&
         a.record == b.record && a.prev_hash == b.prev_hash && a.hash == b.hash;
}

inline bool same(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) return false;
  return true;
}

// An Ed25519 key in memory (libsodium), standing in for an HSM key.
class SoftEd25519 final : public keystore::SigningKey {
 public:
  SoftEd25519() {
    ensure_sodium();
    std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
    ::crypto_sign_keypair(pk.data(), m_sk.data());
    // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING pk }.
    Bytes der = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    der.insert(der.end(), pk.begin(), pk.end());
    m_public = keystore::PublicKey::from_der(der);
  }
  Bytes sign(ByteView message) override {
    Bytes sig(crypto_sign_BYTES);
    ::crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), m_sk.data());
    return sig;
  }
  [[nodiscard]] const keystore::PublicKey& public_key() const noexcept override { return m_public; }

 private:
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> m_sk{};
  keystore::PublicKey m_public;
};

// Options for an append closed by a checkpoint signed by `key`, with `key`
// standing in for the only key the HSM holds (the head is checked).
inline AppendOptions signed_options(keystore::SigningKey& key, HeadAnchor* anchor = nullptr) {
  auto o = TempLog::options();
  o.checkpoint_key = &key;
  o.trust.hsm_key = [public_key =
                         key.public_key()](const std::string& id) -> std::optional<keystore::PublicKey> {
    if (id == public_key.key_id()) return public_key;
    return std::nullopt;
  };
  o.trust.anchor = anchor;
  return o;
}

// The key_generated entry that announces a key (a checkpoint key must be announced).
inline NewEntry announce(const keystore::SigningKey& key) {
  NewEntry n;
  n.kind = "key_generated";
  n.key_id = key.key_id();
  n.record = Json{{"algorithm", "ed25519"}, {"label", "test key"}, {"public_key", key.public_key().pem()}};
  return n;
}

// Signet ends every write with a checkpoint; a log built here without one (or
// with entries after its last one) holds in every other respect: every entry
// chained and checked, and only the unprotected tail fails.
inline bool holds_but_unprotected(const VerifyReport& r) {
  return !r.ok && r.failed_seq == r.last_checkpoint_seq + 1 && r.entries >= r.last_checkpoint_seq + 1 &&
         r.unprotected == r.entries - r.last_checkpoint_seq &&
         r.reason.find("outside signet") != std::string::npos;
}

inline VerifyOptions trusting(const keystore::PublicKey& key) {
  VerifyOptions o;
  o.trusted_keys.push_back(key);
  return o;
}

inline void export_to(Database& db, const fs::path& file) {
  std::ofstream out(file, std::ios::binary);
  export_jsonl(db, out);
  REQUIRE(out.good());
}

// Recomputes every hash from seq `from` on, as someone rewriting the file would.
inline void rechain(Database& db, std::int64_t from) {
  std::vector<Entry> entries;
  read_entries(db, [&](const Entry& e) { entries.push_back(e); });
  std::string prev = from > 1 ? entries[static_cast<std::size_t>(from - 2)].hash : std::string(kGenesisHash);
  for (auto& e : entries) {
    if (e.seq < from) continue;
    e.prev_hash = prev;
    e.hash = entry_hash(prev, entry_encoding(e));
    auto st = db.prepare("UPDATE entries SET prev_hash = ?, hash = ? WHERE seq = ?");
    st.bind(1, e.prev_hash).bind(2, e.hash).bind(3, e.seq);
    st.run();
    prev = e.hash;
  }
}

}  // namespace signet::audit::testing
