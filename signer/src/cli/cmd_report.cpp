// signet audit report --html FILE: verifies the log, then writes the auditor's
// report (one self-contained HTML page). Read-only; needs no HSM and no PIN.
#include "appliance.hpp"
#include "input_file.hpp"
#include "output_file.hpp"

#include "signet/audit/report.hpp"
#include "signet/audit/verify.hpp"
#include "signet/signer/text.hpp"

#include <iostream>

namespace signet::cli {

namespace {

struct ReportOptions {
  std::string html, db, as_of;
  std::vector<std::string> pubkeys, checkpoints;
};

Json read_checkpoint(const std::string& path) {
  constexpr std::size_t kMaxCheckpointBytes = 1U << 20U;
  const auto text = read_input_file(path, kMaxCheckpointBytes + 1, "the checkpoint");
  if (text.size() > kMaxCheckpointBytes) throw Error(ErrorKind::bad_data, path + ": the checkpoint is larger than 1 MiB");
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Error(ErrorKind::bad_data, path + ": the checkpoint is not JSON");
  return held_checkpoint(std::move(j));
}

int report(const Context& ctx, const ReportOptions& o) {
  const auto path = ctx.database_to_read(o.db);
  check_output_file(o.html, ctx.own_files(path.string()));
  TimePoint now = now_utc();
  if (!o.as_of.empty()) {
    const auto t = parse_rfc3339_utc(o.as_of);
    if (!t) throw Error(ErrorKind::usage, "--as-of: not an RFC 3339 UTC date or time: " + o.as_of);
    now = *t;
  }
  audit::VerifyOptions options;
  for (const auto& f : o.pubkeys) {
    require_input_file(f, "the public key file");
    options.trusted_keys.push_back(keystore::PublicKey::from_file(f));
  }
  for (const auto& f : o.checkpoints) options.known_checkpoints.push_back(read_checkpoint(f));
  const auto verification = audit::verify_database(path, options);

  auto db = Database::open(path, Database::Mode::read_only);
  const audit::Log log(db);  // refuses a file that is not a Signet log of a known schema
  const auto html = audit::render_html_report(db, verification, now);
  write_file_atomically(o.html, html, ctx.own_files(path.string()));

  if (!verification.ok) {
    std::cerr << "signet: warning: the audit log does NOT verify (seq "
              << (verification.failed_seq ? std::to_string(*verification.failed_seq) : std::string("?")) << ": "
              << escape_for_terminal(verification.reason) << "); the report says so and its figures must not be trusted\n";
  } else if (o.pubkeys.empty() && !ctx.global.quiet) {
    std::cerr << "signet: note: checkpoint signatures were checked against keys the log itself announces; "
                 "give --pubkey with the keys from the key ceremony for an independent check\n";
  }
  if (!ctx.global.quiet)
    std::cout << "wrote " << escape_for_terminal(o.html) << " (" << verification.entries << " entries, log "
              << (verification.ok ? "verified" : "FAILED verification") << ")\n";
  return 0;
}

}  // namespace

void add_report_command(CLI::App* audit, Context& ctx) {
  auto o = std::make_shared<ReportOptions>();
  add_command(
      *audit, ctx, "report", "verify the log and write the auditor's report as one HTML page",
      [&ctx, o](CLI::App& cmd) {
        cmd.add_option("--html", o->html, "the HTML file to write (self-contained: nothing is fetched)")
            ->required();
        cmd.add_option("--db", o->db, "the database (read-only; default: the configured one)");
        cmd.add_option("--pubkey", o->pubkeys, "PEM of a key trusted to sign checkpoints (repeatable)");
        cmd.add_option("--checkpoint", o->checkpoints, "a checkpoint seen outside the log (repeatable)");
        cmd.add_option("--as-of", o->as_of,
                       "date the report (RFC 3339; default: now): anchors the 60-day expiry window");
        cmd.callback([&ctx, o] { ctx.action = [&ctx, o] { return report(ctx, *o); }; });
      });
}

}  // namespace signet::cli
