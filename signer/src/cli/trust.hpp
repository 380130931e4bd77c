// What the write commands trust beyond the file: the log's head is anchored in
// the token (a CKO_DATA object per log id) so that a log cut back to an older
// checkpoint is refused.
#pragma once

#include "signet/audit/trust.hpp"
#include "signet/keystore/token.hpp"

#include <functional>
#include <string>

namespace signet::cli {

// The label of a log's head anchor in the token.
std::string anchor_label(const std::string& log_id);

// The audit log's head in a token data object labelled anchor_label(log_id),
// CKA_APPLICATION "signet", value the canonical JSON {"log_id","root_hash","tree_size"}.
class TokenAnchor final : public audit::HeadAnchor {
 public:
  // `token` gives the logged-in token when first needed.
  explicit TokenAnchor(std::function<keystore::TokenKeys&()> token) : m_token(std::move(token)) {}
  // Error(bad_data) naming the object when its value is not such a head.
  [[nodiscard]] std::optional<audit::LogHead> load(const std::string& log_id) override;
  void store(const audit::LogHead& head) override;

 private:
  std::function<keystore::TokenKeys&()> m_token;
};

}  // namespace signet::cli
