// The issuance workflow (DESIGN.md "Issuance protocol"):
//  1. read and validate every order of the batch (fields, then the log: order ids
//     unique, superseded licenses present, live and of the same customer);
//  2. orders already in the log are re-emitted from it byte for byte;
//  3. the rest are signed in the HSM, one session per thread;
//  4. per chunk, their `issued` entries and a checkpoint are appended in one
//     transaction and committed;
//  5. only then the license files are written (unnamed or temporary files, one
//     syncfs, then their names).
// The orders validated in step 1 are kept for the rest while they fit in a
// bounded amount of memory; a larger batch is streamed a second time instead,
// so a batch of any length runs in bounded memory. Manifests are parsed on one
// thread per core; the chunks flow through checking, signing and committing at
// once (chunk k+1 checked while k is signed and k-1 committed). When the
// batch's length is known (its orders kept), the last chunks are shorter, so
// that little is left to commit and write after the last signature.
// Not thread-safe itself; it runs its own threads.
#pragma once

#include "signet/audit/log.hpp"
#include "signet/signer/license.hpp"
#include "signet/signer/manifest.hpp"

#include <filesystem>
#include <functional>
#include <optional>

namespace signet {

struct IssueRequest {
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path out_dir;
  Encoding encoding = Encoding::mattermost;
  bool dry_run = false;
  bool skip_invalid = false;
  bool progress = false;         // a progress bar on stderr (on a terminal)
  std::size_t chunk_size = 500;  // orders per transaction at most (three chunks are in flight at once)
  unsigned threads = 0;          // signing threads; 0 = one per core
  // The orders validated in pass 1 are kept for pass 2 up to about this much
  // memory; a larger batch is read a second time (and must read the same).
  std::size_t keep_bytes = 24U << 20U;
  // Inputs refused before the batch was read (a folder entry that cannot be a
  // manifest): listed first among the refused, like a bad order.
  std::vector<ManifestProblem> refused_inputs;
};

struct IssuedLicense {
  std::string order_id, license_id, file;
  bool already_issued = false;  // re-emitted from the log
  bool non_production = false;
};

struct IssueSummary {
  std::size_t orders_issued = 0;     // orders signed now
  std::size_t licenses_issued = 0;   // licenses signed now (non-production ones included)
  std::size_t orders_already = 0;    // orders found in the log and re-emitted
  std::size_t would_issue = 0;       // dry run: orders that would be signed
  std::size_t resigned = 0;          // payloads changed because a signature ended in 0x00
  std::vector<ManifestProblem> refused;
  std::vector<IssuedLicense> licenses;  // kept only up to a bound (see licenses_truncated)
  bool licenses_truncated = false;
  std::int64_t last_checkpoint_seq = 0;
  std::filesystem::path out_dir;
};

struct IssueContext {
  Database& db;
  audit::Log& log;
  keystore::SigningKey& key;             // signs the licenses
  keystore::SigningKey& checkpoint_key;  // signs the checkpoints
  audit::AppendOptions append;           // actor, clock margin (checkpoint_key is set by the issuer)
  ReadOptions read;
  // The public key of a key held in the HSM, by key id; nullopt when the token
  // has no such key. A license re-emitted from the log must verify with one.
  std::function<std::optional<keystore::PublicKey>(const std::string& key_id)> token_public_key;
};

// Runs the workflow. ManifestError (exit 65) when an order is refused and
// skip_invalid is not set: then nothing is signed, logged or written.
IssueSummary issue_batch(IssueContext& ctx, const IssueRequest& request);

// What the output folder of a run would refuse, checked without creating
// anything (a dry run): Error(cant_create) when `dir`, or the nearest part of
// it that exists, is not a folder this process can write to.
void check_output_folder(const std::filesystem::path& dir);

}  // namespace signet
