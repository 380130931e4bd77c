#include "signet/signer/database.hpp"

#include "signet/audit/log.hpp"
#include "signet/keystore/registry.hpp"

namespace signet {

Database create_appliance_database(const std::filesystem::path& path) {
  auto db = Database::open(path, Database::Mode::create);
  // 16 KiB pages hold several ~3 KB entries each: fewer pages to write and read.
  db.exec("PRAGMA page_size=16384");
  db.exec("PRAGMA journal_mode=WAL");
  Transaction tx(db);
  keystore::KeyRegistry::create_schema(db);
  audit::Log::create_schema(db);
  tx.commit();
  return db;
}

}  // namespace signet
