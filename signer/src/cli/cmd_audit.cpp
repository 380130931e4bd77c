// signet audit verify | log | export | checkpoint | prove | verify-proof | consistency
#include "appliance.hpp"
#include "input_file.hpp"
#include "output_file.hpp"

#include "signet/audit/query.hpp"
#include "signet/audit/verify.hpp"
#include "signet/signer/text.hpp"

#include <iostream>
#include <sstream>

namespace signet::cli {

namespace {

struct AuditOptions {
  std::string db, out, format = "jsonl", export_file, proof, old_export, new_export;
  std::vector<std::string> pubkeys, checkpoints;
  std::int64_t seq = 0;
  bool json = false;
  audit::LogFilter filter;
};

// The database to read: --db, else the configured one. Reading needs no HSM and no PIN.
// A checkpoint or a proof is a few KiB; anything larger is not one.
constexpr std::size_t kMaxJsonInputBytes = 1U << 20U;

std::vector<keystore::PublicKey> load_keys(const std::vector<std::string>& files) {
  std::vector<keystore::PublicKey> keys;
  for (const auto& f : files) {
    require_input_file(f, "the public key file");
    keys.push_back(keystore::PublicKey::from_file(f));
  }
  return keys;
}

Json read_json_file(const std::string& path, const char* what) {
  const auto text = read_input_file(path, kMaxJsonInputBytes + 1, std::string("the ") + what);
  if (text.size() > kMaxJsonInputBytes)
    throw Error(ErrorKind::bad_data, path + ": the " + std::string(what) + " is larger than 1 MiB");
  std::string why;
  auto j = parse_strict_json(text, why);
  if (!j) throw Error(ErrorKind::bad_data, path + ": the " + std::string(what) + " is not strict JSON: " + why);
  return std::move(*j);
}

int verify(const Context& ctx, const AuditOptions& o) {
  audit::VerifyOptions options;
  options.trusted_keys = load_keys(o.pubkeys);
  for (const auto& f : o.checkpoints) {
    auto cp = held_checkpoint(read_json_file(f, "checkpoint"));
    // A file verify could not hold the log to must not pass unseen.
    const auto bad = [&](const std::string& field, const std::string& rule) {
      return Error(ErrorKind::bad_data,
                   f + ": the checkpoint's " + field + " " + rule +
                       " (give what `signet audit checkpoint --out` wrote, or the last line of an export)");
    };
    if (!cp.is_object()) throw Error(ErrorKind::bad_data, f + ": the checkpoint is not a JSON object");
    if (!cp.contains("tree_size") || !json_uint(cp["tree_size"])) throw bad("tree_size", "must be an unsigned integer");
    for (const char* name : {"log_id", "root_hash", "signature", "time", "key_id"})
      if (!cp.contains(name) || !cp[name].is_string()) throw bad(name, "must be a string");
    const auto root = cp["root_hash"].get<std::string>();
    if (root.size() != 64 || root.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw bad("root_hash", "must be 64 lowercase hex digits");
    options.known_checkpoints.push_back(cp);
  }
  if (!o.export_file.empty()) require_input_file(o.export_file, "the export");
  const auto report = o.export_file.empty() ? audit::verify_database(ctx.database_to_read(o.db), options)
                                            : audit::verify_export(o.export_file, options);
  if (o.json) {
    std::cout << json_for_terminal(audit::to_json(report), 2) << "\n";
  } else if (!ctx.global.quiet || !report.ok) {
    (report.ok ? std::cout : std::cerr) << escape_for_terminal(audit::describe(report), true);
  }
  return report.ok ? 0 : exit_code(ErrorKind::verification_failed);
}

// A column of the table: escaped (the log holds what was given, and a log
// written behind Signet's back holds anything), cut to `width` bytes at a
// character boundary.
std::string short_text(const std::optional<std::string>& v, std::size_t width) {
  std::string s = escape_for_terminal(v.value_or("-"));
  if (s.size() > width) {
    std::size_t cut = width - 1;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0U) == 0x80U) --cut;
    s = s.substr(0, cut) + "~";
  }
  return s;
}

int log(const Context& ctx, const AuditOptions& o) {
  auto db = Database::open(ctx.database_to_read(o.db), Database::Mode::read_only);
  audit::Log check(db);
  std::size_t n = 0;
  if (o.json) std::cout << "[";
  else
    std::printf("%6s  %-24s  %-16s  %-20s  %-26s  %-12s  %s\n", "SEQ", "AT", "KIND", "ORDER", "LICENSE", "ACTOR",
                "DETAIL");
  audit::query(db, o.filter, [&](const audit::Entry& e) {
    if (o.json) {
      std::cout << (n ? ",\n" : "\n") << json_for_terminal(audit::entry_json(e));
    } else {
      const Json r = Json::parse(e.record, nullptr, false);
      // Read leniently: a record that is not what Signet writes shows less, and is audit verify's to flag.
      const auto text = [](const Json& j, const char* pointer) {
        const Json::json_pointer ptr(pointer);
        return j.is_object() && j.contains(ptr) && j.at(ptr).is_string() ? j.at(ptr).get<std::string>() : std::string();
      };
      const auto number = [](const Json& j, const char* key) {
        const auto v = j.is_object() && j.contains(key) ? json_int(j.at(key)) : std::nullopt;
        return v ? std::to_string(*v) : std::string("?");
      };
      std::string detail;
      if (e.kind == "issued" && r.is_object() && r.contains("manifest")) {
        const auto& m = r["manifest"];
        detail = text(m, "/customer/company") + " " + text(m, "/sku") + " x" + number(m, "seats") + " " + text(m, "/channel");
      } else if (e.kind == "checkpoint") {
        detail = "tree_size " + number(r, "tree_size") + " root " + text(r, "/root_hash").substr(0, 16);
      } else if (e.kind == "revoked") {
        detail = text(r, "/reason");
      } else if (e.key_id) {
        detail = "key " + e.key_id->substr(0, 16);
      }
      std::printf("%6lld  %-24s  %-16s  %-20s  %-26s  %-12s  %s\n", static_cast<long long>(e.seq),
                  escape_for_terminal(e.at).c_str(), escape_for_terminal(e.kind).c_str(), short_text(e.order_id, 20).c_str(),
                  short_text(e.license_id, 26).c_str(), short_text(e.actor, 12).c_str(),
                  escape_for_terminal(detail).c_str());
    }
    ++n;
  });
  if (o.json) std::cout << (n ? "\n]\n" : "]\n");
  else if (!ctx.global.quiet) std::cerr << n << " entries\n";
  return 0;
}

int export_log(const Context& ctx, const AuditOptions& o) {
  const auto path = ctx.database_to_read(o.db);
  const auto keep = ctx.own_files(path.string());
  check_output_file(o.out, keep);
  auto db = Database::open(path, Database::Mode::read_only);
  std::ostringstream out;
  if (o.format == "jsonl") audit::export_jsonl(db, out);
  else audit::export_csv(db, out);
  write_file_atomically(o.out, out.str(), keep);
  if (!ctx.global.quiet) std::cout << "wrote " << o.out << "\n";
  return 0;
}

int checkpoint(const Context& ctx, const AuditOptions& o) {
  // Where the copy goes is checked before the checkpoint is appended: a bad
  // --out appends nothing.
  const auto keep = ctx.own_files();
  if (!o.out.empty()) check_output_file(o.out, keep);
  Appliance app(ctx.load_config());
  const auto key = app.checkpoint_key();
  audit::Log log(app.db);
  const auto entries = log.append({}, app.append_options(key.get()));
  const Json r = Json::parse(entries.back().record);
  // A copy held outside the file lets an auditor detect a log cut back or rewritten later.
  if (!o.out.empty()) write_file_atomically(o.out, r.dump(2) + "\n", keep);
  if (!ctx.global.quiet) {
    std::cout << "checkpoint seq " << entries.back().seq << ": tree_size " << r["tree_size"].get<std::uint64_t>()
              << ", root " << r["root_hash"].get<std::string>() << "\n";
  }
  return 0;
}

int prove(const Context& ctx, const AuditOptions& o) {
  const auto path = ctx.database_to_read(o.db);
  Json proof;
  try {
    proof = audit::prove_inclusion(path, o.seq);
  } catch (const Error& e) {
    // A seq the log does not have is a bad argument (65), not an unavailable token (69).
    if (e.kind() != ErrorKind::not_found) throw;
    throw Error(ErrorKind::bad_data, std::string("--seq: ") + e.what());
  }
  const auto text = proof.dump(2) + "\n";
  if (o.out.empty()) std::cout << text;
  else write_file_atomically(o.out, text, ctx.own_files(path.string()));
  return 0;
}

int verify_proof(const Context& ctx, const AuditOptions& o) {
  const auto proof = read_json_file(o.proof, "proof");
  const auto keys = load_keys(o.pubkeys);
  const auto why = audit::verify_inclusion_proof(proof, keys);
  if (!why.empty()) {
    std::cerr << "signet: " << o.proof << ": proof does not hold: " << why << "\n";
    return exit_code(ErrorKind::verification_failed);
  }
  if (!ctx.global.quiet) {
    std::cout << "entry " << proof["seq"].get<std::int64_t>() << " is in the log " << proof["log_id"].get<std::string>()
              << " of " << proof["tree_size"].get<std::uint64_t>() << " entries (root " << proof["root_hash"].get<std::string>()
              << ")\n"
              << "checkpoint signature verified\n";
  }
  return 0;
}

int consistency(const Context& ctx, const AuditOptions& o) {
  audit::VerifyOptions options;
  options.trusted_keys = load_keys(o.pubkeys);
  Json proof;
  require_input_file(o.old_export, "the older export");
  require_input_file(o.new_export, "the newer export");
  const auto why = audit::check_consistency(o.old_export, o.new_export, options, &proof);
  if (!why.empty()) {
    std::cerr << "signet: not consistent: " << why << "\n";
    return exit_code(ErrorKind::verification_failed);
  }
  if (o.json) std::cout << proof.dump(2) << "\n";
  else if (!ctx.global.quiet)
    std::cout << "consistent: the newer log extends the older one's "
              << proof["old_entries"].get<std::uint64_t>() << " entries (RFC 9162 proof of "
              << proof["proof"].size() << " hashes from the tree of its last checkpoint, of "
              << proof["old_size"].get<std::uint64_t>() << " entries, to the newer one's, of "
              << proof["new_size"].get<std::uint64_t>()
              << "; the entries after the older tree compared one by one)\n";
  return 0;
}

}  // namespace

void add_audit_commands(CLI::App& app, Context& ctx) {
  add_command(app, ctx, "audit", "verify, read, export and prove the audit log", [&ctx](CLI::App& audit) {
    audit.require_subcommand(1);
    auto o = std::make_shared<AuditOptions>();
    auto set = [&ctx, o](CLI::App* cmd, int (*fn)(const Context&, const AuditOptions&)) {
      cmd->callback([&ctx, o, fn] { ctx.action = [&ctx, o, fn] { return fn(ctx, *o); }; });
    };

    add_command(
        audit, ctx, "verify", "recompute the hash chain, Merkle roots and checkpoint signatures",
        [&](CLI::App& v) {
          v.add_option("--db", o->db, "the database (read-only; default: the configured one)");
          v.add_option("--pubkey", o->pubkeys, "PEM of a key trusted to sign checkpoints (repeatable)");
          v.add_option("--export", o->export_file, "verify a JSONL export instead of a database");
          v.add_option("--checkpoint", o->checkpoints, "a checkpoint seen outside the log (repeatable)");
          v.add_flag("--json", o->json, "print the result as JSON");
          set(&v, verify);
        });

    add_command(audit, ctx, "log", "list entries, filtered", [&](CLI::App& l) {
      l.add_option("--db", o->db, "the database");
      l.add_option("--order", o->filter.order, "order id");
      l.add_option("--license", o->filter.license, "license id");
      l.add_option("--customer", o->filter.customer, "customer id, name, company or email");
      l.add_option("--kind", o->filter.kind, "issued, revoked, checkpoint, key_generated, ...");
      l.add_option("--channel", o->filter.channel, "direct, reseller, government");
      l.add_option("--reseller", o->filter.reseller, "reseller id or name");
      l.add_option("--since", o->filter.since, "RFC 3339 date or time (inclusive)");
      l.add_option("--until", o->filter.until, "RFC 3339 date or time (inclusive)");
      l.add_flag("--json", o->json, "print JSON");
      set(&l, log);
    });

    add_command(audit, ctx, "export", "write every entry with its hashes", [&](CLI::App& e) {
      e.add_option("--db", o->db, "the database");
      e.add_option("--format", o->format, "jsonl or csv")->check(CLI::IsMember({"jsonl", "csv"}));
      e.add_option("--out", o->out, "output file")->required();
      set(&e, export_log);
    });

    add_command(audit, ctx, "checkpoint", "append a checkpoint signed in the HSM", [&](CLI::App& c) {
      c.add_option("--out", o->out, "also write the checkpoint to this file (to keep outside the appliance)");
      set(&c, checkpoint);
    });

    add_command(audit, ctx, "prove", "print an RFC 9162 inclusion proof of an entry", [&](CLI::App& p) {
      p.add_option("--db", o->db, "the database");
      p.add_option("--seq", o->seq, "the entry")->required()->check(CLI::PositiveNumber);
      p.add_option("--out", o->out, "write the proof to this file");
      set(&p, prove);
    });

    add_command(audit, ctx, "verify-proof", "check an inclusion proof", [&](CLI::App& vp) {
      vp.add_option("PROOF", o->proof, "proof file")->required();
      // Without a trusted key, anyone can make a proof that holds (a one-entry
      // tree is its own root): the checkpoint's signature is what it proves.
      vp.add_option("--pubkey", o->pubkeys, "PEM of a key trusted to sign checkpoints (repeatable)")->required();
      set(&vp, verify_proof);
    });

    add_command(
        audit, ctx, "consistency", "prove that a newer export extends an older one", [&](CLI::App& cs) {
          cs.add_option("OLD_EXPORT", o->old_export, "the older JSONL export")->required();
          cs.add_option("NEW_EXPORT", o->new_export, "the newer JSONL export")->required();
          // As for verify-proof: without a trusted key, an extension made up
          // with a key of its own (announced in the newer export) proves nothing.
          cs.add_option("--pubkey", o->pubkeys, "PEM of a key trusted to sign checkpoints (repeatable)")
              ->required();
          cs.add_flag("--json", o->json, "print the proof as JSON");
          set(&cs, consistency);
        });

    add_revocation_export(&audit, ctx);
    add_report_command(&audit, ctx);
  });
}

}  // namespace signet::cli
