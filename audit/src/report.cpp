#include "signet/audit/report.hpp"

#include "signet/audit/log.hpp"
#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

namespace signet::audit {

namespace {

constexpr std::int64_t kDayMs = 24LL * 60 * 60 * 1000;
constexpr std::size_t kMaxLineageDepth = 64;

// ---- reading the log -------------------------------------------------------

// Lenient accessors: a log that failed verification is still reported, so no
// field is assumed to exist or to have the right type.
const Json* member(const Json& j, const char* name) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(name);
  return it == j.end() ? nullptr : &*it;
}

std::string text_of(const Json& j, const char* name) {
  const auto* m = member(j, name);
  return m != nullptr && m->is_string() ? m->get<std::string>() : std::string();
}

std::optional<std::int64_t> int_of(const Json& j, const char* name) {
  const auto* m = member(j, name);
  if (m == nullptr || !m->is_number_integer()) return std::nullopt;
  return m->get<std::int64_t>();
}

const Json& object_of(const Json& j, const char* name) {
  static const Json empty = Json::object();
  const auto* m = member(j, name);
  return m != nullptr && m->is_object() ? *m : empty;
}

struct License {
  std::int64_t seq = 0;
  std::string at, order_id, license_id, kind, channel, reseller_id, reseller_name;
  std::string customer_id, customer_name, company, sku;
  std::int64_t seats = 0;
  std::optional<std::int64_t> starts_ms, expires_ms;
  std::int64_t non_production = 0;
  std::optional<std::string> supersedes;
  bool revoked = false;
};

struct Revocation {
  std::int64_t seq = 0;
  std::string at, license_id, order_id, reason;
  std::optional<std::int64_t> issued_seq;
};

struct LogData {
  std::vector<License> licenses;  // in seq order
  std::vector<Revocation> revocations;
  std::map<std::string, std::int64_t> kinds;  // entries by kind
  std::int64_t entries = 0;
  std::string log_id;
};

License license_from(const Entry& e, const Json& record) {
  License l;
  l.seq = e.seq;
  l.at = e.at;
  const Json& manifest = object_of(record, "manifest");
  const Json& payload = object_of(record, "payload");
  l.order_id = e.order_id.value_or(text_of(manifest, "order_id"));
  l.license_id = e.license_id.value_or(text_of(payload, "id"));
  l.kind = text_of(manifest, "kind");
  l.channel = text_of(manifest, "channel");
  if (l.channel.empty()) l.channel = text_of(payload, "channel");
  const Json& reseller = object_of(manifest, "reseller");
  l.reseller_id = text_of(reseller, "id");
  l.reseller_name = text_of(reseller, "name");
  const Json& customer = member(manifest, "customer") != nullptr ? object_of(manifest, "customer")
                                                                : object_of(payload, "customer");
  l.customer_id = text_of(customer, "id");
  l.customer_name = text_of(customer, "name");
  l.company = text_of(customer, "company");
  l.sku = text_of(manifest, "sku");
  if (l.sku.empty()) l.sku = text_of(payload, "sku_short_name");
  l.seats = int_of(object_of(payload, "features"), "users").value_or(0);
  l.starts_ms = int_of(payload, "starts_at");
  l.expires_ms = int_of(payload, "expires_at");
  l.non_production = int_of(record, "non_production").value_or(0);
  const auto sup = text_of(record, "supersedes_license");
  if (!sup.empty()) l.supersedes = sup;
  return l;
}

LogData read_log(Database& db) {
  LogData data;
  {
    auto st = db.prepare("SELECT value FROM audit_meta WHERE key = 'log_id'");
    if (st.step()) data.log_id = st.column_text(0);
  }
  read_entries(db, [&](const Entry& e) {
    ++data.entries;
    ++data.kinds[e.kind];
    if (e.kind != "issued" && e.kind != "revoked") return;
    const Json record = Json::parse(e.record, nullptr, false);
    static const Json empty = Json::object();
    const Json& r = record.is_object() ? record : empty;
    if (e.kind == "issued") {
      data.licenses.push_back(license_from(e, r));
    } else {
      Revocation v;
      v.seq = e.seq;
      v.at = e.at;
      v.license_id = e.license_id.value_or("");
      v.order_id = e.order_id.value_or("");
      v.reason = text_of(r, "reason");
      v.issued_seq = int_of(r, "issued_seq");
      data.revocations.push_back(std::move(v));
    }
  });
  std::set<std::string> revoked;
  for (const auto& v : data.revocations) revoked.insert(v.license_id);
  for (auto& l : data.licenses) l.revoked = revoked.contains(l.license_id);
  return data;
}

// ---- HTML helpers ----------------------------------------------------------

std::string esc(std::string_view s) { return html_escape(s); }

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string ms_text(const std::optional<std::int64_t>& ms) {
  if (!ms) return "";
  const auto t = from_unix_ms(*ms);
  return *ms % kDayMs == 0 ? format_date(t) : format_rfc3339(t);
}

// At most `n` bytes, cut on a UTF-8 character boundary, with an ellipsis when cut.
std::string shorten(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s;
  std::size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "\u2026";
}

std::string customer_label(const License& l) {
  if (!l.company.empty()) return l.company;
  if (!l.customer_name.empty()) return l.customer_name;
  return l.customer_id;
}

std::string reseller_label(const License& l) {
  if (l.reseller_name.empty()) return l.reseller_id;
  return l.reseller_name;
}

// The channels in a fixed order (the three the manifest knows, then any other seen).
std::vector<std::string> channel_order(const std::vector<License>& licenses) {
  std::vector<std::string> order{"direct", "reseller", "government"};
  std::set<std::string> other;
  for (const auto& l : licenses)
    if (std::find(order.begin(), order.end(), l.channel) == order.end()) other.insert(l.channel);
  order.insert(order.end(), other.begin(), other.end());
  return order;
}

std::string channel_name(const std::string& c) { return c.empty() ? "(none)" : c; }

// A "nice" gridline step (1, 2, 5 x 10^k) giving at most `ticks` steps up to max.
std::int64_t nice_step(std::int64_t max, std::int64_t ticks) {
  std::int64_t base = 1;
  for (;;) {
    for (const std::int64_t m : {1, 2, 5})
      if (base * m * ticks >= max) return base * m;
    base *= 10;
  }
}

std::string legend(const std::vector<std::string>& channels) {
  std::ostringstream o;
  o << "<p class=\"legend\">";
  for (std::size_t i = 0; i < channels.size(); ++i)
    o << "<span class=\"key\"><span class=\"sw sw" << std::min<std::size_t>(i, 4) << "\"></span>"
      << esc(channel_name(channels[i])) << "</span> ";
  o << "</p>\n";
  return o.str();
}

// Rows of a stacked bar chart: a label and seats per channel index.
struct Bar {
  std::string label, title;
  std::vector<std::int64_t> seats;
  [[nodiscard]] std::int64_t total() const {
    std::int64_t t = 0;
    for (const auto s : seats) t += s;
    return t;
  }
};

// Vertical stacked bars (one per month).
std::string column_chart(const std::string& id, const std::string& title, const std::vector<Bar>& bars,
                         const std::vector<std::string>& channels) {
  std::int64_t max = 0;
  for (const auto& b : bars) max = std::max(max, b.total());
  const std::int64_t step = nice_step(std::max<std::int64_t>(max, 1), 4);
  const std::int64_t top_value = ((std::max<std::int64_t>(max, 1) + step - 1) / step) * step;
  const double slot = 64.0;
  const double left = 64.0, top = 24.0, plot_h = 200.0;
  const double width = std::max(480.0, left + slot * static_cast<double>(bars.size()) + 24.0);
  const double height = top + plot_h + 44.0;
  const auto y_of = [&](std::int64_t v) {
    return top + plot_h - plot_h * static_cast<double>(v) / static_cast<double>(top_value);
  };
  std::ostringstream o;
  o << "<svg id=\"" << id << "\" class=\"chart\" viewBox=\"0 0 " << fixed1(width) << ' ' << fixed1(height)
    << "\" width=\"" << fixed1(width) << "\" height=\"" << fixed1(height) << "\" role=\"img\" aria-label=\""
    << esc(title) << "\">\n<title>" << esc(title) << "</title>\n";
  for (std::int64_t v = 0; v <= top_value; v += step) {
    const auto y = fixed1(y_of(v));
    o << "<line class=\"grid\" x1=\"" << fixed1(left) << "\" x2=\"" << fixed1(width - 8) << "\" y1=\"" << y
      << "\" y2=\"" << y << "\"/><text class=\"tick\" x=\"" << fixed1(left - 6) << "\" y=\"" << y
      << "\" dy=\"4\" text-anchor=\"end\">" << v << "</text>\n";
  }
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const auto& b = bars[i];
    const double bw = 36.0;
    const double x = left + slot * static_cast<double>(i) + (slot - bw) / 2.0;
    std::int64_t below = 0;
    for (std::size_t c = 0; c < b.seats.size(); ++c) {
      if (b.seats[c] == 0) continue;
      const double y1 = y_of(below + b.seats[c]), y0 = y_of(below);
      o << "<rect class=\"s" << std::min<std::size_t>(c, 4) << "\" x=\"" << fixed1(x) << "\" y=\"" << fixed1(y1)
        << "\" width=\"" << fixed1(bw) << "\" height=\"" << fixed1(y0 - y1) << "\"><title>" << esc(b.title) << ", "
        << esc(channel_name(channels[c])) << ": " << b.seats[c] << " seats</title></rect>\n";
      below += b.seats[c];
    }
    const double cx = x + bw / 2.0;
    o << "<text class=\"value\" x=\"" << fixed1(cx) << "\" y=\"" << fixed1(y_of(below) - 4)
      << "\" text-anchor=\"middle\">" << below << "</text>\n"
      << "<text class=\"label\" x=\"" << fixed1(cx) << "\" y=\"" << fixed1(top + plot_h + 18)
      << "\" text-anchor=\"middle\">" << esc(b.label) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

// Horizontal stacked bars (one per reseller).
std::string bar_chart(const std::string& id, const std::string& title, const std::vector<Bar>& bars) {
  std::int64_t max = 0;
  for (const auto& b : bars) max = std::max(max, b.total());
  const std::int64_t step = nice_step(std::max<std::int64_t>(max, 1), 4);
  const std::int64_t top_value = ((std::max<std::int64_t>(max, 1) + step - 1) / step) * step;
  const double left = 220.0, plot_w = 520.0, row = 30.0, top = 12.0;
  const double width = left + plot_w + 60.0;
  const double height = top + row * static_cast<double>(bars.size()) + 30.0;
  const auto x_of = [&](std::int64_t v) {
    return left + plot_w * static_cast<double>(v) / static_cast<double>(top_value);
  };
  std::ostringstream o;
  o << "<svg id=\"" << id << "\" class=\"chart\" viewBox=\"0 0 " << fixed1(width) << ' ' << fixed1(height)
    << "\" width=\"" << fixed1(width) << "\" height=\"" << fixed1(height) << "\" role=\"img\" aria-label=\""
    << esc(title) << "\">\n<title>" << esc(title) << "</title>\n";
  const double bottom = top + row * static_cast<double>(bars.size());
  for (std::int64_t v = 0; v <= top_value; v += step) {
    const auto x = fixed1(x_of(v));
    o << "<line class=\"grid\" x1=\"" << x << "\" x2=\"" << x << "\" y1=\"" << fixed1(top) << "\" y2=\""
      << fixed1(bottom) << "\"/><text class=\"tick\" x=\"" << x << "\" y=\"" << fixed1(bottom + 16)
      << "\" text-anchor=\"middle\">" << v << "</text>\n";
  }
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const auto& b = bars[i];
    const double y = top + row * static_cast<double>(i) + 5.0;
    const double bh = row - 10.0;
    o << "<text class=\"label\" x=\"" << fixed1(left - 8) << "\" y=\"" << fixed1(y + bh / 2.0)
      << "\" dy=\"4\" text-anchor=\"end\">" << esc(shorten(b.label, 32)) << "<title>" << esc(b.title)
      << "</title></text>\n";
    std::int64_t before = 0;
    for (std::size_t c = 0; c < b.seats.size(); ++c) {
      if (b.seats[c] == 0) continue;
      const double x0 = x_of(before), x1 = x_of(before + b.seats[c]);
      o << "<rect class=\"s" << std::min<std::size_t>(c, 4) << "\" x=\"" << fixed1(x0) << "\" y=\"" << fixed1(y)
        << "\" width=\"" << fixed1(x1 - x0) << "\" height=\"" << fixed1(bh) << "\"><title>" << esc(b.title) << ": "
        << b.seats[c] << " seats</title></rect>\n";
      before += b.seats[c];
    }
    o << "<text class=\"value\" x=\"" << fixed1(x_of(before) + 6) << "\" y=\"" << fixed1(y + bh / 2.0)
      << "\" dy=\"4\">" << before << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

// ---- the sections ----------------------------------------------------------

std::string verification_section(const VerifyReport& r) {
  std::ostringstream o;
  o << "<section id=\"verification\" class=\"" << (r.ok ? "ok" : "failed") << "\" data-ok=\""
    << (r.ok ? "true" : "false") << "\" data-entries=\"" << r.entries << "\" data-checkpoints=\"" << r.checkpoints
    << "\" data-unprotected=\"" << r.unprotected << "\"";
  if (!r.ok && r.failed_seq) o << " data-failed-seq=\"" << *r.failed_seq << "\"";
  o << ">\n<h2>1. Verification</h2>\n";
  if (r.ok) {
    o << "<p class=\"verdict\"><strong>OK</strong>: the audit log verifies.</p>\n<ul>\n"
      << "<li><span class=\"n\">" << r.entries
      << "</span> entries checked: every entry's hash and its link to the one before hold.</li>\n"
      << "<li><span class=\"n\">" << r.checkpoints
      << "</span> checkpoints verified: the Merkle root recomputed from the entries and the signature both hold";
    if (r.last_checkpoint_seq > 0)
      o << " (the last, at seq " << r.last_checkpoint_seq << ", covers " << r.last_tree_size << " entries)";
    o << ".</li>\n<li>Checkpoint keys: " << esc(r.key_source) << ".</li>\n";
    if (r.unprotected > 0)
      o << "<li class=\"warn\"><strong>" << r.unprotected << " unprotected</strong> entries after the last checkpoint"
        << (r.last_checkpoint_seq > 0 ? " (seq " + std::to_string(r.last_checkpoint_seq) + ")" : std::string())
        << ": they are chained, but someone with write access to the file could remove or rewrite them without "
           "the HSM; only a checkpoint held outside the file can show it.</li>\n";
    else
      o << "<li>Every entry is covered by a signed checkpoint (no unprotected tail).</li>\n";
    o << "</ul>\n";
  } else {
    o << "<p class=\"verdict\"><strong>FAILED</strong>: the audit log does not verify. ";
    if (r.failed_seq)
      o << "The first entry that does not hold is <strong>seq " << *r.failed_seq << "</strong>: ";
    else
      o << "Every entry held, but <strong>the file</strong> does not: ";
    o << esc(r.reason) << ".</p>\n<ul>\n<li><span class=\"n\">" << r.entries << "</span> entries and <span class=\"n\">"
      << r.checkpoints << "</span> checkpoints held" << (r.failed_seq ? " before it" : "")
      << ".</li>\n<li>Checkpoint keys: " << esc(r.key_source)
      << ".</li>\n<li class=\"warn\">The figures below are read from the file as it is. Until the failure is "
         "explained (a wrong --pubkey, or the file changed outside Signet), they must not be trusted: use them only "
         "to find what was changed.</li>\n</ul>\n";
  }
  o << "</section>\n";
  return o.str();
}

std::string month_section(const LogData& d, const std::vector<std::string>& channels) {
  std::map<std::string, std::vector<std::int64_t>> months;
  std::vector<std::int64_t> totals(channels.size(), 0);
  std::int64_t total = 0, non_production = 0;
  for (const auto& l : d.licenses) {
    const auto month = l.at.size() >= 7 ? l.at.substr(0, 7) : l.at;
    auto& row = months[month];
    row.resize(channels.size(), 0);
    const auto c = static_cast<std::size_t>(std::find(channels.begin(), channels.end(), l.channel) - channels.begin());
    row[c] += l.seats;
    totals[c] += l.seats;
    total += l.seats;
    if (l.non_production > 0) non_production += l.seats;
  }
  std::ostringstream o;
  o << "<section id=\"by-month\" data-total-seats=\"" << total << "\">\n<h2>2. Seats issued per month, by channel</h2>\n"
    << "<p class=\"note\">Seats are the <code>users</code> of each license issued in the month (by the entry's "
       "time). A true-forward or renewal license carries its full seat count, so these are seats in licenses issued, "
       "not net new seats. Non-production licenses are included ("
    << non_production << " seats).</p>\n";
  if (months.empty()) {
    o << "<p>No licenses issued.</p>\n";
  } else {
    std::vector<Bar> bars;
    for (const auto& [m, seats] : months) bars.push_back(Bar{m, m, seats});
    o << legend(channels) << column_chart("chart-months", "Seats issued per month, by channel", bars, channels);
  }
  o << "<table id=\"seats-by-month\" class=\"figures\">\n<thead><tr><th scope=\"col\">month</th>";
  for (const auto& c : channels) o << "<th scope=\"col\" class=\"num\">" << esc(channel_name(c)) << "</th>";
  o << "<th scope=\"col\" class=\"num\">total</th></tr></thead>\n<tbody>\n";
  for (const auto& [m, seats] : months) {
    std::int64_t t = 0;
    o << "<tr data-month=\"" << esc(m) << "\"><th scope=\"row\">" << esc(m) << "</th>";
    for (std::size_t c = 0; c < channels.size(); ++c) {
      o << "<td class=\"num\" data-channel=\"" << esc(channels[c]) << "\">" << seats[c] << "</td>";
      t += seats[c];
    }
    o << "<td class=\"num\">" << t << "</td></tr>\n";
  }
  o << "</tbody>\n<tfoot><tr><th scope=\"row\">total</th>";
  for (std::size_t c = 0; c < channels.size(); ++c)
    o << "<td class=\"num\" data-channel=\"" << esc(channels[c]) << "\" data-channel-seats=\"" << totals[c] << "\">"
      << totals[c] << "</td>";
  o << "<td class=\"num\" data-total-seats=\"" << total << "\">" << total << "</td></tr></tfoot>\n</table>\n</section>\n";
  return o.str();
}

std::string reseller_section(const LogData& d, const std::vector<std::string>& channels) {
  struct Row {
    std::string name;
    std::int64_t licenses = 0, seats = 0;
    std::vector<std::int64_t> by_channel;
  };
  std::map<std::string, Row> rows;  // by reseller id
  Row none;
  for (const auto& l : d.licenses) {
    const bool has = !l.reseller_id.empty() || !l.reseller_name.empty();
    Row& r = has ? rows[l.reseller_id.empty() ? l.reseller_name : l.reseller_id] : none;
    if (has && r.name.empty()) r.name = reseller_label(l);
    r.by_channel.resize(channels.size(), 0);
    const auto c = static_cast<std::size_t>(std::find(channels.begin(), channels.end(), l.channel) - channels.begin());
    r.by_channel[c] += l.seats;
    r.seats += l.seats;
    ++r.licenses;
  }
  std::ostringstream o;
  std::int64_t reseller_seats = 0;
  for (const auto& [id, r] : rows) reseller_seats += r.seats;
  o << "<section id=\"by-reseller\" data-count=\"" << rows.size() << "\" data-reseller-seats=\"" << reseller_seats
    << "\">\n<h2>3. Seats issued by reseller</h2>\n";
  if (rows.empty()) {
    o << "<p>No license was sold through a reseller.</p>\n";
  } else {
    std::vector<Bar> bars;
    for (const auto& [id, r] : rows) bars.push_back(Bar{r.name, r.name + " (" + id + ")", r.by_channel});
    o << legend(channels) << bar_chart("chart-resellers", "Seats issued by reseller", bars);
  }
  o << "<table id=\"seats-by-reseller\" class=\"figures\">\n<thead><tr><th scope=\"col\">reseller</th><th "
       "scope=\"col\">id</th><th scope=\"col\" class=\"num\">licenses</th><th scope=\"col\" "
       "class=\"num\">seats</th></tr></thead>\n<tbody>\n";
  for (const auto& [id, r] : rows)
    o << "<tr data-reseller-id=\"" << esc(id) << "\"><th scope=\"row\">" << esc(r.name) << "</th><td><code>"
      << esc(id) << "</code></td><td class=\"num\">" << r.licenses << "</td><td class=\"num\" data-seats=\"" << r.seats
      << "\">" << r.seats << "</td></tr>\n";
  o << "</tbody>\n<tfoot><tr><th scope=\"row\">through resellers</th><td></td><td class=\"num\">";
  std::int64_t reseller_licenses = 0;
  for (const auto& [id, r] : rows) reseller_licenses += r.licenses;
  o << reseller_licenses << "</td><td class=\"num\">" << reseller_seats << "</td></tr>\n"
    << "<tr class=\"aside\"><th scope=\"row\">no reseller (direct)</th><td></td><td class=\"num\">" << none.licenses
    << "</td><td class=\"num\">" << none.seats << "</td></tr></tfoot>\n</table>\n</section>\n";
  return o.str();
}

// Licenses that supersede each license (renewals, true-forwards, reissues, and
// the non-production siblings of those orders).
std::map<std::string, std::vector<const License*>> successors(const LogData& d) {
  std::map<std::string, std::vector<const License*>> out;
  for (const auto& l : d.licenses)
    if (l.supersedes) out[*l.supersedes].push_back(&l);
  return out;
}

std::string expiring_section(const LogData& d, TimePoint now,
                             const std::map<std::string, std::vector<const License*>>& next) {
  const auto from = to_unix_ms(now);
  const auto until = from + kExpiryNoticeDays * kDayMs;
  std::vector<const License*> due;
  for (const auto& l : d.licenses)
    if (!l.revoked && l.expires_ms && *l.expires_ms >= from && *l.expires_ms <= until) due.push_back(&l);
  std::stable_sort(due.begin(), due.end(), [](const License* a, const License* b) { return *a->expires_ms < *b->expires_ms; });
  std::ostringstream o;
  o << "<section id=\"expiring\" data-count=\"" << due.size() << "\">\n<h2>4. Licenses expiring in the next "
    << kExpiryNoticeDays << " days</h2>\n<p class=\"note\">Licenses not revoked whose expiry falls between "
    << format_rfc3339(now) << " and " << format_rfc3339(from_unix_ms(until))
    << " (the expiry notice period). After expiry the product allows a 10-day grace period.</p>\n";
  if (due.empty()) {
    o << "<p>None.</p>\n";
  } else {
    o << "<table class=\"figures\">\n<thead><tr><th scope=\"col\">customer</th><th scope=\"col\">SKU</th><th "
         "scope=\"col\" class=\"num\">seats</th><th scope=\"col\">expires</th><th scope=\"col\" class=\"num\">days "
         "left</th><th scope=\"col\">license</th><th scope=\"col\">order</th><th scope=\"col\">status</th></tr></thead>\n"
         "<tbody>\n";
    for (const auto* l : due) {
      const auto days = (*l->expires_ms - from + kDayMs - 1) / kDayMs;
      std::string status = l->non_production > 0 ? "non-production " + std::to_string(l->non_production) + "; " : "";
      const auto it = next.find(l->license_id);
      if (it == next.end()) {
        status += "not superseded";
      } else {
        status += "superseded by";
        for (const auto* s : it->second) status += " " + s->license_id + " (" + s->kind + ")";
      }
      o << "<tr class=\"expiring\" data-license-id=\"" << esc(l->license_id) << "\"><td>" << esc(customer_label(*l))
        << "</td><td>" << esc(l->sku) << "</td><td class=\"num\">" << l->seats << "</td><td>"
        << esc(ms_text(l->expires_ms)) << "</td><td class=\"num\">" << days << "</td><td><code>"
        << esc(l->license_id) << "</code></td><td>" << esc(l->order_id) << "</td><td>" << esc(status)
        << "</td></tr>\n";
    }
    o << "</tbody>\n</table>\n";
  }
  o << "</section>\n";
  return o.str();
}

std::string revocation_section(const LogData& d) {
  std::map<std::string, const License*> by_id;
  for (const auto& l : d.licenses) by_id.emplace(l.license_id, &l);
  std::ostringstream o;
  o << "<section id=\"revocations\" data-count=\"" << d.revocations.size() << "\">\n<h2>5. Revocations</h2>\n";
  if (d.revocations.empty()) {
    o << "<p>No license has been revoked.</p>\n";
  } else {
    o << "<table class=\"figures\">\n<thead><tr><th scope=\"col\" class=\"num\">seq</th><th scope=\"col\">revoked "
         "at</th><th scope=\"col\">license</th><th scope=\"col\">order</th><th scope=\"col\">customer</th><th "
         "scope=\"col\">reason</th><th scope=\"col\" class=\"num\">issued at seq</th></tr></thead>\n<tbody>\n";
    for (const auto& v : d.revocations) {
      const auto it = by_id.find(v.license_id);
      o << "<tr class=\"revocation\" data-license-id=\"" << esc(v.license_id) << "\"><td class=\"num\">" << v.seq
        << "</td><td>" << esc(v.at) << "</td><td><code>" << esc(v.license_id) << "</code></td><td>"
        << esc(v.order_id) << "</td><td>" << (it == by_id.end() ? "(not in the log)" : esc(customer_label(*it->second)))
        << "</td><td>" << esc(v.reason) << "</td><td class=\"num\">"
        << (v.issued_seq ? std::to_string(*v.issued_seq) : std::string()) << "</td></tr>\n";
    }
    o << "</tbody>\n</table>\n";
  }
  o << "</section>\n";
  return o.str();
}

class LineageWriter {
 public:
  LineageWriter(const LogData& d, const std::map<std::string, std::vector<const License*>>& next)
      : m_next(next) {
    for (const auto& l : d.licenses) {
      m_by_id.emplace(l.license_id, &l);
      if (l.non_production == 0) m_production.emplace(l.order_id, &l);
      else m_non_production[l.order_id].push_back(&l);
    }
  }

  std::string render(const LogData& d) {
    // Customers by id; a chain's roots are production licenses that supersede
    // nothing in the log. Non-production licenses hang under their order's license.
    struct Customer {
      std::string label;
      std::vector<const License*> roots;
      std::int64_t licenses = 0;
    };
    std::map<std::string, Customer> customers;
    for (const auto& l : d.licenses) {
      auto& c = customers[l.customer_id];
      c.label = customer_label(l);
      ++c.licenses;
      const bool root = !l.supersedes || !m_by_id.contains(*l.supersedes);
      if (root && l.non_production == 0) c.roots.push_back(&l);
    }
    for (const auto& l : d.licenses)  // a non-production license whose production one is missing
      if (l.non_production > 0 && production_of(l.order_id) == nullptr && (!l.supersedes || !m_by_id.contains(*l.supersedes)))
        customers[l.customer_id].roots.push_back(&l);
    std::vector<std::pair<std::string, const Customer*>> order;
    for (const auto& [id, c] : customers) order.emplace_back(id, &c);
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second->label < b.second->label; });

    std::ostringstream o;
    o << "<section id=\"lineage\" data-count=\"" << customers.size() << "\">\n<h2>6. Each customer's licenses</h2>\n"
      << "<p class=\"note\">Each chain starts at a new license and follows <code>supersedes_license</code>: a "
         "true-forward adds seats to a live license, a renewal continues it for another term, a reissue replaces a "
         "lost file with the same terms. The license at the end of a chain is the one in force.</p>\n";
    if (order.empty()) o << "<p>No licenses issued.</p>\n";
    for (const auto& [id, c] : order) {
      o << "<div class=\"customer\" data-customer-id=\"" << esc(id) << "\"><h3>" << esc(c->label)
        << " <span class=\"id\">" << esc(id) << "</span> <span class=\"count\">" << c->licenses << " license"
        << (c->licenses == 1 ? "" : "s") << "</span></h3>\n<ul class=\"chain\">\n";
      for (const auto* root : c->roots) node(o, *root, 0);
      o << "</ul></div>\n";
    }
    o << "</section>\n";
    return o.str();
  }

 private:
  const License* production_of(const std::string& order_id) const {
    const auto it = m_production.find(order_id);
    return it == m_production.end() ? nullptr : it->second;
  }

  void node(std::ostringstream& o, const License& l, std::size_t depth) {
    if (!m_done.insert(&l).second) return;  // a cycle (only in a tampered log)
    o << "<li data-license-id=\"" << esc(l.license_id) << "\" data-kind=\"" << esc(l.kind) << "\""
      << (l.revoked ? " class=\"revoked\"" : "") << "><span class=\"kind\">" << esc(l.kind.empty() ? "?" : l.kind)
      << "</span> <code>" << esc(l.license_id) << "</code> order " << esc(l.order_id) << " &middot; "
      << esc(l.sku) << " &middot; " << l.seats << " seats &middot; " << esc(ms_text(l.starts_ms)) << " &rarr; "
      << esc(ms_text(l.expires_ms)) << " &middot; issued " << esc(l.at) << " (seq " << l.seq << ")";
    if (l.non_production > 0) o << " <span class=\"badge\">non-production " << l.non_production << "</span>";
    if (l.revoked) o << " <span class=\"badge bad\">revoked</span>";
    if (l.supersedes && !m_by_id.contains(*l.supersedes))
      o << " <span class=\"badge bad\">supersedes " << esc(*l.supersedes) << ", which is not in the log</span>";
    const auto it = m_next.find(l.license_id);
    std::vector<const License*> siblings, children;
    if (l.non_production == 0)
      if (const auto np = m_non_production.find(l.order_id); np != m_non_production.end())
        for (const auto* s : np->second)
          if (!m_done.contains(s)) siblings.push_back(s);
    if (it != m_next.end())
      for (const auto* s : it->second)
        if (s->non_production == 0 || production_of(s->order_id) == nullptr) children.push_back(s);
    if (!siblings.empty()) {
      o << "<ul class=\"siblings\">";
      for (const auto* s : siblings) {
        m_done.insert(s);
        o << "<li data-license-id=\"" << esc(s->license_id) << "\"" << (s->revoked ? " class=\"revoked\"" : "")
          << "><span class=\"badge\">non-production " << s->non_production << "</span> <code>" << esc(s->license_id)
          << "</code> &middot; " << s->seats << " seats (seq " << s->seq << ")"
          << (s->revoked ? " <span class=\"badge bad\">revoked</span>" : "") << "</li>";
      }
      o << "</ul>";
    }
    if (!children.empty()) {
      if (depth + 1 >= kMaxLineageDepth) {
        o << " <span class=\"badge\">chain continues&hellip;</span>";
      } else {
        o << "\n<ul class=\"chain\">\n";
        for (const auto* s : children) node(o, *s, depth + 1);
        o << "</ul>";
      }
    }
    o << "</li>\n";
  }

  const std::map<std::string, std::vector<const License*>>& m_next;
  std::map<std::string, const License*> m_by_id;
  std::map<std::string, const License*> m_production;                   // by order id
  std::map<std::string, std::vector<const License*>> m_non_production;  // by order id, in seq order
  std::set<const License*> m_done;
};

std::string issuance_section(const LogData& d) {
  std::ostringstream o;
  o << "<section id=\"issuances\" data-count=\"" << d.licenses.size() << "\">\n<h2>7. Every license issued</h2>\n"
    << "<p class=\"filter\" id=\"issuance-tools\" hidden><label>Filter rows: <input type=\"search\" "
       "id=\"issuance-filter\" placeholder=\"customer, order, license, SKU…\" autocomplete=\"off\"></label> "
       "<span id=\"issuance-shown\"></span> <span class=\"note\">Click a column header to sort.</span></p>\n"
    << "<div class=\"scroll\">\n<table id=\"issuance\" class=\"figures\" data-count=\"" << d.licenses.size()
    << "\">\n<thead><tr>";
  const char* headers[][2] = {{"seq", "num"},     {"issued at", ""}, {"order", ""},      {"license id", ""},
                              {"customer", ""},   {"channel", ""},   {"reseller", ""},   {"SKU", ""},
                              {"seats", "num"},   {"starts", "num"}, {"expires", "num"}, {"non-production", "num"},
                              {"kind", ""},       {"revoked", ""}};
  for (const auto& h : headers)
    o << "<th scope=\"col\"" << (h[1][0] != '\0' ? " class=\"num\" data-type=\"num\"" : " data-type=\"text\"") << ">"
      << h[0] << "</th>";
  o << "</tr></thead>\n<tbody>\n";
  for (const auto& l : d.licenses) {
    o << "<tr class=\"license\" data-seq=\"" << l.seq << "\" data-license-id=\"" << esc(l.license_id)
      << "\" data-seats=\"" << l.seats << "\" data-revoked=\"" << (l.revoked ? "true" : "false") << "\">"
      << "<td class=\"num\" data-sort=\"" << l.seq << "\">" << l.seq << "</td><td>" << esc(l.at) << "</td><td>"
      << esc(l.order_id) << "</td><td><code>" << esc(l.license_id) << "</code></td><td>" << esc(customer_label(l))
      << "</td><td>" << esc(l.channel) << "</td><td>" << esc(reseller_label(l)) << "</td><td>" << esc(l.sku)
      << "</td><td class=\"num\" data-sort=\"" << l.seats << "\">" << l.seats << "</td><td data-sort=\""
      << l.starts_ms.value_or(0) << "\">" << esc(ms_text(l.starts_ms)) << "</td><td data-sort=\""
      << l.expires_ms.value_or(0) << "\">" << esc(ms_text(l.expires_ms)) << "</td><td class=\"num\" data-sort=\""
      << l.non_production << "\">" << (l.non_production > 0 ? "yes (" + std::to_string(l.non_production) + ")" : "")
      << "</td><td>" << esc(l.kind) << "</td><td>" << (l.revoked ? "revoked" : "") << "</td></tr>\n";
  }
  o << "</tbody>\n</table>\n</div>\n</section>\n";
  return o.str();
}

constexpr std::string_view kStyle = R"css(
:root { color-scheme: light; --ink: #1a202c; --muted: #4a5568; --line: #cbd5e0; --ok: #276749; --bad: #c53030; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); margin: 0 auto; max-width: 1240px; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 16px 0 4px; }
code { font: 13px/1.3 ui-monospace, "DejaVu Sans Mono", monospace; }
nav a { margin-right: 12px; }
.meta, .note { color: var(--muted); }
.summary { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; padding: 0; list-style: none; }
.summary li { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; }
.summary .n, #verification .n { font-weight: 600; }
#verification { border-radius: 8px; padding: 4px 18px 10px; margin-top: 16px; }
#verification.ok { background: #f0fff4; border: 2px solid var(--ok); }
#verification.failed { background: #fff5f5; border: 2px solid var(--bad); }
#verification h2 { border: 0; }
.verdict { font-size: 18px; }
#verification.ok .verdict strong { color: var(--ok); }
#verification.failed .verdict strong { color: var(--bad); }
.warn { color: var(--bad); }
table.figures { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
table.figures th, table.figures td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
table.figures thead th { background: #edf2f7; }
table.figures tfoot th, table.figures tfoot td { font-weight: 600; background: #f7fafc; }
table.figures tr.aside th, table.figures tr.aside td { font-weight: normal; color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
table.figures td.num, table.figures th.num { text-align: right; }
.scroll { overflow-x: auto; max-width: 100%; }
#issuance { font-size: 12px; }
#issuance td { white-space: nowrap; }
#issuance thead th { cursor: pointer; user-select: none; position: sticky; top: 0; }
#issuance thead th[aria-sort=ascending]::after { content: " \25B2"; }
#issuance thead th[aria-sort=descending]::after { content: " \25BC"; }
#issuance tr[data-revoked=true] td { color: var(--bad); text-decoration: line-through; }
#issuance tr[data-revoked=true] td:last-child { text-decoration: none; }
.chart { display: block; max-width: 100%; height: auto; margin: 8px 0; }
.chart .grid { stroke: #e2e8f0; stroke-width: 1; }
.chart text { font-size: 12px; fill: var(--muted); }
.chart .value { fill: var(--ink); font-weight: 600; }
.s0 { fill: #2b6cb0; } .s1 { fill: #dd6b20; } .s2 { fill: #2f855a; } .s3 { fill: #805ad5; } .s4 { fill: #718096; }
.legend .key { margin-right: 14px; }
.sw { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px; border-radius: 2px; }
.sw0 { background: #2b6cb0; } .sw1 { background: #dd6b20; } .sw2 { background: #2f855a; } .sw3 { background: #805ad5; } .sw4 { background: #718096; }
ul.chain { list-style: none; padding-left: 20px; margin: 4px 0; border-left: 2px solid var(--line); }
ul.chain > li { margin: 4px 0; }
ul.siblings { list-style: none; padding-left: 28px; margin: 2px 0; font-size: 13px; color: var(--muted); }
.customer h3 .id { font-weight: normal; color: var(--muted); font-size: 13px; }
.customer h3 .count { font-weight: normal; color: var(--muted); font-size: 13px; }
.kind { display: inline-block; min-width: 86px; font-weight: 600; }
.badge { display: inline-block; font-size: 12px; border: 1px solid var(--line); border-radius: 10px; padding: 0 7px; }
.badge.bad { color: var(--bad); border-color: var(--bad); }
li.revoked > code { text-decoration: line-through; }
.filter input { font: inherit; padding: 3px 6px; width: 320px; }
@media print { .filter, nav { display: none; } #issuance thead th { position: static; } body { max-width: none; } }
)css";

// Sorting and filtering of the issuance table. The page shows everything without it.
constexpr std::string_view kScript = R"js(
(function () {
  "use strict";
  var table = document.getElementById("issuance");
  if (!table || !table.tBodies.length) return;
  var body = table.tBodies[0];
  var tools = document.getElementById("issuance-tools");
  var filter = document.getElementById("issuance-filter");
  var shown = document.getElementById("issuance-shown");
  var heads = table.tHead.rows[0].cells;
  function count() {
    var n = 0;
    for (var i = 0; i < body.rows.length; i++) if (!body.rows[i].hidden) n++;
    shown.textContent = n + " of " + body.rows.length + " shown";
  }
  function apply() {
    var q = filter.value.trim().toLowerCase();
    for (var i = 0; i < body.rows.length; i++) {
      var r = body.rows[i];
      r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0;
    }
    count();
  }
  function key(row, col) {
    var cell = row.cells[col];
    var v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent : Number(v);
  }
  function sortBy(col) {
    var th = heads[col];
    var asc = th.getAttribute("aria-sort") !== "ascending";
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col), y = key(b, col);
      var c = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
      if (c === 0) c = key(a, 0) - key(b, 0);
      return asc ? c : -c;
    });
    for (var j = 0; j < rows.length; j++) body.appendChild(rows[j]);
  }
  for (var i = 0; i < heads.length; i++) {
    (function (col) {
      heads[col].tabIndex = 0;
      heads[col].title = "sort by this column";
      heads[col].addEventListener("click", function () { sortBy(col); });
      heads[col].addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(col); }
      });
    })(i);
  }
  filter.addEventListener("input", apply);
  tools.hidden = false;
  table.setAttribute("data-script", "on");
  count();
})();
)js";

std::string csp_hash(std::string_view text) { return "'sha256-" + base64_encode(sha256(as_bytes(text))) + "'"; }

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\t':
      case '\n':
      case '\r': out += c; break;
      default:
        // Other control characters are not allowed in HTML text: shown as U+FFFD.
        if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f') out += "\uFFFD";
        else out += c;
    }
  }
  return out;
}

std::string render_html_report(Database& db, const VerifyReport& verification, TimePoint now) {
  const LogData d = read_log(db);
  const auto channels = channel_order(d.licenses);
  const auto next = successors(d);
  const auto log_id = d.log_id.empty() ? verification.log_id : d.log_id;

  std::int64_t seats = 0, production = 0;
  std::set<std::string> customers;
  for (const auto& l : d.licenses) {
    seats += l.seats;
    if (l.non_production == 0) ++production;
    customers.insert(l.customer_id);
  }

  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src " << csp_hash(kStyle)
    << "; script-src " << csp_hash(kScript) << "; img-src data:; base-uri 'none'; form-action 'none'\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<meta name=\"generator\" content=\"signet audit report\">\n"
    << "<title>Signet audit report: log " << esc(log_id) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n"
    << "<header>\n<h1>Signet audit report</h1>\n<p class=\"meta\">Log <code id=\"log-id\">" << esc(log_id)
    << "</code>, file <code>" << esc(db.path().filename().string()) << "</code>. Generated <time id=\"generated-at\" "
    << "datetime=\"" << format_rfc3339(now) << "\">" << format_rfc3339(now) << "</time>"
    << (d.licenses.empty() ? std::string() : ", last issuance " + esc(d.licenses.back().at)) << ".</p>\n"
    << "<nav><a href=\"#verification\">verification</a><a href=\"#by-month\">per month</a><a "
       "href=\"#by-reseller\">by reseller</a><a href=\"#expiring\">expiring</a><a "
       "href=\"#revocations\">revocations</a><a href=\"#lineage\">customers</a><a href=\"#issuances\">all "
       "licenses</a></nav>\n"
    << "<ul class=\"summary\" id=\"summary\" data-entries=\"" << d.entries << "\" data-licenses=\"" << d.licenses.size()
    << "\" data-seats=\"" << seats << "\">\n"
    << "<li><span class=\"n\">" << d.entries << "</span> entries</li>\n"
    << "<li><span class=\"n\">" << d.licenses.size() << "</span> licenses issued (" << production << " production, "
    << d.licenses.size() - static_cast<std::size_t>(production) << " non-production)</li>\n"
    << "<li><span class=\"n\">" << seats << "</span> seats in them</li>\n"
    << "<li><span class=\"n\">" << customers.size() << "</span> customers</li>\n"
    << "<li><span class=\"n\">" << d.revocations.size() << "</span> revoked</li>\n";
  for (const auto& [kind, n] : d.kinds)
    if (kind != "issued" && kind != "revoked")
      o << "<li><span class=\"n\">" << n << "</span> " << esc(kind) << (n == 1 ? " entry" : " entries") << "</li>\n";
  o << "</ul>\n</header>\n<main>\n"
    << verification_section(verification) << month_section(d, channels) << reseller_section(d, channels)
    << expiring_section(d, now, next) << revocation_section(d) << LineageWriter(d, next).render(d)
    << issuance_section(d) << "</main>\n<footer class=\"meta\"><p>Made by <code>signet audit report</code> from the "
       "entries as stored; the verification above says whether they can be trusted. See docs/auditor-guide.md.</p>"
       "</footer>\n<script>"
    << kScript << "</script>\n</body>\n</html>\n";
  return o.str();
}

}  // namespace signet::audit
