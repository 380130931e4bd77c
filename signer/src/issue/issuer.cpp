#include "signet/signer/issue.hpp"

#include "issue/output.hpp"
#include "issue/progress.hpp"

#include <atomic>
#include <future>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace signet {

namespace {

// The summary lists at most this many licenses (the files and the log have them all),
// so that a batch of any size runs in bounded memory.
constexpr std::size_t kMaxListedLicenses = 10'000;

// What the log says about the license an order supersedes.
struct Superseded {
  audit::Entry entry;
  Json payload;
};

std::string prod_file(const std::string& order_id) { return order_id + ".license"; }
std::string nonprod_file(const std::string& order_id, std::int64_t n) {
  return order_id + ".nonprod-" + std::to_string(n) + ".license";
}

bool superseded_already(Database& db, const std::string& license_id) {
  auto st = db.prepare(
      "SELECT 1 FROM entries WHERE kind = 'issued' AND json_extract(record, '$.supersedes_license') = ? LIMIT 1");
  st.bind(1, license_id);
  return st.step();
}

class Validator {
 public:
  Validator(IssueContext& ctx, TimePoint now) : m_ctx(ctx), m_now(now) {}

  // Checks an order against the log and the batch so far. Returns the problems
  // (empty when it can be issued or was already issued; *already says which).
  std::vector<ManifestProblem> check(const Order& o, bool& already, std::optional<Superseded>* superseded_out) {
    std::vector<ManifestProblem> problems;
    auto problem = [&](const std::string& pointer, const std::string& rule) {
      problems.push_back({o.source, o.order_id, pointer, rule});
    };
    already = false;
    if (const auto [it, inserted] = m_seen.emplace(o.order_id, o.source); !inserted) {
      problem("/order_id", "order id appears twice in the batch (first at " + it->second + ")");
      return problems;
    }
    const auto issued = m_ctx.log.issued_for_order(o.order_id);
    if (!issued.empty()) {
      const Json record = Json::parse(issued.front().record);
      if (canonical_json(record.at("manifest")) != canonical_json(o.manifest)) {
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
    if (m_now > sup_expires + grace)
      problem("/supersedes", "license " + lid + " expired on " + format_rfc3339(sup_expires) + ", past its " +
                                 std::to_string(m_ctx.read.policy.grace_days) + "-day grace period");
    if (!m_superseding.insert(lid).second || superseded_already(m_ctx.db, lid))
      problem("/supersedes", "license " + lid + " has already been superseded by another order");
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
        break;
      }
      case OrderKind::reissue: {
        if (o.sku != p.at("sku_short_name")) problem("/sku", "a reissue keeps the superseded license's terms: sku");
        if (o.seats != p.at("features").at("users").get<std::int64_t>())
          problem("/seats", "a reissue keeps the superseded license's terms: seats " +
                                std::to_string(p.at("features").at("users").get<std::int64_t>()));
        if (o.starts_at != sup_starts) problem("/starts_at", "a reissue keeps the superseded license's start: " + format_rfc3339(sup_starts));
        if (o.expires_at != sup_expires) problem("/expires_at", "a reissue keeps the superseded license's expiry: " + format_rfc3339(sup_expires));
        break;
      }
      case OrderKind::new_order: break;
    }
    if (superseded_out != nullptr) *superseded_out = sup;
    return problems;
  }

 private:
  std::optional<Superseded> resolve(const std::string& ref) {
    std::optional<audit::Entry> entry;
    if (ref.starts_with("order:")) {
      for (auto& e : m_ctx.log.issued_for_order(ref.substr(6))) {
        const Json r = Json::parse(e.record);
        if (r.value("non_production", 0) == 0) entry = e;
      }
    } else {
      entry = m_ctx.log.issued_license(ref);
    }
    if (!entry) return std::nullopt;
    const Json r = Json::parse(entry->record);
    return Superseded{*entry, r.at("payload")};
  }

  IssueContext& m_ctx;
  TimePoint m_now;
  std::unordered_map<std::string, std::string> m_seen;  // order id -> source
  std::unordered_set<std::string> m_superseding;
};

// A signed chunk on its way to the log and the output folder.
struct Commit {
  std::vector<Order> orders;  // owns what the entries were built from
  std::vector<audit::NewEntry> entries;
  std::vector<issue::OutputFile> outputs;
  std::vector<std::string> ids;  // production orders, to re-check inside the transaction
  std::size_t licenses = 0;
};

struct Job {
  const Order* order = nullptr;
  std::int64_t non_production = 0;  // 0 = the production license
  std::optional<std::string> supersedes_license;
  Json payload;
  SignedLicense signed_license;
  std::string file;
  std::exception_ptr error;
};

// The manifest's canonical text, encoded once per order (an order may carry
// several licenses).
const std::string& manifest_text(const Order& o) {
  thread_local const Order* last = nullptr;
  thread_local std::string text;
  if (last != &o) {
    text = canonical_json(o.manifest);
    last = &o;
  }
  return text;
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
  if (o.kind == OrderKind::reissue && sup) {
    // Same terms as the license it replaces, flag for flag.
    for (const auto& name : feature_names()) t.features[name] = sup->payload.at("features").value(name, false);
  }
  t.trial = o.trial;
  t.government = o.government;
  t.channel = o.channel;
  t.deployment_id = o.deployment_id;
  return t;
}

void sign_all(std::vector<Job>& jobs, Encoding encoding, keystore::SigningKey& key, unsigned threads) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < jobs.size(); i = next++) {
      try {
        jobs[i].signed_license = sign_license(jobs[i].payload, encoding, key);
      } catch (...) {
        jobs[i].error = std::current_exception();
      }
    }
  };
  const auto n = std::min<std::size_t>(threads, jobs.size());
  std::vector<std::jthread> pool;
  for (std::size_t t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  pool.clear();
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

}  // namespace

IssueSummary issue_batch(IssueContext& ctx, const IssueRequest& req) {
  IssueSummary summary;
  summary.out_dir = req.out_dir;
  const auto files = manifest_files(req.inputs);

  // Pass 1: validate everything; nothing is signed from a batch with a refused order.
  std::set<std::string> refused_sources;
  std::size_t valid = 0;
  {
    Validator validator(ctx, now_utc());
    read_orders(
        files, ctx.read,
        [&](Order&& o) {
          bool already = false;
          auto problems = validator.check(o, already, nullptr);
          if (!problems.empty()) {
            refused_sources.insert(o.source);
            for (auto& p : problems) summary.refused.push_back(std::move(p));
            return;
          }
          ++valid;
          if (!already) ++summary.would_issue;
        },
        [&](ManifestProblem&& p) {
          refused_sources.insert(p.source);
          summary.refused.push_back(std::move(p));
        });
  }
  if (!summary.refused.empty() && !req.skip_invalid) throw ManifestError(summary.refused);
  if (req.dry_run) return summary;

  issue::OutputFolder out(req.out_dir);
  const unsigned threads = req.threads != 0 ? req.threads : std::max(1U, std::thread::hardware_concurrency());
  issue::Progress progress("signing", valid, req.progress);
  std::size_t done = 0;

  // Pass 2: issue in chunks; one transaction and one batch of durable writes each.
  std::vector<Order> chunk;
  auto remember = [&](IssuedLicense l) {
    if (summary.licenses.size() < kMaxListedLicenses) summary.licenses.push_back(std::move(l));
    else summary.licenses_truncated = true;
  };
  // Appends go through a connection of their own, so that the next chunk's
  // reads on ctx.db can run while a commit is in flight.
  auto commit_db = Database::open(ctx.db.path(), Database::Mode::read_write);
  audit::Log commit_log(commit_db);
  auto commit = [&](Commit c) {
    if (!c.entries.empty()) {
      auto options = ctx.append;
      options.checkpoint_key = &ctx.checkpoint_key;
      options.precheck = [&c](Database& db) {
        // Another signet may have issued one of these orders since we checked.
        auto st = db.prepare("SELECT 1 FROM entries WHERE +kind = 'issued' AND order_id = ? LIMIT 1");
        for (const auto& id : c.ids) {
          st.reset();
          st.bind(1, id);
          if (st.step())
            throw audit::AuditError(ErrorKind::busy,
                                    "order " + id + " was issued by another signet process meanwhile; rerun to re-emit it");
        }
      };
      const auto appended = commit_log.append(c.entries, options);
      summary.last_checkpoint_seq = appended.back().seq;
      summary.licenses_issued += c.licenses;
    }
    try {
      out.write_all(c.outputs);
    } catch (const Error& e) {
      throw Error(e.kind(), std::string(e.what()) +
                                (c.entries.empty() ? std::string()
                                                   : "; the licenses signed so far are committed in the audit log: "
                                                     "run the same command again (to a writable folder) to write them"));
    }
  };
  std::future<void> pending;
  auto flush = [&] {
    if (chunk.empty()) return;
    const auto chunk_size = chunk.size();
    const auto now = now_utc();
    Validator validator(ctx, now);
    std::vector<issue::OutputFile> outputs;
    std::vector<Job> jobs;
    for (const auto& o : chunk) {
      bool already = false;
      std::optional<Superseded> sup;
      auto problems = validator.check(o, already, &sup);
      if (!problems.empty()) throw ManifestError(std::move(problems));  // the log changed since pass 1
      if (already) {
        for (const auto& e : ctx.log.issued_for_order(o.order_id)) {
          const Json r = Json::parse(e.record);
          outputs.push_back({r.at("file").get<std::string>(), r.at("license").get<std::string>()});
          remember({o.order_id, *e.license_id, r.at("file").get<std::string>(), true, r.value("non_production", 0) > 0});
        }
        ++summary.orders_already;
        continue;
      }
      for (std::int64_t np = 0; np <= o.non_production_deployments; ++np) {
        auto terms = terms_for(o, sup, now);
        terms.non_production = np > 0;
        Job job;
        job.order = &o;
        job.non_production = np;
        if (sup) job.supersedes_license = sup->entry.license_id;
        job.payload = payload_json(terms);
        job.file = np == 0 ? prod_file(o.order_id) : nonprod_file(o.order_id, np);
        jobs.push_back(std::move(job));
      }
      ++summary.orders_issued;
    }
    sign_all(jobs, req.encoding, ctx.key, threads);
    std::vector<audit::NewEntry> entries;
    entries.reserve(jobs.size());
    for (auto& j : jobs) {
      summary.resigned += static_cast<std::size_t>(j.signed_license.resigned);
      const auto license_id = j.signed_license.payload_json.at("id").get<std::string>();
      // The record is canonical JSON assembled from canonical parts (keys in
      // sorted order): the payload text is the exact signed bytes, and the
      // manifest is encoded once per order.
      std::string record;
      record.reserve(j.signed_license.payload.size() + j.signed_license.encoded.size() + 2048);
      record += "{\"encoding\":";
      record += canonical_json(Json(std::string(to_string(req.encoding))));
      record += ",\"file\":";
      record += canonical_json(Json(j.file));
      record += ",\"license\":";
      record += canonical_json(Json(j.signed_license.encoded));
      record += ",\"manifest\":";
      record += manifest_text(*j.order);
      record += ",\"non_production\":";
      record += std::to_string(j.non_production);
      record += ",\"payload\":";
      record += j.signed_license.payload;
      if (j.signed_license.resigned > 0) record += ",\"resigned\":" + std::to_string(j.signed_license.resigned);
      record += ",\"source\":";
      record += canonical_json(Json(j.order->source));
      record += ",\"supersedes_license\":";
      record += j.supersedes_license ? canonical_json(Json(*j.supersedes_license)) : std::string("null");
      record += "}";
      entries.push_back({.kind = "issued", .order_id = j.order->order_id, .license_id = license_id,
                         .key_id = ctx.key.key_id(), .record = Json(), .record_text = std::move(record)});
      outputs.push_back({j.file, j.signed_license.encoded});
      remember({j.order->order_id, license_id, j.file, false, j.non_production > 0});
    }
    std::vector<std::string> ids;
    for (const auto& j : jobs)
      if (j.non_production == 0) ids.push_back(j.order->order_id);
    // Commit and write this chunk in the background while the next one is read
    // and signed; chunks still commit in order, and each chunk's files are
    // written only after its own commit.
    if (pending.valid()) pending.get();
    pending = std::async(std::launch::async,
                         [&commit, c = Commit{std::move(chunk), std::move(entries), std::move(outputs), std::move(ids),
                                              jobs.size()}]() mutable { commit(std::move(c)); });
    done += chunk_size;
    progress.update(done);
    chunk = {};
  };
  read_orders(
      files, ctx.read,
      [&](Order&& o) {
        if (refused_sources.contains(o.source)) return;
        chunk.push_back(std::move(o));
        if (chunk.size() >= req.chunk_size) flush();
      },
      [](ManifestProblem&&) {});
  flush();
  if (pending.valid()) pending.get();
  progress.finish();
  return summary;
}

}  // namespace signet
