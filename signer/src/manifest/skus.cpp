// The product's feature flags and what each SKU turns on (docs/manifest.md).
#include "signet/signer/manifest.hpp"

#include <set>

namespace signet {

const std::vector<std::string>& feature_names() {
  // The flags of the product server's model.Features (server/public/model/license.go).
  // Every one is written explicitly: the server gives a missing flag the value
  // of future_features (off in every Signet license), except announcement and
  // theme_management, which it turns on; a license must say what was sold,
  // whatever a server version's defaults are.
  static const std::vector<std::string> names = {
      "ldap", "ldap_groups", "mfa", "google_oauth", "office365_oauth", "compliance", "cluster", "metrics", "mhpns",
      "saml", "elastic_search", "announcement", "theme_management", "email_notification_contents", "data_retention",
      "message_export", "custom_permissions_schemes", "custom_terms_of_service", "guest_accounts",
      "guest_accounts_permissions", "id_loaded", "lock_teammate_name_display", "cloud", "shared_channels",
      "remote_cluster_service", "openid", "enterprise_plugins", "advanced_logging", "outgoing_oauth_connections",
      "auto_translation", "future_features"};
  return names;
}

namespace {

std::map<std::string, bool> defaults_of(const std::string& sku) {
  static const std::set<std::string> professional = {
      "ldap", "mfa", "google_oauth", "office365_oauth", "openid", "saml", "guest_accounts",
      "guest_accounts_permissions", "announcement", "theme_management", "mhpns", "enterprise_plugins"};
  static const std::set<std::string> enterprise_only = {
      "ldap_groups", "compliance", "cluster", "metrics", "elastic_search", "email_notification_contents",
      "data_retention", "message_export", "custom_permissions_schemes", "custom_terms_of_service",
      "lock_teammate_name_display", "shared_channels", "remote_cluster_service", "advanced_logging", "id_loaded",
      "outgoing_oauth_connections"};
  const bool enterprise = sku == "enterprise" || sku == "advanced" || sku == "E20";
  std::map<std::string, bool> out;
  for (const auto& name : feature_names()) {
    out[name] = professional.contains(name) || (enterprise && enterprise_only.contains(name));
  }
  // Never licensed by an offline signer (a manifest cannot turn them on): cloud
  // is the vendor's SaaS, and future_features would switch on whatever a later
  // server version adds. auto_translation (an add-on) only when ordered.
  out["cloud"] = false;
  out["future_features"] = false;
  out["auto_translation"] = false;
  return out;
}

}  // namespace

std::map<std::string, bool> sku_features(const std::string& sku) {
  // Worked out once per SKU (this runs for every license signed).
  static const std::map<std::string, std::map<std::string, bool>> by_sku = [] {
    std::map<std::string, std::map<std::string, bool>> m;
    for (const char* s : {"professional", "enterprise", "advanced", "entry", "E10", "E20"}) m[s] = defaults_of(s);
    return m;
  }();
  const auto it = by_sku.find(sku);
  return it != by_sku.end() ? it->second : defaults_of(sku);
}

std::string sku_display_name(const std::string& sku) {
  if (sku == "professional") return "Professional";
  if (sku == "enterprise") return "Enterprise";
  if (sku == "advanced") return "Enterprise Advanced";
  if (sku == "entry") return "Entry";
  return sku;  // E10, E20: the product's own short names
}

}  // namespace signet
