// signet: the command-line entry. Parses, runs the chosen command, and maps every
// signet::Error to the exit code DESIGN.md gives its kind (core/error.cpp). A
// message may quote input (a path, a field name), so it is printed escaped.
#include "cli.hpp"
#include "input_file.hpp"

#include "signet/core/error.hpp"
#include "signet/signer/text.hpp"

#include <algorithm>
#include <charconv>
#include <fcntl.h>
#include <csignal>
#include <cstdint>
#include <malloc.h>
#include <openssl/crypto.h>
#include <cstdlib>
#include <iostream>
#include <map>

#ifndef SIGNET_VERSION
#define SIGNET_VERSION "0.0.0"
#endif

namespace signet::cli {

std::filesystem::path Context::config_file() const {
  if (!global.config_path.empty()) return global.config_path;
  const char* env = std::getenv("SIGNET_CONFIG");
  if (env == nullptr) return "signet.toml";
  // Read as unset, it would fall back to whatever signet.toml is in the working folder.
  if (*env == '\0') throw Error(ErrorKind::config, "$SIGNET_CONFIG is set but empty: unset it, or name a signet.toml");
  return env;
}

Config Context::load_config() const {
  if (global.pin_fd.size() > 9 || global.pin_fd.find_first_not_of("0123456789") != std::string::npos)
    throw Error(ErrorKind::usage, "--pin-fd: takes a file descriptor number, 0 to 999999999 (the value given is "
                                  "not repeated here: it may be a PIN)");
  Config config = signet::load_config(config_file());
  // A PIN source on the command line overrides the configured one.
  if (!global.pin_fd.empty()) config.pin = {PinSourceSpec::Kind::fd, global.pin_fd};
  if (!global.pin_file.empty()) config.pin = {PinSourceSpec::Kind::file, global.pin_file};
  if (!global.pin_env.empty()) config.pin = {PinSourceSpec::Kind::env, global.pin_env};
  // A PIN descriptor is checked now, before this process opens anything: the
  // PIN is read later, when a descriptor not passed in may by then be one of
  // Signet's own (the database), which would be read as the PIN.
  if (config.pin.kind == PinSourceSpec::Kind::fd) {
    int fd = -1;
    const auto [end, ec] = std::from_chars(config.pin.value.data(), config.pin.value.data() + config.pin.value.size(), fd);
    if (ec != std::errc() || end != config.pin.value.data() + config.pin.value.size() || fd < 0 ||
        ::fcntl(fd, F_GETFD) < 0)
      throw Error(ErrorKind::config, "PIN source fd:" + config.pin.value +
                                         ": descriptor " + config.pin.value + " is not open in this process (pass it, "
                                         "e.g. 3< pinfile, or use --pin-file)");
  }
  return config;
}

std::filesystem::path Context::database_to_read(const std::string& db) const {
  std::filesystem::path path;
  if (!db.empty()) {
    path = db;
  } else {
    try {
      path = load_config().database;
    } catch (const Error& e) {
      throw Error(ErrorKind::usage, std::string("no --db given and no usable signet.toml (") + e.what() + ")");
    }
  }
  require_input_file(path, "the database");
  return path;
}

std::vector<std::filesystem::path> Context::own_files(const std::string& db) const {
  std::vector<std::filesystem::path> files;
  const auto add_database = [&files](const std::filesystem::path& path) {
    files.push_back(path);
    for (const char* suffix : {"-wal", "-shm", "-journal"}) files.push_back(path.string() + suffix);
  };
  if (!db.empty()) add_database(db);
  try {
    const Config config = load_config();
    files.push_back(config.file);
    add_database(config.database);
    if (config.pin.kind == PinSourceSpec::Kind::file) {
      files.emplace_back(config.pin.value);
      files.push_back(config.file.parent_path() / config.pin.value);
    }
  } catch (const Error&) {
    // No usable configuration: nothing of it to keep.
  }
  return files;
}

CLI::App* add_command(CLI::App& parent, const Context& ctx, const std::string& name, const std::string& about,
                      const std::function<void(CLI::App&)>& build) {
  auto* cmd = parent.add_subcommand(name, about);
  if (std::find(ctx.words.begin(), ctx.words.end(), name) != ctx.words.end()) build(*cmd);
  return cmd;
}

namespace {

void add_global_options(CLI::App& app, Context& ctx) {
  app.add_option("--config", ctx.global.config_path, "signet.toml to use (default: $SIGNET_CONFIG, ./signet.toml)");
  auto* fd = app.add_option("--pin-fd", ctx.global.pin_fd, "read the user PIN from this file descriptor")->type_name("FD");
  auto* file = app.add_option("--pin-file", ctx.global.pin_file, "read the user PIN from this file (mode 0600)");
  auto* env = app.add_option("--pin-env", ctx.global.pin_env, "read the user PIN from this environment variable");
  fd->excludes(file)->excludes(env);
  file->excludes(env);
  app.add_flag("-q,--quiet", ctx.global.quiet, "print only errors");
  // A PIN given as an argument would show in ps, /proc and shell history.
  app.add_option_function<std::string>(
         "--pin",
         [](const std::string&) {
           throw Error(ErrorKind::usage,
                       "--pin: a PIN is never taken on the command line (it would show in ps and the shell "
                       "history); use the prompt, --pin-fd N, --pin-file PATH or --pin-env NAME");
         },
         "refused: see --pin-fd, --pin-file, --pin-env")
      ->group("");
}

// An option given an empty value (`--out ''`, or `"$VAR"` of a variable never
// set) names nothing. Several options treat "not given" as "use the default"
// (--config, --db, --pin-file), so an empty one would quietly select what the
// operator did not write; every such value is refused instead, in every
// command, before anything is opened.
void refuse_empty_values(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0 || option->get_type_size() == 0) continue;  // not given, or a flag
    for (const std::string& value : option->results()) {
      if (value.empty())
        throw Error(ErrorKind::usage, option->get_name() + ": the value is empty (an empty string names nothing)");
    }
  }
  for (const CLI::App* sub : app.get_subcommands()) refuse_empty_values(*sub);
}

// Whether the command that ran was given --json: its script reads stdout, so
// an error is printed there too, as JSON, beside the message on stderr.
bool json_requested(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    for (const CLI::Option* option : sub->get_options())
      if (option->get_name() == "--json" && option->count() > 0) return true;
    if (json_requested(*sub)) return true;
  }
  return false;
}

// The error as a script reads it, on stdout: {"error": sysexits name, "exit_code", "message"}.
void print_json_error(int code, const std::string& message) {
  static const std::map<int, const char*> names = {{64, "usage"},  {65, "dataerr"},     {66, "noinput"},
                                                   {69, "unavailable"}, {70, "software"}, {73, "cantcreat"},
                                                   {74, "ioerr"},  {75, "tempfail"},    {77, "noperm"},
                                                   {78, "config"}};
  const auto name = names.find(code);
  std::cout << json_for_terminal(Json{{"error", name != names.end() ? name->second : "failed"},
                                      {"exit_code", code},
                                      {"message", message}},
                                 2)
            << "\n";
}

int report_error(const CLI::App& app, const Error& e) {
  const int code = exit_code(e.kind());
  std::cerr << "signet: " << escape_for_terminal(e.what(), true) << "\n";
  if (json_requested(app)) print_json_error(code, e.what());
  return code;
}

}  // namespace

}  // namespace signet::cli

int main(int argc, char** argv) {
  using namespace signet;
  // A file-size limit or a closed pipe becomes an error with a message, not a silent kill.
  std::signal(SIGXFSZ, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  // Bounded malloc arenas keep a batch of any size in bounded memory. Four: the
  // two signing threads, the committer and the main thread each have one (two
  // made them wait on each other's arena locks: measured, docs/performance.md).
  ::mallopt(M_ARENA_MAX, 4);
  CLI::App app{"Signet: an offline license signing authority (PKCS#11 keys, tamper-evident audit log)", "signet"};
  app.set_version_flag("--version", std::string("signet ") + SIGNET_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  cli::Context ctx;
  ctx.words.assign(argv + std::min(argc, 1), argv + argc);
  try {
    cli::add_global_options(app, ctx);
    cli::add_init_command(app, ctx);
    cli::add_key_commands(app, ctx);
    cli::add_sign_command(app, ctx);
    cli::add_verify_command(app, ctx);
    cli::add_revoke_command(app, ctx);
    cli::add_audit_commands(app, ctx);
    app.parse(argc, argv);
    cli::refuse_empty_values(app);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    // The command line did not parse, so its options were not all counted:
    // --json among its words (before a "--") is what the script asked for.
    const auto end = std::find(ctx.words.begin(), ctx.words.end(), "--");
    if (std::find(ctx.words.begin(), end, "--json") != end) cli::print_json_error(exit_code(ErrorKind::usage), e.what());
    return exit_code(ErrorKind::usage);
  } catch (const Error& e) {
    return cli::report_error(app, e);
  }
  if (!ctx.action) {
    std::cerr << app.help();
    return exit_code(ErrorKind::usage);
  }
  // OpenSSL is set up here, before the command's first use of it (parsing uses
  // none). Signet never prints OpenSSL's error strings (its messages name the
  // file, field and rule), so they are not loaded. OpenSSL's legacy name tables
  // (every cipher and digest under its old names) are filled only for commands
  // that may load a PKCS#11 module: a module such as SoftHSM2 or OpenSC runs
  // inside this process and may look algorithms up by those names, while Signet
  // itself fetches by provider names. Such a command holds no secret either,
  // so OpenSSL's clean-up at exit (freeing what the exit frees anyway) is
  // skipped too. Together about a tenth of a `signet verify` process
  // (docs/performance.md). The system's OpenSSL configuration is still read.
  std::uint64_t openssl_init = OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS;
  if (ctx.without_module)
    openssl_init |= OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_ADD_ALL_DIGESTS | OPENSSL_INIT_NO_ATEXIT;
  ::OPENSSL_init_crypto(openssl_init, nullptr);
  try {
    return ctx.action();
  } catch (const Error& e) {
    return cli::report_error(app, e);
  } catch (const std::exception& e) {
    std::cerr << "signet: internal error: " << escape_for_terminal(e.what(), true) << "\n";
    return exit_code(ErrorKind::software);
  }
}
