#include "signet/core/json.hpp"

#include "signet/core/error.hpp"

namespace signet {

namespace {

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

}  // namespace signet
