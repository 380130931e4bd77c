// signet sign PATH... --out DIR [--key KID] [--format mattermost|signet] [--dry-run] [--skip-invalid] [--json]
#include "appliance.hpp"

#include "signet/signer/issue.hpp"
#include "signet/signer/text.hpp"

#include <iostream>
#include <unistd.h>

namespace signet::cli {

namespace {

struct SignOptions {
  std::vector<std::string> inputs;
  std::string out, key, format;
  bool dry_run = false, skip_invalid = false, json = false;
  std::size_t chunk = 500;
  unsigned threads = 0;
};

// The key to sign with: --key, else signing.key, else the one active key that
// fits the format (RSA-2048 for mattermost, Ed25519 for signet). Where more
// than one fits, Signet does not guess: during a key rotation the new key is
// active before the products accept it (docs/operator-guide.md), and licenses
// signed with it would be issued, logged and useless.
keystore::KeyRecord choose_key(Appliance& app, const SignOptions& o) {
  if (!o.key.empty()) return app.active_key(o.key);
  if (!app.config.signing_key.empty()) return app.active_key(app.config.signing_key);
  std::vector<keystore::KeyRecord> fits;
  for (auto& k : app.registry.list()) {
    if (k.state != keystore::KeyState::active) continue;
    if (o.format == "mattermost" && k.algorithm != keystore::Algorithm::rsa2048) continue;
    if (o.format == "signet" && k.algorithm != keystore::Algorithm::ed25519) continue;
    fits.push_back(k);
  }
  const std::string for_format = o.format.empty() ? std::string() : " for --format " + o.format;
  if (fits.empty()) throw Error(ErrorKind::config, "no active key" + for_format + " (signet key generate, or --key KID)");
  if (fits.size() > 1) {
    std::string list;
    for (const auto& k : fits)
      list += (list.empty() ? "" : ", ") + k.key_id.substr(0, 16) + " (" + std::string(keystore::to_string(k.algorithm)) +
              ")";
    throw Error(ErrorKind::config, app.config.file.string() + ": signing.key is empty and " +
                                       std::to_string(fits.size()) + " active keys could sign" + for_format + ": " +
                                       list + "; name one with --key KID or signing.key");
  }
  return app.active_key(fits.front().key_id);
}

Json problem_json(const ManifestProblem& p) {
  return Json{{"source", p.source}, {"order_id", p.order_id ? Json(*p.order_id) : Json(nullptr)},
              {"pointer", p.pointer}, {"rule", p.rule}};
}

int sign_batch(const Context& ctx, const SignOptions& o);

int sign(const Context& ctx, const SignOptions& o) {
  try {
    return sign_batch(ctx, o);
  } catch (const ManifestError& e) {
    if (o.json) {
      Json refused = Json::array();
      for (const auto& p : e.problems()) refused.push_back(problem_json(p));
      std::cout << json_for_terminal(Json{{"error", "refused"}, {"refused", refused}}, 2) << "\n";
    }
    for (const auto& p : e.problems()) std::cerr << "refused: " << escape_for_terminal(p.text()) << "\n";
    if (o.skip_invalid)
      std::cerr << "signet: nothing was signed: the batch was refused as a whole, even with --skip-invalid ("
                << e.problems().size() << " problem(s): every order bad, an order id twice, or two orders following up one license)\n";
    else
      std::cerr << "signet: nothing was signed: " << e.problems().size()
                << " problem(s) in the batch (fix them, or sign the rest with --skip-invalid)\n";
    return exit_code(ErrorKind::bad_data);
  }
}

int sign_batch(const Context& ctx, const SignOptions& o) {
  Appliance app(ctx.load_config());
  IssueRequest req;
  // Entries of the input folders that cannot be manifests (a FIFO, a dangling
  // link, a link loop) are refused like bad orders: listed with their path, and
  // nothing is signed unless --skip-invalid.
  std::vector<std::filesystem::path> paths(o.inputs.begin(), o.inputs.end());
  auto scanned = scan_manifest_inputs(paths);
  req.inputs = std::move(scanned.files);
  req.refused_inputs = std::move(scanned.problems);
  const bool refuse_batch = !req.refused_inputs.empty() && !o.skip_invalid;
  req.out_dir = o.out;
  // A batch refused for its inputs is still validated (without the token), so
  // that every problem is listed in one round; issue_batch refuses it then.
  req.dry_run = o.dry_run || refuse_batch;
  req.skip_invalid = o.skip_invalid;
  req.progress = !o.json && !ctx.global.quiet && ::isatty(STDERR_FILENO) != 0;
  req.chunk_size = o.chunk;
  req.threads = o.threads;

  ReadOptions read;
  read.policy = app.config.policy;
  read.require_signature = app.config.policy.require_signed_manifests;
  // The order desks the log trusts (the desk_keys table must agree with it).
  read.desk_keys = vouched_desk_keys(app.db, app.registry);

  audit::Log log(app.db);
  IssueSummary summary;
  std::string key_id;
  // What a real run refuses before it signs, a dry run refuses too: the key
  // and the encoding, and a clock behind the log.
  const auto record = choose_key(app, o);
  const auto encoding = o.format.empty() ? (keystore::is_rsa(record.algorithm) ? Encoding::mattermost : Encoding::signet)
                                         : *parse_encoding(o.format);
  if (encoding == Encoding::mattermost && record.algorithm != keystore::Algorithm::rsa2048)
    throw Error(ErrorKind::usage, std::string(o.format.empty() ? "the mattermost encoding (the default for an RSA key)"
                                                               : "--format mattermost") +
                                      " needs an RSA-2048 key; key " + record.key_id + " is " +
                                      std::string(keystore::to_string(record.algorithm)) +
                                      (o.format.empty() ? ": sign with --format signet" : ""));
  req.encoding = encoding;
  if (req.dry_run) {
    // Nothing is signed: the key stands in for itself. (The log's head is still
    // proven through the token's keys and anchor, in app.append_options.)
    key_id = record.key_id;
    struct NoKey final : keystore::SigningKey {
      explicit NoKey(keystore::PublicKey k) : m_key(std::move(k)) {}
      Bytes sign(ByteView) override { throw Error(ErrorKind::software, "dry run signs nothing"); }
      [[nodiscard]] const keystore::PublicKey& public_key() const noexcept override { return m_key; }
      keystore::PublicKey m_key;
    } none(keystore::PublicKey::from_der(record.spki_der));
    IssueContext ictx{app.db, log, none, none, app.append_options(nullptr), read, nullptr};
    summary = issue_batch(ictx, req);
  } else {
    const auto key = app.token().signing_key(record);
    const auto checkpoint_key = app.audit_key(key);
    key_id = record.key_id;
    // Resolved through the token (TokenKeys::signing_key checks that the token's
    // key is the registered one), so only a key the HSM holds vouches for a license.
    const auto token_public_key = [&app](const std::string& id) -> std::optional<keystore::PublicKey> {
      try {
        return app.token().signing_key(app.registry.get(id))->public_key();
      } catch (const Error&) {
        return std::nullopt;
      }
    };
    IssueContext ictx{app.db, log, *key, *checkpoint_key, app.append_options(checkpoint_key.get()), read,
                      token_public_key};
    summary = issue_batch(ictx, req);
  }
  if (o.dry_run) check_output_folder(o.out);  // as the real run's first write would

  if (o.json) {
    Json licenses = Json::array();
    for (const auto& l : summary.licenses)
      licenses.push_back(Json{{"order_id", l.order_id}, {"license_id", l.license_id}, {"file", l.file},
                              {"status", l.already_issued ? "already_issued" : "issued"},
                              {"non_production", l.non_production}});
    Json refused = Json::array();
    for (const auto& p : summary.refused) refused.push_back(problem_json(p));
    Json out = {{"dry_run", o.dry_run},
                {"key_id", key_id},
                {"orders_issued", summary.orders_issued},
                {"licenses_issued", summary.licenses_issued},
                {"already_issued", summary.orders_already},
                {"refused", refused},
                {"out", o.out},
                {"resigned", summary.resigned},
                {"checkpoint_seq", summary.last_checkpoint_seq},
                {"licenses", licenses}};
    if (o.dry_run) out["would_issue"] = summary.would_issue;
    std::cout << json_for_terminal(out, 2) << "\n";
  } else {
    for (const auto& p : summary.refused) std::cerr << "refused: " << escape_for_terminal(p.text()) << "\n";
    if (!ctx.global.quiet) {
      if (o.dry_run) {
        std::cout << "dry run: " << summary.would_issue << " orders would be issued, " << summary.orders_already
                  << " already issued (would be re-emitted from the log), " << summary.refused.size()
                  << " problems; nothing was signed\n";
      } else {
        std::cout << "issued " << summary.licenses_issued << " licenses for " << summary.orders_issued << " orders; "
                  << summary.orders_already << " orders already issued (re-emitted from the log); "
                  << summary.refused.size() << " refused\n"
                  << "license files in " << escape_for_terminal(o.out) << "\n";
        if (summary.last_checkpoint_seq > 0) std::cout << "audit log checkpoint at seq " << summary.last_checkpoint_seq << "\n";
      }
    }
  }
  return 0;
}

}  // namespace

void add_sign_command(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<SignOptions>();
  const auto* about = "validate order manifests, sign licenses in the HSM, log them, write them";
  add_command(app, ctx, "sign", about, [&ctx, o](CLI::App& cmd) {
    cmd.add_option("PATH", o->inputs, "manifest files (.json, .jsonl) and folders")->required();
    cmd.add_option("--out", o->out, "output folder for the license files")->required();
    cmd.add_option("--key", o->key, "key id (or unique prefix) to sign with");
    cmd.add_option("--format", o->format, "mattermost or signet (default: by key type)")
        ->check(CLI::IsMember({"mattermost", "signet"}));
    cmd.add_flag("--dry-run", o->dry_run, "validate only; sign, log and write nothing");
    cmd.add_flag("--skip-invalid", o->skip_invalid, "sign the valid orders and list the refused ones");
    cmd.add_flag("--json", o->json, "print the summary as JSON");
    cmd.add_option("--chunk", o->chunk, "orders per audit transaction")
        ->check(CLI::Range(1, 100000))
        ->group("");
    cmd.add_option("--threads", o->threads, "signing threads (default: one per core)")
        ->check(CLI::Range(1, 64))
        ->group("");
    cmd.callback([&ctx, o] { ctx.action = [&ctx, o] { return sign(ctx, *o); }; });
  });
}

}  // namespace signet::cli
