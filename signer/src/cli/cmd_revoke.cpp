// signet revoke LICENSE_ID --reason TEXT; signet audit export-revocations --out FILE
#include "appliance.hpp"
#include "signet/audit/verify.hpp"
#include "output_file.hpp"

#include "signet/core/bytes.hpp"
#include "signet/signer/text.hpp"

#include <iostream>

namespace signet::cli {

namespace {

constexpr std::string_view kRevocationDomain = "signet-revocations-v1\n";

int revoke(const Context& ctx, const std::string& license_id, const std::string& reason) {
  if (reason.empty() || reason.size() > 1000) throw Error(ErrorKind::usage, "--reason: must be 1 to 1000 characters");
  // The same rule as a manifest's reason: it is logged, and printed by audit log and the report.
  if (const auto rule = text_rule_broken(reason, true); !rule.empty()) throw Error(ErrorKind::usage, "--reason: " + rule);
  if (is_blank(reason)) throw Error(ErrorKind::usage, "--reason: must not be blank (it holds only white space)");
  Appliance app(ctx.load_config());
  audit::Log log(app.db);
  const auto issued = log.issued_license(license_id);
  // Both are a bad LICENSE_ID argument (exit 65), not a token (69) or an output (73) problem.
  if (!issued)
    throw Error(ErrorKind::bad_data, "license " + license_id + " is not in the audit log: no license was issued with this id");
  const auto already = [&] {
    return Error(ErrorKind::bad_data, "license " + license_id + " is already revoked: nothing was appended");
  };
  if (log.is_revoked(license_id)) throw already();
  const auto key = app.checkpoint_key();
  auto options = app.append_options(key.get());
  options.precheck = [&](Database&) {
    if (log.is_revoked(license_id)) throw already();
  };
  const auto entries = log.append({audit::NewEntry{.kind = "revoked",
                                                   .order_id = issued->order_id,
                                                   .license_id = license_id,
                                                   .key_id = std::nullopt,
                                                   .record = Json{{"reason", reason}, {"issued_seq", issued->seq}},
                                                   .record_text = {}}},
                                  options);
  if (!ctx.global.quiet)
    std::cout << "revoked " << license_id << " (order " << issued->order_id.value_or("-") << ") at seq "
              << entries.front().seq << "\n";
  return 0;
}

// The list is read and signed inside a writer's transaction, after the
// writer's own checks of the log (its schema and triggers, its head against
// the token's anchor, the checkpoints' signatures): a log edited outside
// Signet is refused as every writer refuses it, and the HSM signs no list
// taken from it. The export is closed by a checkpoint, so the log records the
// state each list was signed from.
int export_revocations(const Context& ctx, const std::string& out) {
  const auto keep = ctx.own_files();
  check_output_file(out, keep);
  Appliance app(ctx.load_config());
  audit::Log log(app.db);
  const auto key = app.checkpoint_key();
  auto options = app.append_options(key.get());
  Json body;
  std::size_t count = 0;
  options.precheck = [&](Database& db) {
    // The writer's checks prove the log's head (its last checkpoint, against
    // the HSM), not the entries under it: a revoked entry turned into a note,
    // its trigger put back, would leave the list unseen. So every entry is
    // verified here, inside the transaction, before the HSM signs what the log
    // says: the last checkpoint's root then covers every entry the list reads.
    audit::Verifier verifier(audit::VerifyOptions{}, log.log_id(), -1);
    audit::scan_entries(db, [&](audit::Entry&& e) { (void)verifier.add(e); });  // ignored after the first failure
    const auto report = verifier.finish();
    if (!report.ok)
      throw audit::AuditError(ErrorKind::bad_data,
                              db.path().string() + ": the audit log does not verify (" +
                                  (report.failed_seq ? "seq " + std::to_string(*report.failed_seq) + ": " : "") +
                                  report.reason + "); no revocation list is signed from it: run signet audit verify");
    Json revoked = Json::array();
    audit::read_entries(db, [&](const audit::Entry& e) {
      const Json r = Json::parse(e.record);
      revoked.push_back(Json{{"license_id", e.license_id.value_or("")},
                             {"order_id", e.order_id ? Json(*e.order_id) : Json(nullptr)},
                             {"revoked_at", e.at},
                             {"reason", r.value("reason", std::string())},
                             {"seq", e.seq}});
    }, "kind = 'revoked'");
    count = revoked.size();
    body = Json{{"v", 1}, {"log_id", log.log_id()}, {"generated_at", format_rfc3339(now_utc())}, {"revoked", revoked},
                {"kid", key->key_id()}, {"alg", std::string(keystore::to_string(key->algorithm()))}};
    const auto sig = key->sign(as_bytes(std::string(kRevocationDomain) + canonical_json(body)));
    body["sig"] = base64_encode(sig);
  };
  const auto entries = log.append({}, options);
  write_file_atomically(out, body.dump(2) + "\n", keep);
  if (!ctx.global.quiet)
    std::cout << "wrote " << out << " (" << count << " revoked licenses, signed by " << key->key_id()
              << "); audit log checkpoint at seq " << entries.back().seq << "\n";
  return 0;
}

}  // namespace

void add_revoke_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string license, reason;
  };
  auto o = std::make_shared<Options>();
  add_command(
      app, ctx, "revoke", "revoke an issued license (appended to the audit log)", [&ctx, o](CLI::App& cmd) {
        cmd.add_option("LICENSE_ID", o->license, "the license id")->required();
        cmd.add_option("--reason", o->reason, "why (recorded in the log)")->required();
        cmd.callback([&ctx, o] { ctx.action = [&ctx, o] { return revoke(ctx, o->license, o->reason); }; });
      });
}

void add_revocation_export(CLI::App* audit, Context& ctx) {
  auto out = std::make_shared<std::string>();
  add_command(
      *audit, ctx, "export-revocations", "write the signed list of revoked license ids",
      [&ctx, out](CLI::App& cmd) {
        cmd.add_option("--out", *out, "output file")->required();
        cmd.callback([&ctx, out] { ctx.action = [&ctx, out] { return export_revocations(ctx, *out); }; });
      });
}

}  // namespace signet::cli
