#include "signet/signer/license.hpp"

#include "signet/core/bytes.hpp"

#include "signet/core/crypto.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>

namespace signet {

static_assert(kMattermostSignatureBytes == 2048 / 8);

std::string_view to_string(Encoding e) noexcept { return e == Encoding::mattermost ? "mattermost" : "signet"; }

std::optional<Encoding> parse_encoding(std::string_view text) noexcept {
  if (text == "mattermost") return Encoding::mattermost;
  if (text == "signet") return Encoding::signet;
  return std::nullopt;
}

std::string new_license_id() {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  // Random bytes drawn from libsodium a few KiB at a time per thread (not one
  // system call per id); bytes >= 252 are rejected so that each of the 36
  // characters is equally likely (252 = 7 * 36). Ids are public, not secret.
  thread_local std::array<std::uint8_t, 4096> pool{};
  thread_local std::size_t used = pool.size();
  std::string id;
  id.reserve(kLicenseIdChars);
  while (id.size() < kLicenseIdChars) {
    if (used == pool.size()) {
      random_fill(pool);
      used = 0;
    }
    const auto b = pool[used++];
    if (b >= 252) continue;
    id += kAlphabet[b % kAlphabet.size()];
  }
  return id;
}

Json payload_json(const Terms& t) {
  Json features = Json::object();
  features["users"] = t.users;
  for (const auto& name : feature_names()) {
    const auto it = t.features.find(name);
    features[name] = it != t.features.end() && it->second;
  }
  Json p = {{"id", t.license_id},
            {"issued_at", to_unix_ms(t.issued_at)},
            {"starts_at", to_unix_ms(t.starts_at)},
            {"expires_at", to_unix_ms(t.expires_at)},
            {"customer",
             {{"id", t.customer.id}, {"name", t.customer.name}, {"email", t.customer.email}, {"company", t.customer.company}}},
            {"features", features},
            {"sku_name", sku_display_name(t.sku)},
            {"sku_short_name", t.sku},
            {"is_trial", t.trial},
            {"is_gov_sku", t.government}};
  if (t.deployment_id) p["deployment_id"] = *t.deployment_id;
  if (t.non_production) p["non_production"] = true;
  return p;
}

namespace {

// A feature key of the payload, and its JSON text up to the value ("name":).
struct FeatureKey {
  std::string name;
  std::string json;
};

// The payload's feature keys in canonical (byte) order: every flag and "users",
// each written out once (they are the same in every license signed).
const std::vector<FeatureKey>& sorted_feature_keys() {
  static const std::vector<FeatureKey> keys = [] {
    auto names = feature_names();
    names.emplace_back("users");
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::vector<FeatureKey> k;
    for (auto& name : names) {
      std::string json;
      append_json_string(json, name);
      json += ':';
      k.push_back({std::move(name), std::move(json)});
    }
    return k;
  }();
  return keys;
}

void append_bool(std::string& out, bool v) { out += v ? "true" : "false"; }

}  // namespace

std::string payload_text(const Terms& t) {
  // Keys in sorted order, as canonical_json(payload_json(t)) writes them; a test holds the two equal.
  std::string out;
  out.reserve(1536);
  out += "{\"customer\":{\"company\":";
  append_json_string(out, t.customer.company);
  out += ",\"email\":";
  append_json_string(out, t.customer.email);
  out += ",\"id\":";
  append_json_string(out, t.customer.id);
  out += ",\"name\":";
  append_json_string(out, t.customer.name);
  out += '}';
  if (t.deployment_id) {
    out += ",\"deployment_id\":";
    append_json_string(out, *t.deployment_id);
  }
  out += ",\"expires_at\":";
  out += std::to_string(to_unix_ms(t.expires_at));
  out += ",\"features\":{";
  bool first = true;
  // Both are in byte order: one walk over the flags the terms set, not a
  // lookup per key (this runs for every license signed).
  auto set = t.features.begin();
  for (const auto& [name, json] : sorted_feature_keys()) {
    if (!first) out += ',';
    first = false;
    out += json;
    while (set != t.features.end() && set->first < name) ++set;
    if (name == "users") {
      out += std::to_string(t.users);
    } else {
      append_bool(out, set != t.features.end() && set->first == name && set->second);
    }
  }
  out += "},\"id\":";
  append_json_string(out, t.license_id);
  out += ",\"is_gov_sku\":";
  append_bool(out, t.government);
  out += ",\"is_trial\":";
  append_bool(out, t.trial);
  out += ",\"issued_at\":";
  out += std::to_string(to_unix_ms(t.issued_at));
  if (t.non_production) out += ",\"non_production\":true";
  out += ",\"sku_name\":";
  append_json_string(out, sku_display_name(t.sku));
  out += ",\"sku_short_name\":";
  append_json_string(out, t.sku);
  out += ",\"starts_at\":";
  out += std::to_string(to_unix_ms(t.starts_at));
  out += '}';
  return out;
}

std::string signet_license_message(std::string_view kid, std::string_view payload) {
  std::string m;
  m.reserve(kLicenseDomain.size() + kid.size() + 1 + payload.size());
  m.append(kLicenseDomain).append(kid).append("\n").append(payload);
  return m;
}

std::string encode_mattermost(std::string_view payload, ByteView signature) {
  Bytes all;
  all.reserve(payload.size() + signature.size());
  all.insert(all.end(), payload.begin(), payload.end());
  all.insert(all.end(), signature.begin(), signature.end());
  return base64_encode(all);
}

namespace {

std::string signet_alg(keystore::Algorithm alg) {
  return alg == keystore::Algorithm::ed25519 ? "ed25519" : "rsa-pkcs1-sha512";
}

}  // namespace

std::string encode_signet(const std::string& kid, keystore::Algorithm alg, std::string_view payload, ByteView signature) {
  // The canonical envelope {alg, kid, payload, sig, v}, keys in sorted order.
  std::string out;
  out.reserve(kArmorBegin.size() + kArmorEnd.size() + payload.size() * 4 / 3 + 256);
  out.append(kArmorBegin).append("\n{\"alg\":");
  append_json_string(out, signet_alg(alg));
  out += ",\"kid\":";
  append_json_string(out, kid);
  out += ",\"payload\":\"";
  out += base64url_encode(as_bytes(payload));
  out += "\",\"sig\":\"";
  out += base64url_encode(signature);
  out += "\",\"v\":1}\n";
  out.append(kArmorEnd).append("\n");
  return out;
}

SignedLicense sign_license(Terms terms, Encoding encoding, keystore::SigningKey& key) {
  SignedLicense out;
  if (encoding == Encoding::mattermost && key.algorithm() != keystore::Algorithm::rsa2048)
    throw Error(ErrorKind::config, "the mattermost encoding needs an RSA-2048 key; key " + key.key_id() + " is " +
                                       std::string(keystore::to_string(key.algorithm())));
  for (;;) {
    out.payload = payload_text(terms);
    if (encoding == Encoding::mattermost) {
      const auto sig = key.sign(as_bytes(out.payload));
      if (sig.size() != kMattermostSignatureBytes)
        throw Error(ErrorKind::software, "RSA-2048 signature of " + std::to_string(sig.size()) + " bytes");
      if (sig.back() == 0x00) {
        // The server would strip this byte and misread the signature: change the payload and sign again.
        terms.issued_at += std::chrono::milliseconds(1);
        ++out.resigned;
        continue;
      }
      out.encoded = encode_mattermost(out.payload, sig);
    } else {
      const auto sig = key.sign(as_bytes(signet_license_message(key.key_id(), out.payload)));
      out.encoded = encode_signet(key.key_id(), key.algorithm(), out.payload, sig);
    }
    break;
  }
  if (out.encoded.size() >= kMaxEncodedLicenseBytes)
    throw LicenseError(ErrorKind::bad_data, "license " + terms.license_id + " would be " +
                                                std::to_string(out.encoded.size()) +
                                                " bytes encoded; the product reads licenses under 10,000 bytes");
  out.license_id = std::move(terms.license_id);
  out.issued_at = terms.issued_at;
  return out;
}

DecodedLicense split_license(std::string_view text) {
  if (text.size() > kMaxLicenseFileBytes) throw LicenseError(ErrorKind::bad_data, "license file larger than 64 KiB");
  DecodedLicense d;
  if (text.starts_with(kArmorBegin)) {
    d.encoding = Encoding::signet;
    auto rest = text.substr(kArmorBegin.size());
    if (!rest.starts_with("\n")) throw LicenseError(ErrorKind::bad_data, "armor: a line break must follow the BEGIN line");
    rest.remove_prefix(1);
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) throw LicenseError(ErrorKind::bad_data, "armor: no END line");
    const auto body = rest.substr(0, nl);
    auto tail = rest.substr(nl + 1);
    if (tail != std::string(kArmorEnd) + "\n" && tail != kArmorEnd)
      throw LicenseError(ErrorKind::bad_data, "armor: the END line must follow the envelope and end the file");
    std::string why;
    const auto env = parse_strict_json(body, why);
    if (!env || !env->is_object()) throw LicenseError(ErrorKind::bad_data, "envelope: " + (why.empty() ? "not an object" : why));
    bool canonical = false;
    try {
      canonical = canonical_json(*env) == body;
    } catch (const Error&) {
      canonical = false;
    }
    if (!canonical)
      throw LicenseError(ErrorKind::bad_data, "envelope: not in canonical JSON form (keys sorted, no white space), as "
                                              "signet writes it");
    for (const auto& [k, v] : env->items())
      if (k != "v" && k != "alg" && k != "kid" && k != "payload" && k != "sig")
        throw LicenseError(ErrorKind::bad_data, "envelope: unknown field " + k);
    if (!env->contains("v") || (*env)["v"] != 1) throw LicenseError(ErrorKind::bad_data, "envelope: v must be 1");
    auto str = [&](const char* k) {
      if (!env->contains(k) || !(*env)[k].is_string()) throw LicenseError(ErrorKind::bad_data, std::string("envelope: ") + k + " must be a string");
      return (*env)[k].get<std::string>();
    };
    d.alg = str("alg");
    d.kid = str("kid");
    if (d.alg != "ed25519" && d.alg != "rsa-pkcs1-sha512") throw LicenseError(ErrorKind::bad_data, "envelope: unknown alg " + d.alg);
    const auto payload = base64url_decode(str("payload"));
    const auto sig = base64url_decode(str("sig"));
    if (!payload) throw LicenseError(ErrorKind::bad_data, "envelope: payload is not base64url");
    if (!sig) throw LicenseError(ErrorKind::bad_data, "envelope: sig is not base64url");
    d.payload = to_string(*payload);
    d.signature = *sig;
  } else {
    d.encoding = Encoding::mattermost;
    // Unused bits before the padding are ignored, as the server's decoder
    // ignores them (Signet writes them zero): the bytes read are the same.
    const auto raw = base64_decode(text, Base64Bits::any);
    if (!raw) throw LicenseError(ErrorKind::bad_data, "not a signet armored license and not standard base64");
    Bytes bytes = *raw;
    while (!bytes.empty() && bytes.back() == 0x00) bytes.pop_back();  // as the product server does
    if (bytes.size() <= kMattermostSignatureBytes)
      throw LicenseError(ErrorKind::bad_data, "too short: no payload before the 256-byte signature");
    const auto split = bytes.size() - kMattermostSignatureBytes;
    d.payload.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(split));
    d.signature.assign(bytes.begin() + static_cast<std::ptrdiff_t>(split), bytes.end());
  }
  return d;
}

std::optional<std::string> parse_payload(DecodedLicense& d) {
  // The strict parser takes a leading byte order mark as RFC 8259 allows; the
  // product server's (Go's encoding/json) refuses one, and so does verify.
  if (d.payload.starts_with("\xEF\xBB\xBF"))
    return "payload: starts with a UTF-8 byte order mark, which the product server's JSON parser refuses";
  std::string why;
  auto payload = parse_strict_json(d.payload, why);
  if (!payload || !payload->is_object())
    return "payload: " + (why.empty() ? std::string("not a JSON object") : why);
  d.payload_json = std::move(*payload);
  return std::nullopt;
}

DecodedLicense decode_license(std::string_view text) {
  auto d = split_license(text);
  if (const auto problem = parse_payload(d)) throw LicenseError(ErrorKind::bad_data, *problem);
  return d;
}

bool verify_license(const DecodedLicense& d, const keystore::PublicKey& key) {
  if (d.encoding == Encoding::mattermost) {
    if (key.algorithm() != keystore::Algorithm::rsa2048) return false;
    return key.verify(as_bytes(d.payload), d.signature);
  }
  if (d.kid != key.key_id()) return false;
  if ((d.alg == "ed25519") != (key.algorithm() == keystore::Algorithm::ed25519)) return false;
  return key.verify(as_bytes(signet_license_message(d.kid, d.payload)), d.signature);
}

}  // namespace signet
