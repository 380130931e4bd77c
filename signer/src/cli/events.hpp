// Key and revocation events: each changes the registry (where it has a row) and
// appends its audit entry and a signed checkpoint in one transaction, so the
// registry and the log cannot disagree.
#pragma once

#include "appliance.hpp"

namespace signet::cli {

class Events {
 public:
  explicit Events(Appliance& app) : m_app(app) {}

  // Registers the key and logs key_generated; the checkpoint is signed by the
  // audit key, or by the new key when no other key can sign yet.
  void key_generated(const keystore::KeyRecord& record, const std::shared_ptr<keystore::SigningKey>& key);
  // Marks the key retired and logs key_retired; the checkpoint is signed by
  // another active key (Error(config) when it is the last one).
  void key_retired(const keystore::KeyRecord& record);
  // Trusts an order-desk key and logs desk_key_trusted.
  keystore::DeskKey desk_trusted(const keystore::PublicKey& key, const std::string& label);

 private:
  Appliance& m_app;
};

}  // namespace signet::cli
