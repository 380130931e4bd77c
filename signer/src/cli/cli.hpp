// The `signet` command line: one file per command group registers its subcommands
// on the CLI11 app. Commands throw signet::Error; main() maps the kind to the exit
// code (exit_codes.cpp), prints "signet: <message>" on stderr, and never prints a PIN.
#pragma once

#include "signet/signer/config.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signet::cli {

// Options every command accepts (set before the subcommand runs).
struct GlobalOptions {
  std::string config_path;  // --config; else $SIGNET_CONFIG; else ./signet.toml
  // Taken as text and checked by Signet: CLI11 would echo a bad value, and what
  // is typed there by mistake may be the PIN itself.
  std::string pin_fd;
  std::string pin_file;
  std::string pin_env;
  bool quiet = false;
};

// Shared state handed to every command registration.
struct Context {
  GlobalOptions global;
  // The command's action, run after parsing; returns the exit code.
  std::function<int()> action;
  // Set by a command that never loads a PKCS#11 module (verify): OpenSSL's
  // legacy name tables are then left unfilled (see main.cpp).
  bool without_module = false;
  // The command line's words after the program's name (see add_command).
  std::vector<std::string_view> words;

  // Loads signet.toml as GlobalOptions and the environment say; throws Error(config).
  [[nodiscard]] Config load_config() const;
  // The configuration file: --config, else $SIGNET_CONFIG, else ./signet.toml.
  // A $SIGNET_CONFIG set but empty is refused (78), not read as unset.
  [[nodiscard]] std::filesystem::path config_file() const;
  // The audit database a reading command opens: --db when given, else the configured
  // one; Error(usage) without either, Error(no_input) unless it is a readable file.
  [[nodiscard]] std::filesystem::path database_to_read(const std::string& db) const;
  // The files no output may replace: the configured appliance's signet.toml,
  // database (with its -wal, -shm and -journal) and PIN file, where a
  // configuration is found, and the database `db` named on the command line.
  [[nodiscard]] std::vector<std::filesystem::path> own_files(const std::string& db = "") const;
};

// Adds the subcommand `name` to `parent`, and has `build` add its options, its
// own subcommands and its callback only when `name` is one of the command
// line's words. CLI11 selects a subcommand by its whole name (no command has an
// alias, a prefix match or case folding), so a command not named cannot run;
// building every command's options cost each process about 0.4 ms, a tenth of
// a `signet verify` (docs/performance.md). Help lists every command either way.
CLI::App* add_command(CLI::App& parent, const Context& ctx, const std::string& name, const std::string& about,
                      const std::function<void(CLI::App&)>& build);

// Each registers its subcommands with add_command; the action is stored in
// ctx.action by the subcommand's callback.
void add_init_command(CLI::App& app, Context& ctx);
void add_key_commands(CLI::App& app, Context& ctx);
void add_audit_commands(CLI::App& app, Context& ctx);
void add_sign_command(CLI::App& app, Context& ctx);
void add_verify_command(CLI::App& app, Context& ctx);
void add_revoke_command(CLI::App& app, Context& ctx);
// `signet audit export-revocations`, registered under the audit command.
void add_revocation_export(CLI::App* audit, Context& ctx);
void add_report_command(CLI::App* audit, Context& ctx);

}  // namespace signet::cli
