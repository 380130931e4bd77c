#include "trust.hpp"

#include "signet/core/json.hpp"


namespace signet::cli {

std::string anchor_label(const std::string& log_id) { return "signet-audit-head:" + log_id; }

std::optional<audit::LogHead> TokenAnchor::load(const std::string& log_id) {
  const auto label = anchor_label(log_id);
  const auto bad = [&](const std::string& why) {
    return Error(ErrorKind::bad_data, "the token's data object '" + label + "' is not a Signet audit head: " + why);
  };
  std::optional<audit::LogHead> furthest;
  // Two objects remain when a replacement was interrupted: the furthest head counts.
  for (const auto& value : m_token().read_objects(label)) {
    std::string why;
    const auto j = parse_strict_json(std::string_view(reinterpret_cast<const char*>(value.data()), value.size()), why);
    if (!j || !j->is_object()) throw bad(why.empty() ? "not a JSON object" : why);
    const auto size = j->contains("tree_size") ? json_uint(j->at("tree_size")) : std::nullopt;
    if (!size || !j->contains("log_id") || !j->at("log_id").is_string() || !j->contains("root_hash") ||
        !j->at("root_hash").is_string())
      throw bad("needs log_id, root_hash (strings) and tree_size (an unsigned integer)");
    audit::LogHead head{.log_id = j->at("log_id").get<std::string>(), .tree_size = *size,
                        .root_hash = j->at("root_hash").get<std::string>()};
    if (head.log_id != log_id) throw bad("it names log " + head.log_id);
    if (furthest && furthest->tree_size == head.tree_size && furthest->root_hash != head.root_hash)
      throw bad("two heads of tree size " + std::to_string(head.tree_size) + " with different roots");
    if (!furthest || head.tree_size > furthest->tree_size) furthest = std::move(head);
  }
  return furthest;
}

void TokenAnchor::store(const audit::LogHead& head) {
  const auto text = canonical_json(Json{{"log_id", head.log_id}, {"tree_size", head.tree_size}, {"root_hash", head.root_hash}});
  m_token().write_object(anchor_label(head.log_id), as_bytes(text));
}

}  // namespace signet::cli
