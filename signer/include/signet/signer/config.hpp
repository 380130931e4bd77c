// signet.toml: where the HSM, the key, the PIN and the database are, and the
// issuance policy. Found by --config, $SIGNET_CONFIG, or ./signet.toml; relative
// paths inside it are relative to the file's folder. Parsed with toml++.
#pragma once

#include "signet/core/error.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace signet {

// Where the PIN comes from; never a command-line value.
struct PinSourceSpec {
  enum class Kind { prompt, fd, file, env };
  Kind kind = Kind::prompt;
  std::string value;  // the fd number, file path or variable name
};

struct Policy {
  std::int64_t max_seats = 1'000'000;
  // The longest term: calendar years from starts_at, and days; 0 turns a rule
  // off. A signet.toml that sets only max_term_days (as before max_term_years)
  // has no years rule.
  std::int64_t max_term_years = 3;
  std::int64_t max_term_days = 0;
  std::int64_t grace_days = 10;
  std::chrono::minutes clock_margin{24 * 60};
  bool require_signed_manifests = false;
};

struct Config {
  std::filesystem::path file;      // the signet.toml read
  std::string module;              // PKCS#11 module: file path or p11-kit module name
  std::string token_uri;           // RFC 7512 URI selecting the token
  PinSourceSpec pin;
  std::filesystem::path database;  // the appliance's SQLite file (keys + audit log)
  std::string signing_key;         // default key id ("" = choose from the active keys)
  std::string audit_key;           // key id signing checkpoints ("" = the signing key)
  std::string actor;               // recorded in the log ("" = the login name)
  Policy policy;
};

// Parses "prompt", "env:NAME", "file:PATH", "fd:N"; throws Error(config) naming the rule.
PinSourceSpec parse_pin_source(std::string_view text);

// Reads and checks a signet.toml; throws Error(config) naming the file, the key and the rule.
Config load_config(const std::filesystem::path& file);

// The text of a new signet.toml (what `signet init` writes).
std::string default_config_text(const std::string& module, const std::string& token_uri,
                                const std::string& pin, const std::string& database);

}  // namespace signet
