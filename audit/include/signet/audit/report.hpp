// The auditor's report: one self-contained HTML5 page (inline style, inline SVG
// charts, a small inline script for sorting and filtering the issuance table;
// nothing is fetched, and everything shows with scripts off). Read-only.
//
// Top to bottom: the verification result (from a VerifyReport the caller made
// over the same file), seats issued per month by channel, seats by reseller,
// licenses expiring in the next 60 days, revocations, each customer's license
// lineage (following supersedes_license), and the full issuance table.
// Every text taken from the log is HTML-escaped. Stable ids and data-*
// attributes (section#verification[data-ok], td[data-total-seats],
// table#issuance tr.license, section#expiring[data-count],
// section#revocations[data-count]) let tests and scripts read the figures.
#pragma once

#include "signet/audit/verify.hpp"
#include "signet/core/sqlite.hpp"
#include "signet/core/time.hpp"

#include <string>
#include <string_view>

namespace signet::audit {

// How many days ahead the "expiring" section looks (the expiry notice period).
inline constexpr int kExpiryNoticeDays = 60;

// Renders the report of the log in `db`. `verification` is shown as given (the
// caller verifies the same file first); `now` dates the report and anchors the
// expiry window. The figures come from the entries as stored, also when the
// verification failed (the page then says they must not be trusted).
std::string render_html_report(Database& db, const VerifyReport& verification, TimePoint now);

// &, <, >, " and ' as character references; control characters other than tab,
// line feed and carriage return as U+FFFD; everything else unchanged.
std::string html_escape(std::string_view text);

}  // namespace signet::audit
