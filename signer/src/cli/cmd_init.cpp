// signet init: write signet.toml and create the appliance database.
#include "appliance.hpp"

#include "signet/signer/database.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>

namespace signet::cli {

namespace {

struct InitOptions {
  std::string module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token = "pkcs11:token=signet";
  std::string pin_source = "prompt";
  std::string database = "signet.db";
};

int init(Context& ctx, const InitOptions& o) {
  // Found as every other command finds it: --config, $SIGNET_CONFIG, ./signet.toml.
  const std::filesystem::path file = ctx.config_file();
  try {
    (void)parse_pin_source(o.pin_source);  // refuse a bad source before writing anything
  } catch (const Error& e) {
    throw Error(e.kind(), std::string("--pin-source: ") + e.what());
  }
  // Every later command refuses a token chosen by slot number (hsm/src/token.cpp); so does init.
  const auto path_part = o.token.substr(0, o.token.find('?'));
  for (std::size_t at = path_part.find(':'); at != std::string::npos; at = path_part.find(';', at + 1)) {
    if (path_part.compare(at + 1, 8, "slot-id=") == 0)
      throw Error(ErrorKind::config, "--token " + o.token + ": names a slot (slot-id); a token is chosen by its label "
                                     "or serial, never by slot number, which changes when tokens are added or removed");
  }
  // Anything at the path counts, a link that leads nowhere too (writing would follow it).
  const auto taken = [](const std::filesystem::path& p) {
    std::error_code ec;
    const auto type = std::filesystem::symlink_status(p, ec).type();
    if (ec && type != std::filesystem::file_type::not_found)
      throw Error(ErrorKind::cant_create, p.string() + ": cannot examine: " + ec.message());
    return type != std::filesystem::file_type::not_found;
  };
  if (taken(file)) {
    throw Error(ErrorKind::already_exists, file.string() + " already exists: signet init never overwrites it");
  }
  std::error_code ec;
  const auto db_path = (std::filesystem::absolute(file, ec).parent_path() / o.database).lexically_normal();
  if (ec) throw Error(ErrorKind::cant_create, file.string() + ": " + ec.message());
  if (db_path == std::filesystem::absolute(file, ec).lexically_normal())
    throw Error(ErrorKind::usage, "--database " + o.database + " is the configuration file " + file.string() +
                                      " itself: name another file");
  if (!std::filesystem::is_directory(db_path.parent_path(), ec))
    throw Error(ErrorKind::cant_create, "--database " + o.database + ": the folder " + db_path.parent_path().string() +
                                            " does not exist");
  if (!std::filesystem::is_directory(std::filesystem::absolute(file, ec).parent_path(), ec))
    throw Error(ErrorKind::cant_create, file.string() + ": its folder does not exist");
  if (taken(db_path)) {
    throw Error(ErrorKind::already_exists, db_path.string() + " already exists: signet init never overwrites it");
  }
  const std::string text = default_config_text(o.module, o.token, o.pin_source, o.database);
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error(ErrorKind::cant_create, "cannot write " + file.string());
  }
  // Check the file we wrote parses, then create the database it names.
  const Config config = load_config(file);
  try {
    (void)create_appliance_database(config.database);
  } catch (...) {
    std::filesystem::remove(file, ec);
    std::filesystem::remove(config.database, ec);
    throw;
  }
  if (!ctx.global.quiet) {
    std::cout << "wrote " << file.string() << "\n"
              << "created " << config.database.string() << " (key registry and audit log, mode 0600)\n"
              << "next: signet key generate --alg rsa2048 --label L\n";
  }
  return 0;
}

}  // namespace

void add_init_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<InitOptions>();
  add_command(app, ctx, "init", "write signet.toml and create the appliance database",
              [&ctx, o](CLI::App& cmd) {
                cmd.add_option("--module", o->module, "PKCS#11 module: file path or p11-kit module name")
                    ->capture_default_str();
                cmd.add_option("--token", o->token, "RFC 7512 URI of the token")->capture_default_str();
                cmd.add_option("--pin-source", o->pin_source, "prompt | env:NAME | file:PATH | fd:N")
                    ->capture_default_str();
                cmd.add_option("--database", o->database, "database file, relative to signet.toml")
                    ->capture_default_str();
                cmd.callback([&ctx, o] { ctx.action = [&ctx, o] { return init(ctx, *o); }; });
              });
}

}  // namespace signet::cli
