// Would the product server take this license? Its reading, after the signature:
// Go's encoding/json Unmarshal into model.License (server/public/model/license.go),
// which fails on a value of the wrong JSON type, matches object keys to fields
// exactly or else case-insensitively (a key matched only so is refused here: verify
// reads the terms by the exact names), and ignores keys it does not know; the
// license record's id check (model.IsValidId: 26 letters and digits); and the
// 10,000-byte limit of a license file (LicenseRecord.IsValid).
#include "signet/core/json.hpp"
#include "signet/signer/license.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <span>

namespace signet {

namespace {

enum class GoType { string, int64, boolean, customer, features, limits };

struct Field {
  std::string_view name;
  GoType type;
  bool required;  // the server needs it: an absent one makes the license invalid, empty or expired
};

// model.License, model.Customer, model.Features and model.LicenseLimits, by JSON name.
constexpr std::array kLicenseFields = {
    Field{"id", GoType::string, true},           Field{"issued_at", GoType::int64, true},
    Field{"starts_at", GoType::int64, true},     Field{"expires_at", GoType::int64, true},
    Field{"customer", GoType::customer, true},   Field{"features", GoType::features, true},
    Field{"sku_name", GoType::string, false},    Field{"sku_short_name", GoType::string, false},
    Field{"is_trial", GoType::boolean, false},   Field{"is_gov_sku", GoType::boolean, false},
    Field{"is_seat_count_enforced", GoType::boolean, false},
    Field{"extra_users", GoType::int64, false},  Field{"signup_jwt", GoType::string, false},
    Field{"limits", GoType::limits, false},
};
constexpr std::array kCustomerFields = {
    Field{"id", GoType::string, false}, Field{"name", GoType::string, false},
    Field{"email", GoType::string, false}, Field{"company", GoType::string, false}};
constexpr std::array kLimitsFields = {
    Field{"post_history", GoType::int64, false},  Field{"board_cards", GoType::int64, false},
    Field{"playbook_runs", GoType::int64, false}, Field{"call_duration", GoType::int64, false},
    Field{"agents_prompts", GoType::int64, false}, Field{"push_notifications", GoType::int64, false}};

// True when Go's encoding/json would decode `key` into the field named `name`
// (lowercase ASCII): equal after simple case folding, where K also folds to
// U+212A KELVIN SIGN and S to U+017F LONG S.
bool go_field_match(std::string_view key, std::string_view name) {
  std::size_t k = 0;
  for (const char want : name) {
    if (k >= key.size()) return false;
    const auto c = static_cast<unsigned char>(key[k]);
    if (c < 0x80) {
      const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
      if (lower != want) return false;
      ++k;
    } else if (want == 'k' && key.substr(k, 3) == "\xE2\x84\xAA") {
      k += 3;
    } else if (want == 's' && key.substr(k, 2) == "\xC5\xBF") {
      k += 2;
    } else {
      return false;
    }
  }
  return k == key.size();
}

bool go_int64(const Json& v) {
  if (!v.is_number_integer()) return false;  // Go refuses 1.0 and 1e3 for an integer field, as nlohmann reads them as floats
  return !v.is_number_unsigned() || v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
}

class Checker {
 public:
  std::vector<ProductServerProblem> problems;

  // Checks the fields of `object` (at `where`) that the Go struct of `fields` has.
  void fields(const Json& object, const std::string& where, std::span<const Field> fields) {
    misspelled(object, where, fields);
    for (const auto& f : fields) {
      std::vector<std::string> keys;
      for (const auto& [key, value] : object.items())
        if (go_field_match(key, f.name)) keys.push_back(key);
      if (keys.size() > 1) {
        std::string list;
        for (const auto& k : keys) list += (list.empty() ? "" : ", ") + where + "/" + json_pointer_token(k);
        add(where + "/" + std::string(f.name),
            "is given " + std::to_string(keys.size()) + " times (" + list +
                "): the product server matches names without regard to case, and the last in the file wins");
        continue;
      }
      // A null is no value to Go: the field keeps its zero value.
      if (keys.empty() || object.at(keys.front()).is_null()) {
        if (f.required) add(where + "/" + std::string(f.name), "is required");
        continue;
      }
      value(object.at(keys.front()), where + "/" + json_pointer_token(keys.front()), f.type);
    }
  }

  void add(std::string pointer, std::string rule) { problems.push_back({std::move(pointer), std::move(rule)}); }

 private:
  // A key the server reads into a field only by folding case (IS_TRIAL, Expires_At,
  // "\u017Fku_name"): refused, because verify shows the terms and works out the
  // status by the exact names, and no license of Signet's is spelled so.
  void misspelled(const Json& object, const std::string& where, std::span<const Field> fields) {
    for (const auto& item : object.items()) {
      const auto& key = item.key();
      if (std::any_of(fields.begin(), fields.end(), [&](const Field& f) { return key == f.name; })) continue;
      const auto f = std::find_if(fields.begin(), fields.end(),
                                  [&](const Field& g) { return go_field_match(key, g.name); });
      if (f == fields.end()) continue;  // a key the server does not know: ignored, as the server ignores it
      const std::string name(f->name);
      add(where + "/" + json_pointer_token(key),
          "is not spelled as the product's field " + name + ": the product server reads it case-insensitively as " +
              name + "; a license from Signet spells every key exactly");
    }
  }

  void value(const Json& v, const std::string& pointer, GoType type) {
    switch (type) {
      case GoType::string:
        if (!v.is_string()) add(pointer, "must be a string");
        break;
      case GoType::int64:
        if (!go_int64(v)) add(pointer, "must be an integer");
        break;
      case GoType::boolean:
        if (!v.is_boolean()) add(pointer, "must be true or false");
        break;
      case GoType::customer:
        if (!v.is_object()) add(pointer, "must be an object {id, name, email, company}");
        else fields(v, pointer, kCustomerFields);
        break;
      case GoType::limits:
        if (!v.is_object()) add(pointer, "must be an object");
        else fields(v, pointer, kLimitsFields);
        break;
      case GoType::features:
        if (!v.is_object()) {
          add(pointer, "must be an object of users and feature flags");
          break;
        }
        features(v, pointer);
        break;
    }
  }

  void features(const Json& f, const std::string& where) {
    // Users *int and a *bool per flag (the names Signet writes are exactly model.Features' flags).
    static const std::vector<Field> flags = [] {
      std::vector<Field> out{{"users", GoType::int64, true}};
      for (const auto& name : feature_names()) out.push_back({name, GoType::boolean, false});
      return out;
    }();
    fields(f, where, flags);
  }
};

// model.IsValidId, for the ASCII ids every signer writes.
bool valid_id(const Json& v) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() != kLicenseIdChars) return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace

std::string ProductServerProblem::text() const { return pointer.empty() ? rule : pointer + " " + rule; }

std::vector<ProductServerProblem> product_server_problems(const DecodedLicense& license, std::size_t file_bytes) {
  Checker c;
  if (license.encoding == Encoding::mattermost && file_bytes > kMaxEncodedLicenseBytes)
    c.add("", "the license file is " + std::to_string(file_bytes) +
                  " bytes; the product server takes at most 10,000 bytes");
  const auto& p = license.payload_json;
  c.fields(p, "", kLicenseFields);
  // The id is stored as the license record's id, which must be a valid id.
  for (const auto& [key, value] : p.items()) {
    if (go_field_match(key, "id") && value.is_string() && !valid_id(value))
      c.add("/" + json_pointer_token(key), "must be 26 letters and digits (the product server's id format)");
  }
  return std::move(c.problems);
}

}  // namespace signet
