#include "signet/core/json.hpp"

#include "signet/core/error.hpp"

#include <algorithm>

namespace signet {

namespace {

constexpr int kMaxDepth = 32;

// Nesting depth outside strings, counted before parsing so that a hostile file
// cannot make the parser (or the destructor of its result) recurse deeply.
bool nesting_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

// Builds the value of a JSON text as nlohmann's own DOM parser does, noting the
// first object key that appears twice in one object (nlohmann would let the
// second silently win). Containers are filled innermost first, so the pointers
// on the stack stay valid while their container is open.
class StrictDomBuilder {
 public:
  explicit StrictDomBuilder(Json& root) : m_root(root) {}

  bool null() { return put(Json(nullptr)); }
  bool boolean(bool v) { return put(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return put(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return put(Json(v)); }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return put(Json(v)); }
  bool string(Json::string_t& v) { return put(Json(std::move(v))); }
  bool binary(Json::binary_t& v) { return put(Json::binary(std::move(v))); }
  bool start_object(std::size_t) {
    open(Json::object());
    return true;
  }
  bool key(Json::string_t& k) {
    auto& object = m_stack.back()->get_ref<Json::object_t&>();
    const auto [it, inserted] = object.try_emplace(k);
    if (!inserted && m_duplicate.empty()) {
      m_duplicate = k;
      for (const auto& token : m_tokens) m_duplicate_pointer += "/" + json_pointer_token(token);
      m_duplicate_pointer += "/" + json_pointer_token(k);
    }
    m_key = k;
    m_slot = &it->second;
    return true;
  }
  bool end_object() {
    close();
    return true;
  }
  bool start_array(std::size_t) {
    open(Json::array());
    return true;
  }
  bool end_array() {
    close();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    if (e.id == 406) {
      // out_of_range 406: a number too large for a double (1e400).
      m_error = "not valid JSON: a number is out of range";
    } else {
      const std::string what = e.what();
      const auto pos = what.find("parse error");
      m_error = "not valid JSON: " + (pos != std::string::npos ? what.substr(pos) : what);
    }
    return false;
  }

  [[nodiscard]] const std::string& error() const noexcept { return m_error; }
  [[nodiscard]] const std::string& duplicate() const noexcept { return m_duplicate; }
  // The JSON Pointer of the first repeated key ("/customer/name").
  [[nodiscard]] const std::string& duplicate_pointer() const noexcept { return m_duplicate_pointer; }

 private:
  // A container opens inside the current one: its pointer token is the key
  // just read, or its index in the array (the root has none).
  void open(Json v) {
    if (!m_stack.empty()) {
      const Json& top = *m_stack.back();
      m_tokens.push_back(top.is_array() ? std::to_string(top.size()) : m_key);
    }
    m_stack.push_back(place(std::move(v)));
  }
  void close() {
    m_stack.pop_back();
    if (!m_tokens.empty()) m_tokens.pop_back();  // the root has no token
  }
  Json* place(Json v) {
    if (m_stack.empty()) {
      m_root = std::move(v);
      return &m_root;
    }
    Json& top = *m_stack.back();
    if (top.is_array()) {
      auto& array = top.get_ref<Json::array_t&>();
      array.push_back(std::move(v));
      return &array.back();
    }
    *m_slot = std::move(v);
    return m_slot;
  }
  bool put(Json v) {
    place(std::move(v));
    return true;
  }

  Json& m_root;
  std::vector<Json*> m_stack;
  Json* m_slot = nullptr;  // the value of the object key just read
  std::string m_key;       // that key
  std::vector<std::string> m_tokens;  // the pointer tokens of the open containers below the root
  std::string m_duplicate, m_duplicate_pointer, m_error;
};

// nlohmann's object_t is a std::map<std::string, ...>: keys iterate in
// std::string order, which compares as unsigned char, i.e. UTF-8 byte order.
void check_no_floats(const Json& value) {
  switch (value.type()) {
    case Json::value_t::number_float:
      throw Error(ErrorKind::bad_data, "canonical JSON: floating-point numbers are not allowed");
    case Json::value_t::object:
    case Json::value_t::array:
      for (const auto& item : value) check_no_floats(item);
      return;
    default:
      return;
  }
}

}  // namespace

std::string canonical_json(const Json& value) {
  check_no_floats(value);
  try {
    return value.dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::type_error& e) {
    throw Error(ErrorKind::bad_data, std::string("canonical JSON: ") + e.what());
  }
}

std::optional<Json> parse_strict_json(std::string_view text, std::string& why, std::string* pointer) {
  // JSON text never holds a NUL byte (in a string it must be escaped), and the
  // parser would take one for the end of the input, ignoring what follows it.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    why = "not valid JSON: a NUL byte at byte offset " + std::to_string(nul) + " (JSON text has none)";
    return std::nullopt;
  }
  if (!nesting_within(text, kMaxDepth)) {
    why = "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels";
    return std::nullopt;
  }
  Json root;
  StrictDomBuilder builder(root);
  bool parsed = false;
  try {
    parsed = Json::sax_parse(text, &builder);
  } catch (const Json::exception& e) {
    builder.parse_error(0, {}, e);
  }
  if (!parsed) {
    why = builder.error();
    return std::nullopt;
  }
  if (!builder.duplicate().empty()) {
    why = "duplicate key \"" + builder.duplicate() + "\" (a repeated field must not silently override the first)";
    if (pointer != nullptr) *pointer = builder.duplicate_pointer();
    return std::nullopt;
  }
  return root;
}

std::optional<std::uint64_t> json_uint(const Json& value) noexcept {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(value.get<std::int64_t>());
  return std::nullopt;
}

std::optional<std::int64_t> json_int(const Json& value) noexcept {
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  return std::nullopt;
}

std::string json_pointer_token(std::string_view key) {
  std::string out;
  for (const char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    out += canonical_json(Json(std::string(s)));  // UTF-8: nlohmann checks it
    return;
  }
  out += '"';
  std::size_t plain = 0;  // start of the run of bytes copied as they are
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4U];
        out += kHex[c & 0xFU];
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

}  // namespace signet
