#include "signet/keystore/registry.hpp"

namespace signet::keystore {

namespace {

constexpr std::string_view kSelectKeys =
    "SELECT key_id, algorithm, token_uri, label, hsm_id, created_at, state, spki FROM keys";

KeyRecord read_key(const Statement& st) {
  KeyRecord k;
  k.key_id = st.column_text(0);
  const auto alg = parse_algorithm(st.column_text(1));
  if (!alg) throw KeyError(ErrorKind::bad_data, "key " + k.key_id + ": unknown algorithm in the registry");
  k.algorithm = *alg;
  k.token_uri = st.column_text(2);
  k.label = st.column_text(3);
  k.hsm_id = st.column_text(4);
  const auto created = parse_rfc3339_utc(st.column_text(5));
  k.created_at = created.value_or(TimePoint{});
  k.state = st.column_text(6) == "retired" ? KeyState::retired : KeyState::active;
  k.spki_der = st.column_blob(7);
  return k;
}

bool is_hex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

std::string_view to_string(KeyState state) noexcept {
  return state == KeyState::active ? "active" : "retired";
}

void KeyRegistry::create_schema(Database& db) {
  db.exec(R"sql(
    CREATE TABLE IF NOT EXISTS keys (
      key_id     TEXT PRIMARY KEY CHECK (length(key_id) = 64),
      algorithm  TEXT NOT NULL CHECK (algorithm IN ('ed25519','rsa2048','rsa3072','rsa4096')),
      token_uri  TEXT NOT NULL,
      label      TEXT NOT NULL,
      hsm_id     TEXT NOT NULL,
      created_at TEXT NOT NULL,
      state      TEXT NOT NULL CHECK (state IN ('active','retired')),
      spki       BLOB NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS desk_keys (
      key_id   TEXT PRIMARY KEY CHECK (length(key_id) = 64),
      label    TEXT NOT NULL,
      spki     BLOB NOT NULL,
      added_at TEXT NOT NULL
    ) STRICT;
  )sql");
}

void KeyRegistry::add(const KeyRecord& key) {
  if (find(key.key_id)) throw KeyError(ErrorKind::already_exists, "key " + key.key_id + " is already registered");
  auto st = m_db.prepare(
      "INSERT INTO keys (key_id, algorithm, token_uri, label, hsm_id, created_at, state, spki) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  st.bind(1, key.key_id)
      .bind(2, to_string(key.algorithm))
      .bind(3, key.token_uri)
      .bind(4, key.label)
      .bind(5, key.hsm_id)
      .bind(6, format_rfc3339(key.created_at))
      .bind(7, to_string(key.state))
      .bind(8, ByteView(key.spki_der));
  st.run();
}

std::optional<KeyRecord> KeyRegistry::find(std::string_view key_id) const {
  auto st = m_db.prepare(std::string(kSelectKeys) + " WHERE key_id = ?1");
  st.bind(1, key_id);
  if (!st.step()) return std::nullopt;
  return read_key(st);
}

KeyRecord KeyRegistry::get(std::string_view key_id_or_prefix) const {
  const std::string wanted(key_id_or_prefix);
  if (wanted.size() < 8 || wanted.size() > 64 || !is_hex(wanted)) {
    throw KeyError(ErrorKind::usage,
                   "key '" + wanted + "': a key id is 8 to 64 lowercase hex digits (see `signet key list`)");
  }
  auto st = m_db.prepare(std::string(kSelectKeys) + " WHERE substr(key_id, 1, ?2) = ?1 ORDER BY key_id");
  st.bind(1, wanted).bind(2, static_cast<std::int64_t>(wanted.size()));
  if (!st.step()) throw KeyError(ErrorKind::not_found, "key " + wanted + " is not in the key registry");
  auto key = read_key(st);
  if (st.step()) throw KeyError(ErrorKind::not_found, "key prefix " + wanted + " matches several keys");
  return key;
}

std::vector<KeyRecord> KeyRegistry::list() const {
  auto st = m_db.prepare(std::string(kSelectKeys) + " ORDER BY created_at, key_id");
  std::vector<KeyRecord> out;
  while (st.step()) out.push_back(read_key(st));
  return out;
}

KeyRecord KeyRegistry::retire(std::string_view key_id_or_prefix) {
  auto key = get(key_id_or_prefix);
  if (key.state == KeyState::retired) {
    throw KeyError(ErrorKind::bad_data, "key " + key.key_id + " is already retired");
  }
  auto st = m_db.prepare("UPDATE keys SET state = 'retired' WHERE key_id = ?1");
  st.bind(1, key.key_id).run();
  key.state = KeyState::retired;
  return key;
}

DeskKey KeyRegistry::trust_desk(const PublicKey& key, std::string_view label) {
  if (key.algorithm() != Algorithm::ed25519) {
    throw KeyError(ErrorKind::bad_data, "order-desk keys must be Ed25519 keys");
  }
  auto check = m_db.prepare("SELECT 1 FROM desk_keys WHERE key_id = ?1");
  check.bind(1, key.key_id());
  if (check.step()) throw KeyError(ErrorKind::already_exists, "order-desk key " + key.key_id() + " is already trusted");
  DeskKey desk{key.key_id(), std::string(label), key.der(), now_utc()};
  auto st = m_db.prepare("INSERT INTO desk_keys (key_id, label, spki, added_at) VALUES (?1, ?2, ?3, ?4)");
  st.bind(1, desk.key_id).bind(2, desk.label).bind(3, ByteView(desk.spki_der)).bind(4, format_rfc3339(desk.added_at));
  st.run();
  return desk;
}

std::vector<DeskKey> KeyRegistry::desk_keys() const {
  auto st = m_db.prepare("SELECT key_id, label, spki, added_at FROM desk_keys ORDER BY added_at, key_id");
  std::vector<DeskKey> out;
  while (st.step()) {
    out.push_back({st.column_text(0), st.column_text(1), st.column_blob(2),
                   parse_rfc3339_utc(st.column_text(3)).value_or(TimePoint{})});
  }
  return out;
}

}  // namespace signet::keystore
