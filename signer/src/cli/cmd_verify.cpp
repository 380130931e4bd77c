// signet verify LICENSE [--pubkey PEM ...] [--json]: with --pubkey, no HSM, no PIN, no config needed.
#include "appliance.hpp"
#include "cli.hpp"
#include "input_file.hpp"

#include "signet/audit/log.hpp"
#include "signet/audit/trust.hpp"
#include "signet/core/sqlite.hpp"
#include "signet/signer/license.hpp"
#include "signet/signer/text.hpp"

#include <algorithm>
#include <iostream>

namespace signet::cli {

namespace {

struct VerifyOptions {
  std::string license;
  std::vector<std::string> pubkeys;
  bool json = false;
};

// Keys to try: --pubkey, else the keys the configured appliance's audit log
// announces in key_generated entries that its HSM holds. Neither the keys table
// nor the log alone is trusted: anyone who can write the file can add a row or
// an entry through the triggers, but not a key pair to the token.
std::vector<keystore::PublicKey> keys_for(const Context& ctx, const VerifyOptions& o) {
  std::vector<keystore::PublicKey> keys;
  for (const auto& f : o.pubkeys) {
    require_input_file(f, "the public key file");
    keys.push_back(keystore::PublicKey::from_file(f));
  }
  if (!keys.empty()) return keys;
  std::optional<Appliance> appliance;
  try {
    appliance.emplace(ctx.load_config());
    const audit::Log log(appliance->db);  // refuses a file that is not a Signet log
    keys = audit::logged_keys(appliance->db);
  } catch (const Error& e) {
    throw Error(ErrorKind::usage, std::string("give the product's public key with --pubkey PEM (no usable signet.toml: ") +
                                      e.what() + ")");
  }
  std::erase_if(keys, [&](const keystore::PublicKey& k) {
    const auto in_token = appliance->token().public_key_in_token(k.key_id());
    return !in_token || in_token->der() != k.der();
  });
  if (keys.empty())
    throw Error(ErrorKind::usage, "the appliance's HSM holds none of the keys its audit log announces (a key "
                                  "destroyed after its retirement, or a log edited outside signet): give the "
                                  "product's public key with --pubkey PEM");
  return keys;
}

// Years 0001 to 9999, the span RFC 3339 can write: a license may hold any int64
// (the product server takes it), and arithmetic near its ends would overflow.
constexpr std::int64_t kFirstMs = -62'135'596'800'000;
constexpr std::int64_t kLastMs = 253'402'300'799'999;

std::optional<std::int64_t> ms_of(const Json& p, const char* key) {
  const auto it = p.find(key);
  return it == p.end() ? std::nullopt : json_int(*it);
}

std::string date_of(const Json& p, const char* key) {
  const auto ms = ms_of(p, key);
  if (!ms) return "-";
  if (*ms < kFirstMs || *ms > kLastMs) return std::to_string(*ms) + " ms (outside the years 0001 to 9999)";
  return format_rfc3339(from_unix_ms(*ms));
}

int verify(const Context& ctx, const VerifyOptions& o) {
  // One byte past the limit, so that decode_license() tells a file too large apart.
  const auto text = read_input_file(o.license, kMaxLicenseFileBytes + 1, "the license file");
  DecodedLicense d;
  try {
    d = split_license(text);
  } catch (const LicenseError& e) {
    if (o.json)
      std::cout << json_for_terminal(Json{{"valid", false}, {"signature_valid", false}, {"malformed", e.what()}}, 2)
                << "\n";
    std::cerr << "signet: " << escape_for_terminal(o.license) << ": INVALID: malformed license: " << escape_for_terminal(e.what())
              << "\n";
    return exit_code(ErrorKind::verification_failed);
  }
  const auto keys = keys_for(ctx, o);
  const keystore::PublicKey* by = nullptr;
  for (const auto& k : keys) {
    if (verify_license(d, k)) {
      by = &k;
      break;
    }
  }
  if (by == nullptr) {
    if (o.json)
      std::cout << json_for_terminal(Json{{"valid", false},
                                          {"signature_valid", false},
                                          {"encoding", std::string(to_string(d.encoding))},
                                          {"keys_tried", keys.size()}},
                                     2)
                << "\n";
    const std::string tried =
        !o.pubkeys.empty() ? (keys.size() == 1 ? "the given key" : "any of the " + std::to_string(keys.size()) + " given keys")
                           : (keys.size() == 1 ? "the appliance's key" : "any of the " + std::to_string(keys.size()) +
                                                                            " keys of the appliance") +
                                 std::string(" (the keys its log announces that its HSM holds; a key no longer in "
                                             "the HSM must be given with --pubkey)");
    std::cerr << "signet: " << escape_for_terminal(o.license) << ": INVALID: the " << to_string(d.encoding)
              << " signature does not verify with " << tried
              << (d.encoding == Encoding::signet ? " (license names key " + escape_for_terminal(d.kid) + ")" : "") << "\n";
    return exit_code(ErrorKind::verification_failed);
  }
  // The signature holds over the payload's bytes, which only now are read: a
  // payload that is not strict JSON (a key twice, bad UTF-8, a byte order mark)
  // is refused as malformed, whoever signed it, but its signature is reported
  // as it is.
  if (const auto problem = parse_payload(d)) {
    if (o.json)
      std::cout << json_for_terminal(Json{{"valid", false},
                                          {"signature_valid", true},
                                          {"encoding", std::string(to_string(d.encoding))},
                                          {"key_id", by->key_id()},
                                          {"malformed", *problem}},
                                     2)
                << "\n";
    std::cerr << "signet: " << escape_for_terminal(o.license)
              << ": INVALID: signature OK, but malformed license: " << escape_for_terminal(*problem) << "\n";
    return exit_code(ErrorKind::verification_failed);
  }
  const auto& p = d.payload_json;
  // A signature that holds is not enough: the product server must also be able to read the license.
  if (const auto refused = product_server_problems(d, text.size()); !refused.empty()) {
    if (o.json) {
      Json problems = Json::array();
      for (const auto& r : refused) problems.push_back(Json{{"pointer", r.pointer}, {"rule", r.rule}});
      std::cout << json_for_terminal(Json{{"valid", false},
                                          {"signature_valid", true},
                                          {"encoding", std::string(to_string(d.encoding))},
                                          {"key_id", by->key_id()},
                                          {"payload", p},
                                          {"product_server_refuses", problems}},
                                     2)
                << "\n";
    }
    for (const auto& r : refused)
      std::cerr << "signet: " << escape_for_terminal(o.license)
                << ": signature OK, but the product server would refuse it: " << escape_for_terminal(r.text()) << "\n";
    return exit_code(ErrorKind::verification_failed);
  }
  // The product runs a license that has started (its IsStarted: starts_at < now, in
  // milliseconds) and has not expired, or expired no more than 10 days ago (its grace period).
  const auto expires_ms = ms_of(p, "expires_at");
  const auto expires = expires_ms ? std::optional(from_unix_ms(std::clamp(*expires_ms, kFirstMs, kLastMs))) : std::nullopt;
  const auto starts_ms = ms_of(p, "starts_at");
  const auto now = now_utc();
  const bool started = !starts_ms || *starts_ms < to_unix_ms(now);
  std::string status = "no expiry";
  std::int64_t days_left = 0;
  bool in_grace = false;
  bool past_grace = false;
  if (expires) {
    days_left = std::chrono::floor<std::chrono::days>(*expires - now).count();
    if (now <= *expires) {
      status = "valid, " + std::to_string(days_left) + " days left" + (days_left <= 60 ? " (expiry notices are due)" : "");
    } else if (now <= *expires + std::chrono::days(10)) {
      in_grace = true;
      const auto grace_left = std::chrono::floor<std::chrono::days>(*expires + std::chrono::days(10) - now).count();
      status = "EXPIRED, in the 10-day grace period (" + std::to_string(grace_left) + " days left to renew)";
    } else {
      past_grace = true;
      status = "EXPIRED, grace period over";
    }
  }
  if (!started) status = "not yet valid (starts " + date_of(p, "starts_at") + ")";
  // A good signature on a license the product would not run now is not "valid" (the exit
  // code stays 0: the signature holds, and a renewal is signed ahead of its start).
  const bool in_force = started && !past_grace;
  const auto object_at = [&](const char* k) { return p.contains(k) && p[k].is_object() ? p[k] : Json::object(); };
  const Json customer = object_at("customer");
  const Json features = object_at("features");
  if (o.json) {
    std::cout << json_for_terminal(Json{{"valid", in_force},
                                        {"signature_valid", true},
                                        {"encoding", std::string(to_string(d.encoding))},
                                        {"key_id", by->key_id()},
                                        {"payload", p},
                                        {"days_left", days_left},
                                        {"in_grace_period", in_grace},
                                        {"status", status}},
                                   2)
              << "\n";
    return 0;
  }
  // Whatever a license holds is printed escaped: it may come from any signer.
  auto s = [](const Json& j, const char* k) {
    return j.contains(k) && j[k].is_string() ? escape_for_terminal(j[k].get<std::string>()) : std::string("-");
  };
  auto b = [](const Json& j, const char* k) { return j.contains(k) && j[k].is_boolean() && j[k].get<bool>() ? "yes" : "no"; };
  std::cout << "license " << s(p, "id") << ": signature OK (" << to_string(d.encoding) << " encoding, key " << by->key_id() << ")\n"
            << "  customer    " << s(customer, "name") << " (" << s(customer, "company") << ", " << s(customer, "email")
            << ", id " << s(customer, "id") << ")\n"
            << "  sku         " << s(p, "sku_name") << " (" << s(p, "sku_short_name") << ")\n"
            << "  seats       " << (features.contains("users") ? json_for_terminal(features["users"]) : "-") << "\n"
            << "  trial       " << b(p, "is_trial") << "\n"
            << "  government  " << b(p, "is_gov_sku") << "\n";
  // Signet's licenses before 2026-12-03 carried the order's channel (it is in the log).
  if (p.contains("channel")) std::cout << "  channel     " << s(p, "channel") << "\n";
  if (p.contains("non_production") && p["non_production"] == true) std::cout << "  deployment  non-production\n";
  if (p.contains("deployment_id")) std::cout << "  deployment  " << s(p, "deployment_id") << "\n";
  std::cout << "  issued      " << date_of(p, "issued_at") << "\n"
            << "  starts      " << date_of(p, "starts_at") << "\n"
            << "  expires     " << date_of(p, "expires_at") << "\n"
            << "  status      " << status << "\n";
  return 0;
}

}  // namespace

void add_verify_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<VerifyOptions>();
  add_command(app, ctx, "verify", "check a license's signature and show its terms (no HSM needed with --pubkey)",
              [&ctx, o](CLI::App& cmd) {
                cmd.add_option("LICENSE", o->license, "the license file")->required();
                cmd.add_option("--pubkey", o->pubkeys,
                               "the public key (PEM or DER) the product embeds (repeatable)");
                cmd.add_flag("--json", o->json, "print the result as JSON");
                cmd.callback([&ctx, o] {
                  // With --pubkey no token is opened; without, the appliance's HSM vouches for the keys.
                  ctx.without_module = !o->pubkeys.empty();
                  ctx.action = [&ctx, o] { return verify(ctx, *o); };
                });
              });
}

}  // namespace signet::cli
