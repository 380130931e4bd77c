// The auditor's read side: filtered listings and full exports (JSONL with every
// hash, or CSV). Read-only; streams entries rather than loading the log.
#pragma once

#include "signet/audit/log.hpp"

#include <ostream>
#include <string_view>

namespace signet::audit {

// Every given filter must hold. since/until are RFC 3339 times or dates
// (until is inclusive of its whole day when a date is given).
struct LogFilter {
  std::optional<std::string> order, license, customer, kind, channel, reseller, since, until;
};

// The filter's clause for one license id (bound twice): issued entries and
// the others are in two indexes (log.cpp), one term each.
inline constexpr std::string_view kLicenseClause =
    "((license_id = ? AND kind = 'issued') OR (license_id = ? AND kind <> 'issued'))";

// Entries matching the filter, in seq order. AuditError(usage) for a bad time.
void query(Database& db, const LogFilter& filter, const std::function<void(const Entry&)>& fn);

// One JSON object per entry: the header line {"signet_audit_export":1,"log_id","entries"},
// then {seq, at, kind, actor, order_id, license_id, key_id, record (object), prev_hash, hash}.
void export_jsonl(Database& db, std::ostream& out);
// RFC 4180 CSV with a header row; record as its canonical JSON text.
void export_csv(Database& db, std::ostream& out);

Json entry_json(const Entry& e);

}  // namespace signet::audit
