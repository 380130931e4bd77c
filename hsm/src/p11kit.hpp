// Private to hsm/: p11-kit, opened when the first PKCS#11 module or URI is
// needed rather than by the dynamic loader at start-up. Commands that never
// touch a token (`signet verify --pubkey`, `signet audit verify` with an
// exported key, --help) then start without loading and relocating p11-kit and
// libffi: about 0.7 ms of a 5 ms process here (docs/performance.md).
#pragma once

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

namespace signet::hsm::detail {

// The p11-kit functions hsm/ calls, resolved from the system's libp11-kit.so.0
// (the library the linker would have recorded; Debian's libp11-kit0).
struct P11Kit {
  decltype(&::p11_kit_module_load) module_load;
  decltype(&::p11_kit_module_release) module_release;
  decltype(&::p11_kit_modules_load) modules_load;
  decltype(&::p11_kit_modules_release) modules_release;
  decltype(&::p11_kit_module_for_name) module_for_name;
  decltype(&::p11_kit_module_get_filename) module_get_filename;
  decltype(&::p11_kit_message) message;
  decltype(&::p11_kit_uri_new) uri_new;
  decltype(&::p11_kit_uri_parse) uri_parse;
  decltype(&::p11_kit_uri_free) uri_free;
  decltype(&::p11_kit_uri_message) uri_message;
  decltype(&::p11_kit_uri_get_attribute) uri_get_attribute;
  decltype(&::p11_kit_uri_match_token_info) uri_match_token_info;
  decltype(&::p11_kit_uri_match_module_info) uri_match_module_info;
  decltype(&::p11_kit_uri_match_slot_info) uri_match_slot_info;
  decltype(&::p11_kit_uri_get_slot_id) uri_get_slot_id;
};

// Opens p11-kit once per process (thread-safe) and never closes it: the
// modules it loads live as long as the process. Throws HsmError (unavailable,
// 69) naming the library and the missing symbol when it cannot.
const P11Kit& p11kit();

}  // namespace signet::hsm::detail
