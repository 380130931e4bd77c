// What a writer trusts beyond the file it appends to. The file can be rewritten
// by anyone who can write to it; the HSM cannot. So before an append the writer
// checks the log's head against the HSM: the last checkpoint's signature with a
// key the HSM holds, and the head anchored in the HSM by the previous write (a
// log cut back to an older checkpoint is otherwise invisible). audit/ defines
// the interfaces; the CLI implements them over the token (audit/ never reaches hsm/).
// Also: what the log itself says about keys (key_generated / key_retired /
// desk_key_trusted entries), which is what writers take trust decisions from.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "signet/core/sqlite.hpp"
#include "signet/keystore/keys.hpp"

namespace signet::audit {

// The newest checkpoint of a log, as anchored in the HSM.
struct LogHead {
  std::string log_id;
  std::uint64_t tree_size = 0;  // the checkpoint's tree_size (its seq - 1)
  std::string root_hash;        // lowercase hex
};

// The public key of the HSM's key pair with this key id (SHA-256 of its SPKI DER,
// computed from what the token returns), or nullopt when the HSM holds no such key.
using HsmKeyLookup = std::function<std::optional<keystore::PublicKey>(const std::string& key_id)>;

// A log's head kept in the HSM, one per log id. Implementations may throw their
// module's error (an unavailable token); Log::append calls them with the log's
// write lock held, so two writers never interleave a load and a store.
class HeadAnchor {
 public:
  virtual ~HeadAnchor() = default;
  // The anchored head of this log; nullopt when none was stored yet.
  [[nodiscard]] virtual std::optional<LogHead> load(const std::string& log_id) = 0;
  // Stores the head, creating the anchor when absent.
  virtual void store(const LogHead& head) = 0;
};

// Given to Log::append (AppendOptions::trust); every Signet write sets both.
struct LogTrust {
  HsmKeyLookup hsm_key;
  HeadAnchor* anchor = nullptr;  // none: the head is not anchored (tests of the log alone)
};

// What the log says about one key.
struct KeyHistory {
  std::optional<std::int64_t> generated_seq;  // its first key_generated entry
  std::string public_key_pem;                 // that entry's public_key
  std::optional<std::int64_t> retired_seq;    // its first key_retired entry
};
[[nodiscard]] KeyHistory key_history(Database& db, const std::string& key_id);

// The keys the log announces in key_generated entries whose public key has the
// entry's key id, in seq order; announcements that do not hold are skipped.
[[nodiscard]] std::vector<keystore::PublicKey> logged_keys(Database& db);

// The order-desk keys the log trusts: desk_key_trusted entries, key id -> public key.
// AuditError(bad_data) naming the seq when an entry's public key is unreadable
// or does not have the entry's key id.
[[nodiscard]] std::map<std::string, keystore::PublicKey> logged_desk_keys(Database& db);

}  // namespace signet::audit
