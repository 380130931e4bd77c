// The appliance database: one SQLite file holding the key registry and the audit log.
#pragma once

#include "signet/core/sqlite.hpp"

#include <filesystem>

namespace signet {

// Creates the database `signet init` makes at `path`, which must not exist yet:
// 16 KiB pages, WAL, the key registry and the audit log schema in one transaction.
Database create_appliance_database(const std::filesystem::path& path);

}  // namespace signet
