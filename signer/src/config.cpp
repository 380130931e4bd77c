#include "signet/signer/config.hpp"

#include <toml++/toml.h>

#include <charconv>
#include <cstdio>
#include <sys/stat.h>
#include <unistd.h>
#include <map>
#include <set>
#include <sstream>

namespace signet {

namespace {

[[noreturn]] void bad(const std::filesystem::path& file, std::string_view key, std::string_view rule) {
  throw Error(ErrorKind::config, file.string() + ": " + std::string(key) + ": " + std::string(rule));
}

bool is_lower_hex(std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; }

std::string get_string(const toml::table& t, const std::filesystem::path& file, std::string_view key,
                       std::string fallback, bool required) {
  const auto* node = t.at_path(key).node();
  if (node == nullptr) {
    if (required) bad(file, key, "is required");
    return fallback;
  }
  const auto* s = node->as_string();
  if (s == nullptr) bad(file, key, "must be a string");
  return s->get();
}

std::int64_t get_int(const toml::table& t, const std::filesystem::path& file, std::string_view key,
                     std::int64_t fallback, std::int64_t min, std::int64_t max) {
  const auto* node = t.at_path(key).node();
  if (node == nullptr) return fallback;
  const auto* i = node->as_integer();
  if (i == nullptr) bad(file, key, "must be an integer");
  if (i->get() < min || i->get() > max) {
    bad(file, key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return i->get();
}

std::filesystem::path resolve(const std::filesystem::path& file, const std::string& value) {
  std::filesystem::path p(value);
  if (p.is_relative()) p = file.parent_path() / p;
  return p.lexically_normal();
}

// Refuses keys the schema does not know: a typo must not silently fall back to a default.
void check_known(const toml::table& root, const std::filesystem::path& file) {
  static const std::map<std::string, std::set<std::string>> kKnown = {
      {"hsm", {"module", "token", "pin"}},
      {"signing", {"key", "audit_key", "actor"}},
      {"database", {"path"}},
      {"policy", {"max_seats", "max_term_years", "max_term_days", "grace_days", "clock_margin_minutes", "require_signed_manifests"}},
  };
  for (const auto& [section, node] : root) {
    const auto it = kKnown.find(std::string(section.str()));
    if (it == kKnown.end()) bad(file, section.str(), "unknown section");
    if (!node.is_table()) bad(file, section.str(), "must be a section ([" + std::string(section.str()) + "]), not a value");
    for (const auto& [key, value] : *node.as_table()) {
      if (it->second.count(std::string(key.str())) == 0) {
        bad(file, std::string(section.str()) + "." + std::string(key.str()), "unknown key");
      }
    }
  }
}

}  // namespace

PinSourceSpec parse_pin_source(std::string_view text) {
  // The value is not repeated: what was typed there by mistake may be the PIN itself.
  const auto rule = [] {
    return Error(ErrorKind::config,
                 "the PIN source (not shown: it may be the PIN itself) must be prompt, env:NAME, file:PATH or fd:N");
  };
  if (text == "prompt") return {PinSourceSpec::Kind::prompt, ""};
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) throw rule();
  const auto kind = text.substr(0, colon);
  const std::string value(text.substr(colon + 1));
  if (kind == "env") return {PinSourceSpec::Kind::env, value};
  if (kind == "file") return {PinSourceSpec::Kind::file, value};
  if (kind == "fd") {
    int fd = -1;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), fd);
    if (ec != std::errc() || ptr != value.data() + value.size() || fd < 0) throw rule();
    return {PinSourceSpec::Kind::fd, value};
  }
  throw rule();
}

namespace {
std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}
}  // namespace

Config load_config(const std::filesystem::path& file) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    throw Error(ErrorKind::config, file.string() + ": configuration file not found (run `signet init`)");
  }
  if (ec) throw Error(ErrorKind::config, file.string() + ": cannot examine the configuration file: " + ec.message());
  // Only a regular file is parsed: a folder is a mistake, a FIFO would block.
  if (status.type() == std::filesystem::file_type::directory) {
    throw Error(ErrorKind::config, file.string() + ": is a folder, not a configuration file (give the signet.toml in it)");
  }
  if (status.type() != std::filesystem::file_type::regular) {
    throw Error(ErrorKind::config, file.string() + ": the configuration must be a regular file");
  }
  // The configuration names the module loaded into this process (after the PIN
  // is read), the database and the PIN source: one that others may change is
  // refused, as the PIN file and the database are.
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
      throw Error(ErrorKind::config, file.string() + ": the configuration is writable by others than its owner (mode " +
                                         mode_text(st.st_mode) + "); chmod go-w " + file.string());
    if (st.st_uid != ::geteuid() && st.st_uid != 0)
      throw Error(ErrorKind::config, file.string() + ": the configuration belongs to user " + std::to_string(st.st_uid) +
                                         ", not to this user or root");
  }
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << file.string() << ":" << e.source().begin.line << ": " << e.description();
    throw Error(ErrorKind::config, where.str());
  }
  check_known(root, file);
  Config c;
  c.file = std::filesystem::absolute(file, ec);
  if (ec) throw Error(ErrorKind::config, file.string() + ": " + ec.message());
  c.module = get_string(root, file, "hsm.module", "", true);
  c.token_uri = get_string(root, file, "hsm.token", "", true);
  try {
    c.pin = parse_pin_source(get_string(root, file, "hsm.pin", "prompt", false));
  } catch (const Error& e) {
    bad(file, "hsm.pin", e.what());
  }
  if (c.pin.kind == PinSourceSpec::Kind::file) c.pin.value = resolve(c.file, c.pin.value).string();
  c.database = resolve(c.file, get_string(root, file, "database.path", "signet.db", false));
  c.signing_key = get_string(root, file, "signing.key", "", false);
  c.audit_key = get_string(root, file, "signing.audit_key", "", false);
  // A key id (or a prefix of one) as `signet key list` prints it; anything else
  // would only be found wrong when the key is looked up, as an unavailable key.
  for (const auto& [key, value] : {std::pair{"signing.key", c.signing_key}, std::pair{"signing.audit_key", c.audit_key}}) {
    if (!value.empty() && (value.size() < 8 || value.size() > 64 || !is_lower_hex(value)))
      bad(file, key, "a key id is 8 to 64 lowercase hex digits (see `signet key list`), or empty");
  }
  c.actor = get_string(root, file, "signing.actor", "", false);
  c.policy.max_seats = get_int(root, file, "policy.max_seats", c.policy.max_seats, 1, 1'000'000'000);
  c.policy.max_term_days = get_int(root, file, "policy.max_term_days", c.policy.max_term_days, 0, 100 * 366);
  // A signet.toml from before max_term_years that sets max_term_days keeps
  // exactly its own limit; 0 turns either rule off, not both.
  const bool years_given = root.at_path("policy.max_term_years").node() != nullptr;
  if (!years_given && c.policy.max_term_days > 0) c.policy.max_term_years = 0;
  c.policy.max_term_years = get_int(root, file, "policy.max_term_years", c.policy.max_term_years, 0, 100);
  if (c.policy.max_term_years == 0 && c.policy.max_term_days == 0)
    bad(file, "policy.max_term_years", "max_term_years and max_term_days are both 0: set at least one term limit");
  c.policy.grace_days = get_int(root, file, "policy.grace_days", c.policy.grace_days, 0, 365);
  c.policy.clock_margin = std::chrono::minutes(
      get_int(root, file, "policy.clock_margin_minutes", c.policy.clock_margin.count(), 1, 525'600));
  if (const auto* node = root.at_path("policy.require_signed_manifests").node()) {
    const auto* b = node->as_boolean();
    if (b == nullptr) bad(file, "policy.require_signed_manifests", "must be true or false");
    c.policy.require_signed_manifests = b->get();
  }
  return c;
}

std::string default_config_text(const std::string& module, const std::string& token_uri,
                                const std::string& pin, const std::string& database) {
  const auto quote = [](const std::string& s) {
    std::ostringstream out;
    out << toml::value<std::string>(s);
    return out.str();
  };
  std::ostringstream out;
  out << "# Signet appliance configuration (see docs/operator-guide.md).\n"
      << "# Relative paths are relative to this file's folder.\n\n"
      << "[hsm]\n"
      << "# PKCS#11 module: a file path, or the name p11-kit has it registered under\n"
      << "module = " << quote(module) << "\n"
      << "# RFC 7512 URI selecting the token (by label or serial, never by slot)\n"
      << "token = " << quote(token_uri) << "\n"
      << "# Where the user PIN comes from: prompt | env:NAME | file:PATH (mode 0600) | fd:N\n"
      << "pin = " << quote(pin) << "\n\n"
      << "[signing]\n"
      << "# Default signing key id (see `signet key list`); empty: the one active key that fits --format\n"
      << "key = \"\"\n"
      << "# Key id that signs audit checkpoints; empty: the signing key\n"
      << "audit_key = \"\"\n\n"
      << "[database]\n"
      << "path = " << quote(database) << "\n\n"
      << "[policy]\n"
      << "max_seats = 1000000\n"
      << "# The longest term: calendar years from starts_at, and days (0: no such rule)\n"
      << "max_term_years = 3\n"
      << "max_term_days = 0\n"
      << "grace_days = 10\n"
      << "# Warn when the clock runs further than this ahead of the last log entry\n"
      << "clock_margin_minutes = 1440\n"
      << "require_signed_manifests = false\n";
  return out.str();
}

}  // namespace signet
