// Order manifests: reading .json, .jsonl and folders (recursively, sorted),
// bounded sizes, duplicate keys refused, optional detached Ed25519 signatures by
// trusted order-desk keys, and every field rule of docs/manifest.md. A refusal
// names the file (and line), the order id where known, the field as a JSON
// pointer and the rule. Reading streams: orders are handed to a callback one at
// a time, so a batch of any length is never held in memory. Thread-safe (no state).
#pragma once

#include "signet/core/json.hpp"
#include "signet/core/time.hpp"
#include "signet/keystore/keys.hpp"
#include "signet/signer/config.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace signet {

inline constexpr std::uintmax_t kMaxManifestFileBytes = 1U << 20U;         // one .json order
inline constexpr std::uintmax_t kMaxBatchFileBytes = 256ULL << 20U;        // one .jsonl batch
inline constexpr std::size_t kMaxManifestLineBytes = 64U << 10U;           // one .jsonl line

struct Customer {
  std::string id, name, email, company;
};
struct Reseller {
  std::string id, name;
};

enum class OrderKind { new_order, renewal, true_forward, reissue };
std::string_view to_string(OrderKind kind) noexcept;

// One validated order.
struct Order {
  std::string source;    // "path" or "path:line"
  std::string manifest;  // the manifest object as given, as canonical JSON text (so the log records it)
  std::string order_id;
  OrderKind kind = OrderKind::new_order;
  std::optional<std::string> supersedes;  // a license id, or "order:ORDER_ID"
  std::string channel;
  std::optional<Reseller> reseller;
  Customer customer;
  std::string sku;
  std::int64_t seats = 0;  // for true_forward: the seats added
  TimePoint starts_at, expires_at;
  bool premier_support = false;
  std::int64_t non_production_deployments = 0;
  bool government = false;
  bool trial = false;
  std::optional<std::string> deployment_id;
  std::map<std::string, bool> features;
  std::optional<std::string> reason;  // why a reissue
};

// One refusal: file, line, order, JSON pointer, rule.
struct ManifestProblem {
  std::string source;
  std::optional<std::string> order_id;
  std::string pointer;
  std::string rule;
  [[nodiscard]] std::string text() const;
};

class ManifestError : public Error {
 public:
  explicit ManifestError(std::vector<ManifestProblem> problems);
  [[nodiscard]] const std::vector<ManifestProblem>& problems() const noexcept { return m_problems; }

 private:
  std::vector<ManifestProblem> m_problems;
};

struct ReadOptions {
  Policy policy;
  // Manifests must carry FILE.sig by one of these keys (require_signed_manifests).
  bool require_signature = false;
  std::vector<keystore::PublicKey> desk_keys;
  // Parse and check orders on this many threads; they are still handed over in file order.
  unsigned threads = 1;
};

// The manifest files the inputs name: files as given, folders searched
// recursively for *.json and *.jsonl, sorted. Error(no_input) naming a missing path.
std::vector<std::filesystem::path> manifest_files(const std::vector<std::filesystem::path>& inputs);

// The manifest file name extension of `p`: ".json", ".jsonl", or "" for any
// other name. A name that is only the extension (".json") has it too.
[[nodiscard]] std::string manifest_extension(const std::filesystem::path& p);

// What a signing run reads: the manifest files, and the entries it refuses.
struct ManifestInputs {
  std::vector<std::filesystem::path> files;  // regular files, in manifest_files() order
  std::vector<ManifestProblem> problems;     // one per refused entry, naming its path
};

// The inputs as manifest_files() finds them, except that an input, or an entry
// of a folder named *.json or *.jsonl, that is not a regular file (a FIFO, a
// device, a socket, a link that leads nowhere, to a folder or round in a loop)
// is a problem naming its path instead of being skipped or failing the run.
// Error(no_input) for a missing input, Error(bad_data) for a file of another extension.
ManifestInputs scan_manifest_inputs(const std::vector<std::filesystem::path>& inputs);

// Reads every order of the files in order, calling on_order for each valid
// order and on_problem for each refused one (a refused file or line gives one
// problem and reading goes on with the next). The callbacks run on the calling
// thread, in file and line order, whatever options.threads says.
void read_orders(const std::vector<std::filesystem::path>& files, const ReadOptions& options,
                 const std::function<void(Order&&)>& on_order,
                 const std::function<void(ManifestProblem&&)>& on_problem);

// Validates one manifest object (the field rules; no log lookups).
// Returns the order, or the problems found (all of them, not just the first).
std::variant<Order, std::vector<ManifestProblem>> validate_manifest(const Json& manifest, const std::string& source,
                                                                    const Policy& policy);

// The order id a problem with this manifest names: its order_id when that is a
// well-formed id (1 to 64 of A-Z a-z 0-9 . _ -), else none.
std::optional<std::string> named_order_id(const Json& manifest);

// The feature flags a license can carry (the product's names), and the SKU's defaults.
const std::vector<std::string>& feature_names();
std::map<std::string, bool> sku_features(const std::string& sku);
// "Enterprise", "Professional", "Enterprise Advanced", "Entry", "E10", "E20".
std::string sku_display_name(const std::string& sku);

}  // namespace signet
