// signet key generate | list | export | retire | trust-desk
#include "appliance.hpp"
#include "events.hpp"
#include "input_file.hpp"

#include "signet/core/json.hpp"
#include "signet/core/time.hpp"
#include "signet/signer/text.hpp"

#include <algorithm>
#include <iostream>

namespace signet::cli {

namespace {

Json key_json(const keystore::KeyRecord& k) {
  return Json{{"key_id", k.key_id},
              {"algorithm", std::string(keystore::to_string(k.algorithm))},
              {"label", k.label},
              {"token_uri", k.token_uri},
              {"created_at", format_rfc3339(k.created_at)},
              {"state", std::string(keystore::to_string(k.state))}};
}

int generate(Context& ctx, const std::string& alg_text, const std::string& label, bool json) {
  const auto alg = keystore::parse_algorithm(alg_text);
  if (!alg) throw Error(ErrorKind::usage, "--alg " + alg_text + ": must be ed25519, rsa2048, rsa3072 or rsa4096");
  // Checked before the PIN is asked for; the token's own limit is 64 bytes (keystore/src/token_keys.cpp).
  if (label.empty() || label.size() > 64) throw Error(ErrorKind::usage, "--label: must be 1 to 64 bytes");
  // The rule of a manifest's text: the label is logged and stored in the token.
  if (const auto rule = text_rule_broken(label, false); !rule.empty()) throw Error(ErrorKind::usage, "--label: " + rule);
  Appliance app(ctx.load_config());
  auto& token = app.token();
  auto record = [&] {
    try {
      return token.generate(*alg, label);
    } catch (const Error& e) {
      const auto keys = app.registry.list();
      if (e.kind() != ErrorKind::already_exists ||
          std::any_of(keys.begin(), keys.end(), [&](const keystore::KeyRecord& k) { return k.label == label; }))
        throw;
      // Not one of the log's keys: most likely the pair of a `key generate`
      // killed before its commit (its clean-up never ran). Signet removes no
      // key it cannot prove its own; the officer decides.
      throw Error(e.kind(), std::string(e.what()) +
                                "; the audit log announces no key of that label: a `signet key generate` interrupted "
                                "before its commit leaves its new pair in the token (or another application made it). "
                                "Generate under another label, or, once sure it is no other application's, remove "
                                "the pair by hand: pkcs11-tool --module '" + app.config.module + "' --token-label '" +
                                token.token_label() + "' --login --delete-object --type privkey --label '" + label +
                                "', then the same with --type pubkey");
    }
  }();
  try {
    auto key = token.signing_key(record);
    Events events(app);
    // The registry row and the log entry are written in one transaction.
    events.key_generated(record, key);
  } catch (const Error& e) {
    // A key the log does not announce must not stay in the token (nor take its label).
    std::string outcome = "; the new key pair was destroyed in the token, nothing was generated";
    try {
      token.destroy(record);
    } catch (const Error& d) {
      outcome = "; destroying the new key pair failed too (" + std::string(d.what()) + "): remove " + record.token_uri +
                " from the token by hand";
    }
    throw Error(e.kind(), std::string(e.what()) + outcome);
  }
  if (json) {
    std::cout << json_for_terminal(key_json(record), 2) << "\n";
  } else if (!ctx.global.quiet) {
    std::cout << "generated " << keystore::to_string(record.algorithm) << " key " << record.key_id << "\n"
              << "  label      " << escape_for_terminal(record.label) << "\n"
              << "  token uri  " << record.token_uri << "\n";
  }
  return 0;
}

int list(Context& ctx, bool json) {
  const Config config = ctx.load_config();
  require_input_file(config.database, "the database");
  auto db = Database::open(config.database, Database::Mode::read_only);
  keystore::KeyRegistry registry(db);
  const auto keys = registry.list();
  if (json) {
    Json out = Json::array();
    for (const auto& k : keys) out.push_back(key_json(k));
    std::cout << json_for_terminal(out, 2) << "\n";
    return 0;
  }
  if (keys.empty()) {
    std::cout << "no keys (signet key generate --alg ed25519|rsa2048 --label L)\n";
    return 0;
  }
  std::printf("%-64s  %-8s  %-7s  %-24s  %s\n", "KEY ID", "ALG", "STATE", "CREATED", "LABEL");
  for (const auto& k : keys) {
    std::printf("%-64s  %-8s  %-7s  %-24s  %s\n", k.key_id.c_str(),
                std::string(keystore::to_string(k.algorithm)).c_str(),
                std::string(keystore::to_string(k.state)).c_str(), format_rfc3339(k.created_at).c_str(),
                escape_for_terminal(k.label).c_str());
  }
  return 0;
}

int export_key(Context& ctx, const std::string& kid, const std::string& format) {
  const Config config = ctx.load_config();
  require_input_file(config.database, "the database");
  auto db = Database::open(config.database, Database::Mode::read_only);
  keystore::KeyRegistry registry(db);
  const auto record = registry.get(kid);
  // What the product embeds must be the key the log announced, not whatever the table holds.
  (void)announced_key(db, record);
  const auto key = keystore::PublicKey::from_der(record.spki_der);
  if (format == "pem") {
    std::cout << key.pem();
  } else {
    std::cout.write(reinterpret_cast<const char*>(key.der().data()), static_cast<std::streamsize>(key.der().size()));
  }
  std::cout.flush();
  if (!std::cout) throw Error(ErrorKind::io, "cannot write the public key to standard output");
  return 0;
}

int retire(Context& ctx, const std::string& kid) {
  Appliance app(ctx.load_config());
  const auto record = app.registry.get(kid);
  if (record.state == keystore::KeyState::retired) {
    throw keystore::KeyError(ErrorKind::bad_data, "key " + record.key_id + " is already retired");
  }
  (void)app.active_key(record.key_id);  // the log must vouch for it too
  Events events(app);
  events.key_retired(record);
  if (!ctx.global.quiet) std::cout << "retired key " << record.key_id << " (" << escape_for_terminal(record.label) << ")\n";
  return 0;
}

int trust_desk(Context& ctx, const std::string& pem, const std::string& label) {
  if (label.size() > 128) throw Error(ErrorKind::usage, "--label: must be at most 128 bytes");
  if (const auto rule = text_rule_broken(label, false); !label.empty() && !rule.empty())
    throw Error(ErrorKind::usage, "--label: " + rule);
  Appliance app(ctx.load_config());
  require_input_file(pem, "the order-desk key file");
  const auto key = keystore::PublicKey::from_file(pem);
  Events events(app);
  const auto desk = events.desk_trusted(key, label.empty() ? std::filesystem::path(pem).stem().string() : label);
  if (!ctx.global.quiet)
    std::cout << "trusted order-desk key " << desk.key_id << " (" << escape_for_terminal(desk.label) << ")\n";
  return 0;
}

}  // namespace

void add_key_commands(CLI::App& app, Context& ctx) {
  struct Options {
    std::string alg, label, kid, format = "pem", pem;
    bool json = false;
  };
  add_command(app, ctx, "key", "manage the signing keys in the token", [&ctx](CLI::App& key) {
    key.require_subcommand(1);
    auto o = std::make_shared<Options>();

    add_command(
        key, ctx, "generate", "generate a key pair inside the token and register it",
        [&ctx, o](CLI::App& gen) {
          gen.add_option("--alg", o->alg, "ed25519, rsa2048, rsa3072 or rsa4096")->required();
          gen.add_option("--label", o->label, "CKA_LABEL of both halves (unique in the token)")->required();
          gen.add_flag("--json", o->json, "print the new key as JSON");
          gen.callback(
              [&ctx, o] { ctx.action = [&ctx, o] { return generate(ctx, o->alg, o->label, o->json); }; });
        });

    add_command(key, ctx, "list", "list the registered keys", [&ctx, o](CLI::App& ls) {
      ls.add_flag("--json", o->json, "print JSON");
      ls.callback([&ctx, o] { ctx.action = [&ctx, o] { return list(ctx, o->json); }; });
    });

    add_command(
        key, ctx, "export", "write a public key (SubjectPublicKeyInfo) to standard output",
        [&ctx, o](CLI::App& exp) {
          exp.add_option("KID", o->kid, "key id or a unique prefix of 8+ hex digits")->required();
          exp.add_option("--format", o->format, "pem or der")->check(CLI::IsMember({"pem", "der"}));
          exp.callback([&ctx, o] { ctx.action = [&ctx, o] { return export_key(ctx, o->kid, o->format); }; });
        });

    add_command(key, ctx, "retire", "stop signing with a key (logged)", [&ctx, o](CLI::App& ret) {
      ret.add_option("KID", o->kid, "key id or a unique prefix")->required();
      ret.callback([&ctx, o] { ctx.action = [&ctx, o] { return retire(ctx, o->kid); }; });
    });

    add_command(
        key, ctx, "trust-desk", "trust an Ed25519 order-desk key for manifest signatures",
        [&ctx, o](CLI::App& desk) {
          desk.add_option("PEM", o->pem, "the order desk's public key (PEM or DER)")
              ->required()
              ->check(CLI::ExistingFile);
          desk.add_option("--label", o->label, "a name for the desk");
          desk.callback([&ctx, o] { ctx.action = [&ctx, o] { return trust_desk(ctx, o->pem, o->label); }; });
        });
  });
}

}  // namespace signet::cli
