#include "signet/audit/query.hpp"

#include "head.hpp"

namespace signet::audit {

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string bound(const std::string& text, bool upper) {
  if (text.size() == 10) {  // a date: the whole day
    if (!parse_rfc3339_utc(text)) throw AuditError(ErrorKind::usage, "not an RFC 3339 date: " + text);
    return text + (upper ? "T23:59:59.999Z" : "T00:00:00.000Z");
  }
  const auto t = parse_rfc3339_utc(text);
  if (!t) throw AuditError(ErrorKind::usage, "not an RFC 3339 UTC time: " + text);
  return format_rfc3339(*t);
}

}  // namespace

void query(Database& db, const LogFilter& f, const std::function<void(const Entry&)>& fn) {
  std::vector<std::string> where;
  std::vector<std::string> params;
  auto add = [&](const std::optional<std::string>& value, const std::string& clause, int copies = 1) {
    if (!value) return;
    where.push_back(clause);
    for (int i = 0; i < copies; ++i) params.push_back(*value);
  };
  add(f.order, "order_id = ?");
  add(f.license, std::string(kLicenseClause), 2);
  add(f.kind, "kind = ?");
  add(f.channel, "json_extract(record, '$.manifest.channel') = ?");
  add(f.reseller, "(json_extract(record, '$.manifest.reseller.id') = ? OR json_extract(record, '$.manifest.reseller.name') = ?)", 2);
  if (f.customer)
    add(f.customer,
        "(json_extract(record, '$.manifest.customer.id') = ? OR json_extract(record, '$.manifest.customer.name') = ? "
        "OR json_extract(record, '$.manifest.customer.company') = ? OR json_extract(record, '$.manifest.customer.email') = ?)",
        4);
  if (f.since) add(bound(*f.since, false), "at >= ?");
  if (f.until) add(bound(*f.until, true), "at <= ?");
  std::string clause;
  for (std::size_t i = 0; i < where.size(); ++i) clause += (i ? " AND " : "") + where[i];
  read_entries(db, fn, clause, params);
}

Json entry_json(const Entry& e) {
  auto opt = [](const std::optional<std::string>& v) { return v ? Json(*v) : Json(nullptr); };
  // Signet writes every record canonical; one that is not (nested a hundred
  // thousand deep, say, or not JSON at all) was written by something else.
  if (const auto problem = canonical_json_problem(e.record))
    throw AuditError(ErrorKind::bad_data, "audit entry " + std::to_string(e.seq) +
                                              ": the record is not canonical JSON (" + *problem +
                                              "), so it was not written by signet: run `signet audit verify`");
  return Json{{"seq", e.seq},          {"at", e.at},
              {"kind", e.kind},        {"actor", e.actor},
              {"order_id", opt(e.order_id)}, {"license_id", opt(e.license_id)},
              {"key_id", opt(e.key_id)},     {"record", Json::parse(e.record)},
              {"prev_hash", e.prev_hash},    {"hash", e.hash}};
}

void export_jsonl(Database& db, std::ostream& out) {
  Log log(db);
  Transaction snapshot(db, Transaction::Kind::deferred);
  // The count the trigger kept, not the rows present: an export of a log cut
  // behind Signet's back, or grown behind it, must still show it. Only when
  // the file holds no count that is a number is the row count written (audit
  // verify of the file itself fails on that).
  std::int64_t count = detail::recorded_count(db).count.value_or(-1);
  if (count < 0) {
    auto st = db.prepare("SELECT COUNT(*) FROM entries");
    count = st.step() ? st.column_int(0) : 0;
  }
  out << canonical_json(Json{{"signet_audit_export", 1}, {"log_id", log.log_id()}, {"entries", count}}) << '\n';
  read_entries(db, [&](const Entry& e) { out << canonical_json(entry_json(e)) << '\n'; });
}

void export_csv(Database& db, std::ostream& out) {
  Log log(db);
  Transaction snapshot(db, Transaction::Kind::deferred);
  out << "seq,at,kind,actor,order_id,license_id,key_id,record,prev_hash,hash\r\n";
  read_entries(db, [&](const Entry& e) {
    out << e.seq << ',' << csv_field(e.at) << ',' << csv_field(e.kind) << ',' << csv_field(e.actor) << ','
        << csv_field(e.order_id.value_or("")) << ',' << csv_field(e.license_id.value_or("")) << ','
        << csv_field(e.key_id.value_or("")) << ',' << csv_field(e.record) << ',' << e.prev_hash << ',' << e.hash
        << "\r\n";
  });
}

}  // namespace signet::audit
