// Private to audit/: what Log::append checks before and after it writes.
#pragma once

#include "signet/audit/log.hpp"
#include "signet/audit/merkle.hpp"
#include "signet/audit/trust.hpp"

namespace signet::audit::detail {

// The statements that make a new log's schema (log.cpp). check_head holds the
// file's triggers to exactly the ones these make.
extern const std::string_view kSchemaSql;

// The entry count the trigger keeps in audit_meta: its text when the row is
// there, and the count when that text is one (a decimal integer >= 0 written
// as Signet writes it).
struct RecordedCount {
  std::optional<std::string> text;
  std::optional<std::int64_t> count;
};
RecordedCount recorded_count(Database& db);

// The log's three tables are tables, STRICT, with exactly the columns kSchemaSql
// gives them. Empty when they are, else which table and how.
std::string table_problem(Database& db);

// The file's triggers are exactly the ones kSchemaSql makes: none dropped, none
// changed under its name, none added. Empty when they are, else which one and how.
std::string trigger_problem(Database& db);

// What a checkpoint entry holds beyond what its signature covers (log id, tree
// size, root, time) must still be what signet writes, or an edit of the last
// checkpoint would go unseen and the next one would seal it: the record has
// exactly its seven fields, the entry's order_id and license_id are null, and
// the record's alg is that of `key` (when given), the key that signed it.
// Empty when it holds, else the rule broken.
std::string checkpoint_shape_problem(const Entry& e, const Json& record, const keystore::PublicKey* key);

// A checkpoint's signature from its record's text: standard base64 exactly as
// Signet writes it (padded, zero unused bits, no line breaks), so that one
// signature has one text, the one the shell recipes decode; nullopt otherwise.
std::optional<Bytes> checkpoint_signature(std::string_view text);
// What a signature text checkpoint_signature refuses is not.
inline constexpr std::string_view kSignatureTextRule =
    "is not base64 as signet writes it (padded, no line breaks)";

// After the inserts of an append, inside its transaction: the file holds
// exactly the entries appended, in order, and the entry count names the last.
// Anything else means the schema was changed outside signet (a trigger that
// drops or rewrites rows): AuditError(bad_data), and the transaction is rolled back.
void check_appended(Database& db, const std::vector<Entry>& appended);

// Proves the log's head before an append (inside the write transaction): the
// log is empty or ends with a checkpoint; its tables are tables, its triggers
// exactly Signet's (none changed, none added) and its entry count right; that checkpoint is well formed, chained and signed by a key the HSM
// holds; it is at or beyond the head anchored in the HSM, whose checkpoint it
// still carries; and the Merkle frontier of the tree it signs (stored, else
// rebuilt from the entries) has its root. Returns that frontier extended with
// the checkpoint's own leaf: the tree over every entry. AuditError(bad_data)
// naming the file, the seq and the rule otherwise.
Frontier check_head(Database& db, const std::string& log_id, const LogTrust& trust,
                    const std::optional<Entry>& last, const std::function<void(const std::string&)>& warn);

// The frontier over all `last_seq` entries without proving it (appends without
// trust: tests of the log alone): the stored one when it has that size, else rebuilt.
Frontier unchecked_frontier(Database& db, std::int64_t last_seq);

// Stores the frontier (Log::append stores the tree the new checkpoint signs).
void save_frontier(Database& db, const Frontier& f);

// The checkpoint key must be announced by a key_generated entry (in the log or
// among the entries being appended) with its public key, and not be retired.
void check_checkpoint_key(Database& db, const keystore::SigningKey& key,
                          const std::vector<NewEntry>& pending);

// After the commit: moves the HSM anchor forward to `head` (never back), with
// the write lock taken again so that writers do not interleave. A failure is a
// warning (the next write anchors its own head), since the entries are committed.
void advance_anchor(Database& db, HeadAnchor& anchor, const LogHead& head,
                    const std::function<void(const std::string&)>& warn);

}  // namespace signet::audit::detail
