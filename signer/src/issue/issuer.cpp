#include "signet/signer/issue.hpp"

#include "issue/output.hpp"

#include "signet/core/crypto.hpp"
#include "signet/core/openssl.hpp"
#include "issue/progress.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <future>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace signet {

namespace {

// The summary lists at most this many licenses (the files and the log have them all),
// so that a batch of any size runs in bounded memory.
constexpr std::size_t kMaxListedLicenses = 10'000;

// What the log says about the license an order supersedes.
struct Superseded {
  audit::Entry entry;
  Json payload;   // the record's payload and manifest, from one parse of the
  Json manifest;  // record (a few KB each; an order may be checked twice)
};

std::string prod_file(const std::string& order_id) { return order_id + ".license"; }
std::string nonprod_file(const std::string& order_id, std::int64_t n) {
  return order_id + ".nonprod-" + std::to_string(n) + ".license";
}

class Validator {
 public:
  Validator(IssueContext& ctx, TimePoint now) : m_ctx(ctx), m_now(now) {}

  // Checks an order against the log and the batch so far. Returns the problems
  // (empty when it can be issued or was already issued; *already says which).
  // Whether an order id appeared twice, or two orders follow up one license:
  // then neither may be signed, since either may be the one meant
  // (--skip-invalid would sign the first).
  [[nodiscard]] bool ambiguous() const noexcept { return m_ambiguous; }

  // An order refused before it reached check() (a bad field) still takes its
  // id: a copy of it elsewhere in the batch is as ambiguous as two good ones.
  // Returns the problem to add when this id was seen at another source.
  std::optional<ManifestProblem> note_refused(const ManifestProblem& p) {
    if (!p.order_id) return std::nullopt;
    const auto [it, inserted] = m_seen.emplace(*p.order_id, p.source);
    if (inserted || it->second == p.source) return std::nullopt;  // one order, several problems
    m_ambiguous = true;
    if (!m_twice_noted.insert(p.source).second) return std::nullopt;  // said once per copy, not per problem
    return ManifestProblem{p.source, p.order_id, "/order_id", twice_rule(it->second)};
  }

  std::vector<ManifestProblem> check(const Order& o, bool& already, std::optional<Superseded>* superseded_out) {
    std::vector<ManifestProblem> problems;
    auto problem = [&](const std::string& pointer, const std::string& rule) {
      problems.push_back({o.source, o.order_id, pointer, rule});
    };
    already = false;
    if (const auto [it, inserted] = m_seen.emplace(o.order_id, o.source); !inserted) {
      problem("/order_id", twice_rule(it->second));
      m_ambiguous = true;
      return problems;
    }
    const auto issued = m_ctx.log.issued_for_order(o.order_id);
    if (!issued.empty()) {
      const Json record = Json::parse(issued.front().record);
      if (canonical_json(record.at("manifest")) != o.manifest) {
        problem("/order_id", "order already issued (audit seq " + std::to_string(issued.front().seq) +
                                 ") with different terms; a changed order needs a new order id");
      } else {
        already = true;
      }
      return problems;
    }
    if (!o.supersedes) return problems;
    const auto sup = resolve(*o.supersedes);
    if (!sup) {
      problem("/supersedes", "no issued license " + *o.supersedes + " in the audit log");
      return problems;
    }
    const auto& lid = *sup->entry.license_id;
    const auto& p = sup->payload;
    if (m_ctx.log.is_revoked(lid)) problem("/supersedes", "license " + lid + " is revoked");
    if (p.value("non_production", false)) problem("/supersedes", "license " + lid + " is a non-production license; supersede the production one");
    if (p.at("customer").at("id") != o.customer.id)
      problem("/customer/id", "must be the superseded license's customer (" + p.at("customer").at("id").get<std::string>() + ")");
    const auto sup_starts = from_unix_ms(p.at("starts_at").get<std::int64_t>());
    const auto sup_expires = from_unix_ms(p.at("expires_at").get<std::int64_t>());
    const auto grace = std::chrono::days(m_ctx.read.policy.grace_days);
    if (o.kind == OrderKind::true_forward && m_now > sup_expires)
      problem("/supersedes", "a true_forward adds seats to a live license; license " + lid + " expired on " +
                                 format_rfc3339(sup_expires) + " (a renewal continues an expired license)");
    else if (m_now > sup_expires + grace)
      problem("/supersedes", "license " + lid + " expired on " + format_rfc3339(sup_expires) + ", past its " +
                                 std::to_string(m_ctx.read.policy.grace_days) + "-day grace period");
    if (const auto first = m_superseding.emplace(lid, o.source); !first.second) {
      // Two orders of one batch follow up one license: only one can, and which
      // one was sold cannot be told from line order (as for an order id twice).
      problem("/supersedes", "license " + lid + " is superseded by another order of this batch too (at " +
                                 first.first->second + "); which one is meant cannot be told, so the batch is "
                                 "refused even with --skip-invalid");
      m_ambiguous = true;
    } else if (m_ctx.log.is_superseded(lid)) {
      problem("/supersedes", "license " + lid + " has already been superseded by another order");
    }
    switch (o.kind) {
      case OrderKind::renewal:
        if (o.starts_at != sup_expires)
          problem("/starts_at", "a renewal starts where the superseded license ends: " + format_rfc3339(sup_expires));
        break;
      case OrderKind::true_forward: {
        if (o.expires_at != sup_expires)
          problem("/expires_at", "a true_forward keeps the superseded license's expiry: " + format_rfc3339(sup_expires));
        if (o.starts_at < sup_starts || o.starts_at >= sup_expires)
          problem("/starts_at", "a true_forward starts within the superseded license's term");
        if (o.sku != p.at("sku_short_name")) problem("/sku", "a true_forward keeps the superseded license's sku");
        const auto total = p.at("features").at("users").get<std::int64_t>() + o.seats;
        if (total > m_ctx.read.policy.max_seats)
          problem("/seats", "old seats + added seats = " + std::to_string(total) + " exceeds policy max_seats");
        kept_terms(o, *sup, "a true_forward", problem, false);
        if (const auto was = p.contains("deployment_id") ? p.at("deployment_id").get<std::string>() : std::string();
            o.deployment_id.value_or("") != was)
          problem("/deployment_id", was.empty() ? "a true_forward adds seats to the same deployment: the superseded "
                                                  "license names none"
                                                : "a true_forward adds seats to the same deployment: " + was);
        break;
      }
      case OrderKind::reissue: {
        if (o.sku != p.at("sku_short_name")) problem("/sku", "a reissue keeps the superseded license's terms: sku");
        if (o.seats != p.at("features").at("users").get<std::int64_t>())
          problem("/seats", "a reissue keeps the superseded license's terms: seats " +
                                std::to_string(p.at("features").at("users").get<std::int64_t>()));
        if (o.starts_at != sup_starts) problem("/starts_at", "a reissue keeps the superseded license's start: " + format_rfc3339(sup_starts));
        if (o.expires_at != sup_expires) problem("/expires_at", "a reissue keeps the superseded license's expiry: " + format_rfc3339(sup_expires));
        kept_terms(o, *sup, "a reissue", problem, true);
        reissue_terms(o, *sup, problem);
        break;
      }
      case OrderKind::new_order: break;
    }
    if (superseded_out != nullptr) *superseded_out = sup;
    return problems;
  }

 private:
  // A reissue and a true_forward keep what the license they replace is (the
  // checks above keep sku, seats and dates; a true_forward only adds seats):
  // trial or not, government or not. A reissue also keeps what was sold with
  // it: Premier Support, its non-production licenses, and the flags (copied; a
  // manifest may repeat them, not change them). A true_forward keeps them too
  // but may extend them at the true-up (an add-on flag turned on, Premier
  // Support, more non-production licenses); its flags are copied from the old
  // license, plus those its manifest turns on.
  template <typename Problem>
  static void kept_terms(const Order& o, const Superseded& sup, const std::string& kind, Problem& problem,
                         bool with_add_ons) {
    const auto& p = sup.payload;
    const auto yes_no = [](bool b) { return std::string(b ? "true" : "false"); };
    const bool trial = p.value("is_trial", false);
    if (o.trial != trial) problem("/trial", kind + " keeps the superseded license's terms: trial " + yes_no(trial));
    const bool government = p.value("is_gov_sku", false);
    if (o.government != government)
      problem("/government", kind + " keeps the superseded license's terms: government " + yes_no(government));
    const Json& manifest = sup.manifest;
    const bool premier = manifest.value("premier_support", false);
    const auto non_production = manifest.value("non_production_deployments", std::int64_t{0});
    const auto& flags = p.at("features");
    if (!with_add_ons) {
      // A true_forward may add an add-on, never drop one: the license it makes
      // replaces the old one for the rest of the term.
      if (premier && !o.premier_support)
        problem("/premier_support", kind + " keeps the superseded license's add-ons: premier_support true (an add-on "
                                           "may be added at the true-up, not removed)");
      if (o.non_production_deployments < non_production)
        problem("/non_production_deployments", kind + " keeps the superseded license's add-ons: "
                                                      "non_production_deployments at least " +
                                                   std::to_string(non_production));
      for (const auto& [name, on] : o.features)
        if (!on && flags.value(name, false))
          problem("/features/" + name, kind + " keeps the superseded license's flags: " + name +
                                           " true (a flag may be added at the true-up, not removed)");
      return;
    }
    if (o.premier_support != premier)
      problem("/premier_support", kind + " keeps the superseded license's terms: premier_support " + yes_no(premier));
    if (o.non_production_deployments != non_production)
      problem("/non_production_deployments", kind + " keeps the superseded license's terms: non_production_deployments " +
                                                 std::to_string(non_production));
    for (const auto& [name, on] : o.features) {
      const bool was = flags.value(name, false);
      if (on != was) problem("/features/" + name, kind + " copies the superseded license's flags: " + name + " " + yes_no(was));
    }
  }

  // A reissue also keeps the channel. The deployment may change (a rebuilt
  // server), but a license for one deployment does not become a license for any.
  template <typename Problem>
  static void reissue_terms(const Order& o, const Superseded& sup, Problem& problem) {
    const auto& p = sup.payload;
    // The order's channel is in its manifest (licenses signed before 2026-12-03
    // carried it in the payload too).
    const auto channel = sup.manifest.is_object() && sup.manifest.contains("channel")
                             ? sup.manifest.value("channel", std::string())
                             : p.value("channel", std::string());
    if (o.channel != channel) problem("/channel", "a reissue keeps the superseded license's terms: channel " + channel);
    if (p.contains("deployment_id") && !o.deployment_id)
      problem("/deployment_id", "the superseded license is for deployment " + p.at("deployment_id").get<std::string>() +
                                    ": a reissue names the deployment it is for (the same or a new one)");
  }

  std::optional<Superseded> resolve(const std::string& ref) {
    std::optional<audit::Entry> entry;
    Json record;
    if (ref.starts_with("order:")) {
      for (auto& e : m_ctx.log.issued_for_order(ref.substr(6))) {
        Json r = Json::parse(e.record);
        if (r.value("non_production", 0) == 0) {
          entry = std::move(e);
          record = std::move(r);
        }
      }
    } else {
      entry = m_ctx.log.issued_license(ref);
      if (entry) record = Json::parse(entry->record);
    }
    if (!entry) return std::nullopt;
    Json payload = std::move(record.at("payload"));
    Json manifest = record.contains("manifest") ? std::move(record.at("manifest")) : Json();
    return Superseded{std::move(*entry), std::move(payload), std::move(manifest)};
  }

  IssueContext& m_ctx;
  TimePoint m_now;
  static std::string twice_rule(const std::string& first) {
    return "order id appears twice in the batch (first at " + first +
           "); which one is meant cannot be told, so the batch is refused even with --skip-invalid";
  }

  std::unordered_map<std::string, std::string> m_seen;  // order id -> source
  bool m_ambiguous = false;  // an order id twice in the batch, or two orders following up one license
  std::unordered_set<std::string> m_twice_noted;         // refused copies already said to be a second copy
  std::unordered_map<std::string, std::string> m_superseding;  // license id -> the order superseding it
};

// The file of an already issued license, from its `issued` entry, checked
// before anything is written: the entry's own hash holds, the file name is the
// one Signet gives that license of that order (never a path from the log), and
// the license is one the HSM signed for this entry's license id and the
// order's customer. A log edited outside Signet therefore cannot make a rerun
// write anything else, anywhere else.
issue::OutputFile reemitted_file(const Order& o, const audit::Entry& e, const IssueContext& ctx) {
  const auto refuse = [&](const std::string& why) {
    return Error(ErrorKind::bad_data, "audit log entry " + std::to_string(e.seq) + " (order " + o.order_id +
                                          "): " + why + "; nothing was re-emitted (run signet audit verify)");
  };
  if (audit::entry_hash(e.prev_hash, audit::entry_encoding(e)) != e.hash) throw refuse("its hash does not hold");
  std::string why;
  const auto r = parse_strict_json(e.record, why);
  if (!r || !r->is_object()) throw refuse("its record is not a JSON object");
  const auto np = r->contains("non_production") ? json_int((*r)["non_production"]) : std::optional<std::int64_t>(0);
  if (!np || *np < 0 || *np > 4) throw refuse("non_production is not 0 to 4");
  const auto file = *np == 0 ? prod_file(o.order_id) : nonprod_file(o.order_id, *np);
  if (!r->contains("file") || (*r)["file"] != file)
    throw refuse("its file name is not " + file + ", the name Signet gives this license");
  if (!r->contains("license") || !(*r)["license"].is_string()) throw refuse("it holds no license");
  auto content = (*r)["license"].get<std::string>();
  const auto key = e.key_id && ctx.token_public_key ? ctx.token_public_key(*e.key_id) : std::nullopt;
  if (!key || key->key_id() != *e.key_id) throw refuse("it names no key the HSM holds");
  try {
    const auto d = decode_license(content);
    if (!verify_license(d, *key)) throw refuse("its license does not verify with key " + *e.key_id);
    if (!e.license_id || d.payload_json.value("id", std::string()) != *e.license_id)
      throw refuse("its license is not license " + e.license_id.value_or("?"));
    const auto& customer = d.payload_json.value("customer", Json::object());
    if (!customer.is_object() || customer.value("id", std::string()) != o.customer.id)
      throw refuse("its license is not for customer " + o.customer.id);
  } catch (const LicenseError& ex) {
    throw refuse(std::string("its license is malformed: ") + ex.what());
  }
  return {file, std::move(content)};
}

// One license to sign: its terms, then what signing made of them.
struct Job {
  const Order* order = nullptr;
  std::int64_t non_production = 0;  // 0 = the production license
  std::optional<std::string> supersedes_license;
  Terms terms;
  std::string file;
  SignedLicense signed_license;
  std::string record;  // the `issued` entry's record, canonical JSON
  std::exception_ptr error;
};

// A chunk of orders on its way through signing, the log and the output folder.
struct Chunk {
  std::vector<Order> orders;  // owns what the jobs point at
  std::vector<Job> jobs;
  std::vector<issue::OutputFile> outputs;  // re-emitted files of orders already issued
  std::size_t orders_read = 0;
};

// The record of an `issued` entry, assembled as canonical JSON from canonical
// parts (keys in sorted order): the payload text is the exact signed bytes and
// the manifest text is the order's canonical manifest.
std::string issued_record(const Job& j, Encoding encoding) {
  const auto& l = j.signed_license;
  std::string record;
  record.reserve(l.payload.size() + l.encoded.size() + j.order->manifest.size() + 512);
  record += "{\"encoding\":";
  append_json_string(record, to_string(encoding));
  record += ",\"file\":";
  append_json_string(record, j.file);
  record += ",\"license\":";
  append_json_string(record, l.encoded);
  record += ",\"manifest\":";
  record += j.order->manifest;
  record += ",\"non_production\":";
  record += std::to_string(j.non_production);
  record += ",\"payload\":";
  record += l.payload;
  if (l.resigned > 0) record += ",\"resigned\":" + std::to_string(l.resigned);
  record += ",\"source\":";
  append_json_string(record, j.order->source);
  record += ",\"supersedes_license\":";
  if (j.supersedes_license) append_json_string(record, *j.supersedes_license);
  else record += "null";
  record += "}";
  return record;
}

Terms terms_for(const Order& o, const std::optional<Superseded>& sup, TimePoint now) {
  Terms t;
  t.license_id = new_license_id();
  t.issued_at = now;
  t.starts_at = o.starts_at;
  t.expires_at = o.expires_at;
  t.customer = o.customer;
  t.sku = o.sku;
  t.users = o.seats;
  if (o.kind == OrderKind::true_forward && sup) t.users = sup->payload.at("features").at("users").get<std::int64_t>() + o.seats;
  t.features = sku_features(o.sku);
  for (const auto& [name, on] : o.features) t.features[name] = on;
  if ((o.kind == OrderKind::reissue || o.kind == OrderKind::true_forward) && sup) {
    // Same flags as the license it replaces, flag for flag; a true_forward
    // adds those its manifest turns on (the validator refused any turned off).
    for (const auto& name : feature_names()) t.features[name] = sup->payload.at("features").value(name, false);
    if (o.kind == OrderKind::true_forward)
      for (const auto& [name, on] : o.features) t.features[name] = t.features[name] || on;
  }
  t.trial = o.trial;
  t.government = o.government;
  t.deployment_id = o.deployment_id;
  return t;
}

// Signs every job of a chunk on `threads` threads (one token session and one
// OpenSSL library context each) and builds each job's record there too;
// rethrows the first failure, naming its order.
void sign_all(std::vector<Job>& jobs, Encoding encoding, keystore::SigningKey& key, unsigned threads) {
  std::atomic<std::size_t> next{0};
  auto work = [&](std::size_t slot) {
    // The token works in an OpenSSL context of this thread's own (core/openssl.hpp).
    const openssl::ThreadContextScope own_context(slot);
    for (std::size_t i = next++; i < jobs.size(); i = next++) {
      auto& j = jobs[i];
      try {
        j.signed_license = sign_license(std::move(j.terms), encoding, key);
        j.record = issued_record(j, encoding);
        std::string().swap(j.signed_license.payload);  // the record holds it now; the chunk stays small
      } catch (...) {
        j.error = std::current_exception();
      }
    }
  };
  const auto n = std::min<std::size_t>(threads, jobs.size());
  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < n; ++t) pool.emplace_back(work, t);
    work(0);
  }
  for (auto& j : jobs) {
    if (j.error) {
      try {
        std::rethrow_exception(j.error);
      } catch (const Error& e) {
        throw Error(e.kind(), "signing order " + j.order->order_id + ": " + e.what());
      }
    }
  }
}

// The size of the next chunk of a batch whose length is known, when `left`
// orders remain. The last chunk's commit and file writes run after the last
// signature, with the token idle; so once fewer than two full chunks are left,
// each chunk takes half of what is left, and the last one takes the rest when
// that is under 2 * kMinTaperedChunk orders (at 500 per chunk: 500, 250, 125, 125).
constexpr std::size_t kMinTaperedChunk = 64;
std::size_t tapered_chunk(std::size_t chunk, std::size_t left) {
  if (chunk <= kMinTaperedChunk || left >= 2 * chunk) return chunk;
  const std::size_t half = (left + 1) / 2;
  return std::min(chunk, half < kMinTaperedChunk ? left : half);
}

// An order as validated: where it came from and its canonical manifest.
Sha256Digest order_digest(const Order& o) {
  Sha256 h;
  h.update(o.source).update(std::string_view("\n", 1)).update(o.manifest);
  return h.finish();
}

// An estimate of the memory an order held for the second pass takes.
std::size_t footprint(const Order& o) {
  return sizeof(Order) + o.manifest.capacity() + o.source.capacity() + o.customer.email.capacity() +
         o.customer.name.capacity() + o.customer.company.capacity() + 64 * o.features.size() + 64;
}

}  // namespace

IssueSummary issue_batch(IssueContext& ctx, const IssueRequest& req) {
  IssueSummary summary;
  summary.out_dir = req.out_dir;
  summary.refused = req.refused_inputs;
  const auto files = manifest_files(req.inputs);
  const unsigned threads = req.threads != 0 ? req.threads : std::max(1U, std::thread::hardware_concurrency());
  ReadOptions read = ctx.read;
  read.threads = threads;

  // Pass 1: validate everything; nothing is signed from a batch with a refused order.
  // The valid orders are kept for pass 2 while they fit in req.keep_bytes, so
  // that a batch of any size runs in bounded memory.
  std::set<std::string> refused_sources;
  std::size_t valid = 0;
  bool ambiguous = false;
  std::vector<Order> kept;
  // Kept orders that pass 1 found new and superseding nothing: pass 2 signs them
  // without asking the log again (the commit's precheck still catches an order
  // another signet issued meanwhile).
  std::vector<bool> kept_plain;
  bool keep = !req.dry_run;
  std::size_t kept_bytes = 0;
  // What each valid order was, for a batch read a second time: pass 2 must see
  // exactly the orders pass 1 validated (a file changed in between is refused).
  std::vector<Sha256Digest> validated;
  // On a file system that ignores letter case (a FAT or exFAT stick), two
  // orders whose ids differ only in case would write one file, and the second
  // license would replace the first; so would an order whose file the folder
  // holds under another case from an earlier batch. Such orders are refused
  // here, before anything is signed (and the writer never replaces such a file).
  const bool folds = issue::folds_case(req.out_dir);
  std::unordered_map<std::string, std::pair<std::string, std::string>> folded;  // lower-case id -> id, source
  const auto case_problems = [&](const Order& o, std::vector<ManifestProblem>& problems) {
    if (!folds) return;
    const auto [it, inserted] = folded.try_emplace(issue::folded_name(o.order_id), o.order_id, o.source);
    if (!inserted && it->second.first != o.order_id) {
      problems.push_back({o.source, o.order_id, "/order_id",
                          "its license file would be the same file as order " + it->second.first + "'s (" +
                              it->second.second + "): the output folder's file system ignores letter case; sign "
                              "one of them into another folder"});
    } else if (const auto other = issue::differently_cased_entry(req.out_dir, prod_file(o.order_id))) {
      problems.push_back({o.source, o.order_id, "/order_id",
                          "the output folder already holds " + *other + ", another order's license file under the "
                          "same name on this file system (it ignores letter case); sign into another folder"});
    }
  };
  {
    // One read transaction for the whole pass: every order is checked against
    // the same snapshot of the log, without a lock taken and released per lookup.
    Transaction snapshot(ctx.db, Transaction::Kind::deferred);
    Validator validator(ctx, now_utc());
    read_orders(
        files, read,
        [&](Order&& o) {
          bool already = false;
          auto problems = validator.check(o, already, nullptr);
          if (problems.empty()) case_problems(o, problems);
          if (!problems.empty()) {
            refused_sources.insert(o.source);
            for (auto& p : problems) summary.refused.push_back(std::move(p));
            return;
          }
          ++valid;
          if (!already) ++summary.would_issue;
          else if (req.dry_run) ++summary.orders_already;  // a real run counts them as it re-emits them
          if (req.dry_run) return;
          if (keep) {
            kept_bytes += footprint(o);
            if (kept_bytes <= req.keep_bytes) {
              kept_plain.push_back(!already && !o.supersedes);
              kept.push_back(std::move(o));
              return;
            }
            // Too large to keep: pass 2 reads the batch again, and the digests
            // of the orders validated so far say what it must find.
            keep = false;
            validated.reserve(kept.size() + 1);
            for (const auto& k : kept) validated.push_back(order_digest(k));
            std::vector<Order>().swap(kept);
            std::vector<bool>().swap(kept_plain);
          }
          validated.push_back(order_digest(o));
        },
        [&](ManifestProblem&& p) {
          refused_sources.insert(p.source);
          auto twice = validator.note_refused(p);
          summary.refused.push_back(std::move(p));
          if (twice) summary.refused.push_back(std::move(*twice));
        });
    snapshot.commit();
    ambiguous = validator.ambiguous();
  }
  // With --skip-invalid, a batch whose every order was refused signs nothing
  // either, nor one the validator found ambiguous (an order id twice, two
  // orders following up one license): it is refused as a whole, as a real run
  // and a dry run alike.
  if (!summary.refused.empty() && (!req.skip_invalid || valid == 0 || ambiguous)) throw ManifestError(summary.refused);
  if (valid == 0) {
    std::string named;  // the files, so that the officer sees which one is empty
    for (std::size_t i = 0; i < files.size() && i < 3; ++i) named += (i > 0 ? ", " : "") + files[i].string();
    if (files.size() > 3) named += " and " + std::to_string(files.size() - 3) + " more";
    throw Error(ErrorKind::no_input, "no orders in the batch: its manifest file" + std::string(files.size() == 1 ? "" : "s") +
                                         " (" + named + ") hold" + (files.size() == 1 ? "s" : "") +
                                         " none (an empty .jsonl?); nothing was signed");
  }
  // A log whose head does not hold, and a clock behind the log, are refused
  // before the token signs anything (each commit checks both again); a batch
  // that only re-emits appends nothing.
  if (summary.would_issue > 0) ctx.log.check_clock(now_utc(), ctx.append.trust);
  if (req.dry_run) return summary;

  issue::OutputFolder out(req.out_dir);
  issue::Progress progress("signing", valid, req.progress);
  std::size_t done = 0;

  auto remember = [&](IssuedLicense l) {
    if (summary.licenses.size() < kMaxListedLicenses) summary.licenses.push_back(std::move(l));
    else summary.licenses_truncated = true;
  };

  // Pass 2, in chunks: the main thread checks chunk k+1 against the log while
  // chunk k is signed (one session per thread) and chunk k-1 is committed and
  // written. Chunks commit in order; each chunk's files are written only after
  // its own commit.
  // Check an order again against the log (another signet may have changed it
  // since pass 1) and turn it into jobs, or into re-emitted files.
  std::size_t chunks_prepared = 0;
  auto prepare = [&](std::vector<Order> orders, const std::vector<bool>& plain) {
    Chunk c;
    c.orders = std::move(orders);
    c.orders_read = c.orders.size();
    const auto now = now_utc();
    Transaction snapshot(ctx.db, Transaction::Kind::deferred);  // one snapshot per chunk (see pass 1)
    Validator validator(ctx, now);
    for (std::size_t i = 0; i < c.orders.size(); ++i) {
      const auto& o = c.orders[i];
      bool already = false;
      std::optional<Superseded> sup;
      if (i >= plain.size() || !plain[i]) {
        auto problems = validator.check(o, already, &sup);
        if (!problems.empty()) {
          // The log changed since pass 1 (another signet issued, superseded or
          // revoked meanwhile). Earlier chunks may be committed by now, so this
          // is not the whole-batch refusal of pass 1.
          std::string what;
          for (const auto& p : problems) what += (what.empty() ? "" : "; ") + p.text();
          throw Error(ErrorKind::bad_data,
                      "the audit log changed while this batch was signed (another signet process): " + what +
                          (chunks_prepared == 0 ? std::string("; nothing was signed")
                                                : std::string("; the orders before it may be issued and logged "
                                                              "already (signet audit log shows them): run the same "
                                                              "command again, which re-emits them and refuses this "
                                                              "order for the reason above")));
        }
      }
      if (already) {
        for (const auto& e : ctx.log.issued_for_order(o.order_id)) {
          auto file = reemitted_file(o, e, ctx);
          remember({o.order_id, *e.license_id, file.name, true, file.name != prod_file(o.order_id)});
          c.outputs.push_back(std::move(file));
        }
        ++summary.orders_already;
        continue;
      }
      // A follow-up's non-production license k supersedes license k of the
      // superseded order, where it has one: the log then shows which
      // non-production licenses the follow-up replaced (a Premier order's four
      // are replaced, not joined by four more).
      std::map<std::int64_t, std::string> replaced;
      if (sup && o.non_production_deployments > 0 && sup->entry.order_id) {
        for (const auto& e : ctx.log.issued_for_order(*sup->entry.order_id)) {
          const auto r = Json::parse(e.record, nullptr, false);
          const auto np = r.is_object() && r.contains("non_production") ? json_int(r["non_production"]) : std::nullopt;
          if (np && *np > 0 && e.license_id) replaced[*np] = *e.license_id;
        }
      }
      for (std::int64_t np = 0; np <= o.non_production_deployments; ++np) {
        Job job;
        job.order = &o;
        job.non_production = np;
        if (sup) job.supersedes_license = sup->entry.license_id;
        if (const auto it = replaced.find(np); np > 0 && it != replaced.end()) job.supersedes_license = it->second;
        job.terms = terms_for(o, sup, now);
        job.terms.non_production = np > 0;
        job.file = np == 0 ? prod_file(o.order_id) : nonprod_file(o.order_id, np);
        c.jobs.push_back(std::move(job));
      }
      ++summary.orders_issued;
    }
    snapshot.commit();
    ++chunks_prepared;
    return c;
  };

  // Appends go through a connection of their own, so that the next chunk's
  // reads on ctx.db can run while a commit is in flight.
  auto commit_db = Database::open(ctx.db.path(), Database::Mode::read_write);
  audit::Log commit_log(commit_db);
  auto commit = [&](Chunk c) {
    std::vector<audit::NewEntry> entries;
    entries.reserve(c.jobs.size());
    std::vector<std::string> ids;          // production orders
    std::vector<std::string> superseding;  // the licenses their orders supersede
    for (auto& j : c.jobs) {
      if (j.non_production == 0) {
        ids.push_back(j.order->order_id);
        if (j.supersedes_license) superseding.push_back(*j.supersedes_license);
      }
      c.outputs.push_back({j.file, std::move(j.signed_license.encoded)});
      entries.push_back({.kind = "issued", .order_id = j.order->order_id, .license_id = j.signed_license.license_id,
                         .key_id = ctx.key.key_id(), .record = Json(), .record_text = std::move(j.record)});
    }
    if (!entries.empty()) {
      auto options = ctx.append;
      options.checkpoint_key = &ctx.checkpoint_key;
      options.precheck = [&](Database& db) {
        // Another signet may have changed the log since these orders were
        // checked: the rules that depend on it are checked again here, inside
        // the write transaction, where nobody else can change it.
        const auto meanwhile = [](const std::string& what) {
          return audit::AuditError(ErrorKind::busy, what + " by another signet process meanwhile; nothing of this "
                                                           "chunk was logged: run the same command again");
        };
        {
          auto st = db.prepare("SELECT 1 FROM entries WHERE kind = 'key_retired' AND key_id = ? LIMIT 1");
          st.bind(1, ctx.key.key_id());
          if (st.step()) throw meanwhile("key " + ctx.key.key_id() + " was retired");
        }
        auto issued = db.prepare("SELECT 1 FROM entries WHERE +kind = 'issued' AND order_id = ? LIMIT 1");
        for (const auto& id : ids) {
          issued.reset();
          issued.bind(1, id);
          if (issued.step()) throw meanwhile("order " + id + " was issued");
        }
        auto revoked = db.prepare(std::string(audit::kRevokedQuery));
        for (const auto& lid : superseding) {
          revoked.reset();
          revoked.bind(1, lid);
          if (revoked.step()) throw meanwhile("license " + lid + " was revoked");
          if (audit::superseded_by_any(db, lid)) throw meanwhile("license " + lid + " was superseded");
        }
      };
      const auto appended = commit_log.append(std::move(entries), options);
      summary.last_checkpoint_seq = appended.back().seq;
      summary.licenses_issued += c.jobs.size();
    }
    try {
      out.write_all(c.outputs);
    } catch (const Error& e) {
      throw Error(e.kind(), std::string(e.what()) +
                                (c.jobs.empty() ? std::string()
                                                : "; the licenses signed so far are committed in the audit log: "
                                                  "run the same command again (to a writable folder) to write them"));
    }
  };

  // Declared before the futures, so that the futures (which wait for their
  // work when destroyed) go first.
  std::optional<Chunk> signing_chunk;
  std::future<void> committing;
  std::future<void> signing;
  // Takes the chunk being signed, once signed, to the committer.
  auto hand_over = [&] {
    if (!signing.valid()) return;
    signing.get();
    Chunk c = std::move(*signing_chunk);
    signing_chunk.reset();
    for (const auto& j : c.jobs) {
      summary.resigned += static_cast<std::size_t>(j.signed_license.resigned);
      remember({j.order->order_id, j.signed_license.license_id, j.file, false, j.non_production > 0});
    }
    done += c.orders_read;
    if (committing.valid()) committing.get();
    committing = std::async(std::launch::async, commit, std::move(c));
    progress.update(done);
  };
  auto flush = [&](std::vector<Order> orders, const std::vector<bool>& plain) {
    if (orders.empty()) return;
    Chunk c = prepare(std::move(orders), plain);
    hand_over();
    signing_chunk = std::move(c);
    signing = std::async(std::launch::async, [&] { sign_all(signing_chunk->jobs, req.encoding, ctx.key, threads); });
  };

  std::vector<Order> chunk;
  std::vector<bool> chunk_plain;
  std::size_t chunk_target = req.chunk_size;
  const auto add = [&](Order&& o, bool plain) {
    chunk.push_back(std::move(o));
    chunk_plain.push_back(plain);
    if (chunk.size() >= chunk_target) flush(std::exchange(chunk, {}), std::exchange(chunk_plain, {}));
  };
  if (keep) {
    std::vector<Sha256Digest>().swap(validated);
    for (std::size_t i = 0; i < kept.size(); ++i) {
      if (chunk.empty()) chunk_target = tapered_chunk(req.chunk_size, kept.size() - i);
      add(std::move(kept[i]), kept_plain[i]);
    }
    std::vector<Order>().swap(kept);
  } else {
    std::size_t seen = 0;
    const auto changed = [&](const std::string& source) {
      return Error(ErrorKind::bad_data, source + ": changed since this run validated the batch; nothing more was "
                                                 "signed (the licenses before it are issued and logged)");
    };
    read_orders(
        files, read,
        [&](Order&& o) {
          if (refused_sources.contains(o.source)) return;
          if (seen >= validated.size() || validated[seen] != order_digest(o)) throw changed(o.source);
          ++seen;
          add(std::move(o), false);
        },
        [&](ManifestProblem&& p) {
          if (!refused_sources.contains(p.source)) throw changed(p.source);
        });
    if (seen != validated.size()) throw changed(files.empty() ? std::string("the batch") : files.back().string());
  }
  flush(std::exchange(chunk, {}), std::exchange(chunk_plain, {}));
  hand_over();
  if (committing.valid()) committing.get();
  progress.finish();
  return summary;
}

}  // namespace signet
