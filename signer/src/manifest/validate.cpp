// The field rules of an order manifest (docs/manifest.md). Every rule broken is
// reported, each with its JSON pointer, so a desk fixes a manifest in one round.
#include "signet/core/json.hpp"
#include "signet/signer/manifest.hpp"
#include "signet/signer/text.hpp"

#include <algorithm>
#include <set>

namespace signet {

namespace {

constexpr std::size_t kMaxTextBytes = 256;
constexpr std::size_t kMaxNotesBytes = 4096;

const std::set<std::string>& known_fields() {
  static const std::set<std::string> fields = {
      "manifest_version", "order_id", "kind", "supersedes", "channel", "reseller", "customer", "sku", "seats",
      "starts_at", "expires_at", "premier_support", "non_production_deployments", "government", "trial",
      "deployment_id", "features", "po_number", "notes", "reason"};
  return fields;
}

bool id_chars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

// "X.nonprod-2" is the stem of order X's non-production license files
// (X.nonprod-2.license): an order with that id would write the same file. Any
// letter case, since removable media are often case-insensitive (FAT, exFAT).
bool nonprod_suffix(std::string_view id) {
  constexpr std::string_view kSuffix = ".nonprod-";
  std::size_t digits = 0;
  while (digits < id.size() && id[id.size() - 1 - digits] >= '0' && id[id.size() - 1 - digits] <= '9') ++digits;
  if (digits == 0 || id.size() - digits < kSuffix.size()) return false;
  const auto tail = id.substr(id.size() - digits - kSuffix.size(), kSuffix.size());
  return std::equal(tail.begin(), tail.end(), kSuffix.begin(), [](char a, char b) {
    return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
  });
}

// A syntactically valid address: local@domain, printable ASCII local part
// without spaces, a domain of dot-separated labels of letters, digits and '-'.
bool valid_email(std::string_view s) {
  if (s.size() > 254) return false;
  const auto at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  const auto local = s.substr(0, at);
  const auto domain = s.substr(at + 1);
  for (const char c : local) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '@' || c == '"' || c == '(' || c == ')' || c == ',' || c == ':' || c == ';' ||
        c == '<' || c == '>' || c == '[' || c == ']' || c == '\\')
      return false;
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  if (domain.empty() || domain.size() > 253 || domain.find('.') == std::string_view::npos) return false;
  std::size_t start = 0;
  while (start <= domain.size()) {
    const auto dot = domain.find('.', start);
    const auto label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (const char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace

std::optional<std::string> named_order_id(const Json& manifest) {
  if (!manifest.is_object()) return std::nullopt;
  const auto it = manifest.find("order_id");
  if (it == manifest.end() || !it->is_string()) return std::nullopt;
  const auto& id = it->get_ref<const std::string&>();
  if (id.empty() || id.size() > 64 || !id_chars(id)) return std::nullopt;
  return id;
}

namespace {

class Checker {
 public:
  Checker(const Json& m, std::string source) : m_source(std::move(source)), m_order_id(named_order_id(m)) {}

  void problem(const std::string& pointer, const std::string& rule) {
    m_problems.push_back({m_source, m_order_id, pointer, rule});
  }
  [[nodiscard]] bool ok() const noexcept { return m_problems.empty(); }
  std::vector<ManifestProblem>& problems() noexcept { return m_problems; }

  const Json* at(const Json& obj, const std::string& key) const {
    const auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }

  // A string field of `obj` at `pointer`; problems for absent (when required), non-string, empty, too long,
  // control and formatting characters (newline and tab allowed where `multiline`: notes, reason).
  std::optional<std::string> text(const Json& obj, const std::string& key, const std::string& pointer, bool required,
                                  std::size_t max = kMaxTextBytes, bool multiline = false) {
    const auto* v = at(obj, key);
    if (v == nullptr) {
      if (required) problem(pointer, "required");
      return std::nullopt;
    }
    if (!v->is_string()) {
      problem(pointer, "must be a string");
      return std::nullopt;
    }
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty()) {
      problem(pointer, "must not be empty");
      return std::nullopt;
    }
    if (s.size() > max) {
      problem(pointer, "must be at most " + std::to_string(max) + " bytes");
      return std::nullopt;
    }
    if (const auto rule = text_rule_broken(s, multiline); !rule.empty()) {
      problem(pointer, rule);
      return std::nullopt;
    }
    if (is_blank(s)) {
      problem(pointer, "must not be blank (it holds only white space)");
      return std::nullopt;
    }
    return s;
  }

  std::optional<bool> boolean(const Json& obj, const std::string& key, const std::string& pointer) {
    const auto* v = at(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      problem(pointer, "must be true or false");
      return std::nullopt;
    }
    return v->get<bool>();
  }

  std::optional<std::int64_t> integer(const Json& obj, const std::string& key, const std::string& pointer, bool required,
                                      std::int64_t lo, std::int64_t hi) {
    const auto* v = at(obj, key);
    if (v == nullptr) {
      if (required) problem(pointer, "required");
      return std::nullopt;
    }
    const auto out_of_range = [&] {
      problem(pointer, "must be an integer " + std::to_string(lo) + " to " + std::to_string(hi));
      return std::nullopt;
    };
    if (!v->is_number_integer()) return out_of_range();
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) return out_of_range();
    const auto n = v->get<std::int64_t>();
    if (n < lo || n > hi) return out_of_range();
    return n;
  }

  std::optional<TimePoint> time(const Json& obj, const std::string& key, const std::string& pointer) {
    const auto s = text(obj, key, pointer, true, 40);
    if (!s) return std::nullopt;
    const auto t = parse_rfc3339_utc(*s);
    if (!t) problem(pointer, "must be an RFC 3339 date (2026-01-31) or UTC date-time (2026-01-31T00:00:00Z)");
    return t;
  }

  void unknown_fields(const Json& obj, const std::string& prefix, const std::set<std::string>& known) {
    for (const auto& [key, value] : obj.items()) {
      if (!known.contains(key)) problem(prefix + "/" + json_pointer_token(key), "unknown field");
    }
  }

  const std::optional<std::string>& order_id() const noexcept { return m_order_id; }

 private:
  std::string m_source;
  std::optional<std::string> m_order_id;
  std::vector<ManifestProblem> m_problems;
};

}  // namespace

std::string_view to_string(OrderKind kind) noexcept {
  switch (kind) {
    case OrderKind::new_order: return "new";
    case OrderKind::renewal: return "renewal";
    case OrderKind::true_forward: return "true_forward";
    case OrderKind::reissue: return "reissue";
  }
  return "?";
}

std::string ManifestProblem::text() const {
  std::string out = source;
  if (order_id) out += ": order " + *order_id;
  out += ": " + (pointer.empty() ? std::string("/") : pointer) + ": " + rule;
  return out;
}

ManifestError::ManifestError(std::vector<ManifestProblem> problems)
    : Error(ErrorKind::bad_data,
            problems.empty() ? std::string("bad manifest")
                             : problems.front().text() +
                                   (problems.size() > 1 ? " (and " + std::to_string(problems.size() - 1) + " more)" : "")),
      m_problems(std::move(problems)) {}

std::variant<Order, std::vector<ManifestProblem>> validate_manifest(const Json& m, const std::string& source,
                                                                    const Policy& policy) {
  Checker c(m, source);
  if (!m.is_object()) {
    c.problem("", "a manifest must be a JSON object");
    return std::move(c.problems());
  }
  c.unknown_fields(m, "", known_fields());
  Order o;
  o.source = source;

  c.integer(m, "manifest_version", "/manifest_version", true, 1, 1);
  if (const auto id = c.text(m, "order_id", "/order_id", true, 64)) {
    if (!id_chars(*id)) c.problem("/order_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    else if (*id == "." || *id == "..") c.problem("/order_id", "must not be . or ..");
    else if (nonprod_suffix(*id))
      c.problem("/order_id", "must not end in .nonprod-<digits> (the file names of non-production licenses)");
    else o.order_id = *id;
  }
  if (const auto kind = c.text(m, "kind", "/kind", true)) {
    if (*kind == "new") o.kind = OrderKind::new_order;
    else if (*kind == "renewal") o.kind = OrderKind::renewal;
    else if (*kind == "true_forward") o.kind = OrderKind::true_forward;
    else if (*kind == "reissue") o.kind = OrderKind::reissue;
    else c.problem("/kind", "must be new, renewal, true_forward or reissue");
  }
  const bool follows = o.kind != OrderKind::new_order;
  o.supersedes = c.text(m, "supersedes", "/supersedes", follows, 72);
  if (o.supersedes) {
    const auto& s = *o.supersedes;
    if (!follows) {
      c.problem("/supersedes", "only renewal, true_forward and reissue orders supersede a license");
    } else if (s.starts_with("order:")) {
      const auto ref = std::string_view(s).substr(6);
      if (ref.empty() || ref.size() > 64 || !id_chars(ref))
        c.problem("/supersedes", "order:ORDER_ID must name an order id (1 to 64 of A-Z a-z 0-9 . _ -)");
    } else if (s.size() != 26 || !std::all_of(s.begin(), s.end(), [](char ch) {
                 return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
               })) {
      c.problem("/supersedes", "must be a license id (26 characters a-z 0-9) or order:ORDER_ID");
    }
  }
  if (const auto ch = c.text(m, "channel", "/channel", true)) {
    if (*ch != "direct" && *ch != "reseller" && *ch != "government")
      c.problem("/channel", "must be direct, reseller or government");
    else o.channel = *ch;
  }
  if (const auto* r = c.at(m, "reseller")) {
    if (!r->is_object()) {
      c.problem("/reseller", "must be an object {id, name}");
    } else {
      c.unknown_fields(*r, "/reseller", {"id", "name"});
      const auto id = c.text(*r, "id", "/reseller/id", true, 64);
      const auto name = c.text(*r, "name", "/reseller/name", true);
      if (id && !id_chars(*id)) c.problem("/reseller/id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
      if (id && name) o.reseller = Reseller{*id, *name};
      if (o.channel == "direct") c.problem("/reseller", "a direct order has no reseller");
    }
  } else if (o.channel == "reseller") {
    c.problem("/reseller", "required when channel is reseller");
  }
  if (const auto* cu = c.at(m, "customer")) {
    if (!cu->is_object()) {
      c.problem("/customer", "must be an object {id, name, email, company}");
    } else {
      c.unknown_fields(*cu, "/customer", {"id", "name", "email", "company"});
      const auto id = c.text(*cu, "id", "/customer/id", true, 64);
      const auto name = c.text(*cu, "name", "/customer/name", true);
      const auto email = c.text(*cu, "email", "/customer/email", true, 254);
      const auto company = c.text(*cu, "company", "/customer/company", true);
      if (id && !id_chars(*id)) c.problem("/customer/id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
      if (email && !valid_email(*email)) c.problem("/customer/email", "must be a syntactically valid e-mail address");
      if (id && name && email && company) o.customer = {*id, *name, *email, *company};
    }
  } else {
    c.problem("/customer", "required");
  }
  if (const auto sku = c.text(m, "sku", "/sku", true)) {
    static const std::set<std::string> skus = {"professional", "enterprise", "advanced", "entry", "E10", "E20"};
    if (!skus.contains(*sku)) c.problem("/sku", "must be professional, enterprise, advanced, entry, E10 or E20");
    else o.sku = *sku;
  }
  if (const auto seats = c.integer(m, "seats", "/seats", true, 1, policy.max_seats)) o.seats = *seats;
  const auto starts = c.time(m, "starts_at", "/starts_at");
  const auto expires = c.time(m, "expires_at", "/expires_at");
  if (starts) o.starts_at = *starts;
  if (expires) o.expires_at = *expires;
  if (starts && expires) {
    if (*expires <= *starts) {
      c.problem("/expires_at", "must be after starts_at");
    } else if (policy.max_term_years > 0 && *expires > add_years(*starts, static_cast<int>(policy.max_term_years))) {
      c.problem("/expires_at", "the term must be at most " + std::to_string(policy.max_term_years) +
                                   " years (policy max_term_years): at the latest " +
                                   format_rfc3339(add_years(*starts, static_cast<int>(policy.max_term_years))));
    } else if (policy.max_term_days > 0 && *expires - *starts > std::chrono::days(policy.max_term_days)) {
      c.problem("/expires_at", "the term must be at most " + std::to_string(policy.max_term_days) + " days (policy max_term_days)");
    }
  }
  // The payload counts milliseconds from the Unix epoch.
  if (starts && *starts < TimePoint{}) c.problem("/starts_at", "must be 1970-01-01 or later");
  o.premier_support = c.boolean(m, "premier_support", "/premier_support").value_or(false);
  if (o.premier_support && !o.sku.empty() && o.sku != "E20" && o.sku != "enterprise" && o.sku != "advanced")
    c.problem("/premier_support", "only with sku E20, enterprise or advanced");
  if (const auto n = c.integer(m, "non_production_deployments", "/non_production_deployments", false, 0, 4)) {
    o.non_production_deployments = *n;
    if (*n > 0 && !o.premier_support) c.problem("/non_production_deployments", "above 0 only with premier_support");
  }
  o.government = c.boolean(m, "government", "/government").value_or(false);
  if (o.government && !o.channel.empty() && o.channel != "government" && o.channel != "reseller")
    c.problem("/government", "a government SKU requires channel government or reseller");
  o.trial = c.boolean(m, "trial", "/trial").value_or(false);
  // The product server takes a license of exactly its trial terms (30 days 8
  // hours, or 30 days 23:59:59) for a trial, whatever is_trial says.
  if (starts && expires && !o.trial) {
    using namespace std::chrono_literals;
    const auto term = *expires - *starts;
    if (term == 30 * 24h + 8h || term == 30 * 24h + 23h + 59min + 59s)
      c.problem("/expires_at", "a term of exactly 30 days " + std::string(term == 30 * 24h + 8h ? "8 hours" : "23:59:59") +
                                   " is the product's trial term: the product server would take this license for a "
                                   "trial; make it a trial, or change the term");
  }
  o.deployment_id = c.text(m, "deployment_id", "/deployment_id", false, 64);
  if (o.deployment_id && !id_chars(*o.deployment_id))
    c.problem("/deployment_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
  if (const auto* f = c.at(m, "features")) {
    if (!f->is_object()) {
      c.problem("/features", "must be an object of feature name -> true/false");
    } else {
      const auto& names = feature_names();
      for (const auto& [name, value] : f->items()) {
        const auto pointer = "/features/" + json_pointer_token(name);
        if (name == "users") c.problem(pointer, "users comes from seats, not from features");
        else if (std::find(names.begin(), names.end(), name) == names.end()) c.problem(pointer, "unknown feature flag");
        else if (!value.is_boolean()) c.problem(pointer, "must be true or false");
        else if (name == "cloud" && value.get<bool>())
          c.problem(pointer, "must not be true: a cloud license switches a self-hosted server into the vendor's cloud behaviour");
        else if (name == "future_features" && value.get<bool>())
          c.problem(pointer, "must not be true: it would switch on every flag a later server version adds");
        else o.features[name] = value.get<bool>();
      }
    }
  }
  c.text(m, "po_number", "/po_number", false, 64);
  c.text(m, "notes", "/notes", false, kMaxNotesBytes, true);
  o.reason = c.text(m, "reason", "/reason", o.kind == OrderKind::reissue, kMaxNotesBytes, true);
  if (o.reason && o.kind != OrderKind::reissue) c.problem("/reason", "only a reissue records a reason");
  if (!c.ok()) return std::move(c.problems());
  o.manifest = canonical_json(m);
  return o;
}

}  // namespace signet
