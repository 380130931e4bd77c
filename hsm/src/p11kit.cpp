#include "p11kit.hpp"

#include "signet/hsm/hsm.hpp"

#include <dlfcn.h>

#include <string>

namespace signet::hsm::detail {

namespace {

constexpr const char* kLibrary = "libp11-kit.so.0";

P11Kit open_p11kit() {
  // RTLD_NOW: every symbol is bound here, not at a first call deep in a signing run.
  void* lib = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    throw HsmError(ErrorKind::unavailable, std::string("cannot load ") + kLibrary + " (Debian package libp11-kit0): " +
                                               (why != nullptr ? why : "dlopen failed"));
  }
  const auto bind = [&]<typename F>(F& fn, const char* name) {
    ::dlerror();
    void* sym = ::dlsym(lib, name);
    if (sym == nullptr) {
      throw HsmError(ErrorKind::unavailable, std::string(kLibrary) + " has no " + name + " (p11-kit 0.23 or later needed)");
    }
    fn = reinterpret_cast<F>(sym);  // NOLINT: dlsym's object pointer to the function it names (POSIX)
  };
  P11Kit k{};
  bind(k.module_load, "p11_kit_module_load");
  bind(k.module_release, "p11_kit_module_release");
  bind(k.modules_load, "p11_kit_modules_load");
  bind(k.modules_release, "p11_kit_modules_release");
  bind(k.module_for_name, "p11_kit_module_for_name");
  bind(k.module_get_filename, "p11_kit_module_get_filename");
  bind(k.message, "p11_kit_message");
  bind(k.uri_new, "p11_kit_uri_new");
  bind(k.uri_parse, "p11_kit_uri_parse");
  bind(k.uri_free, "p11_kit_uri_free");
  bind(k.uri_message, "p11_kit_uri_message");
  bind(k.uri_get_attribute, "p11_kit_uri_get_attribute");
  bind(k.uri_match_token_info, "p11_kit_uri_match_token_info");
  bind(k.uri_match_module_info, "p11_kit_uri_match_module_info");
  bind(k.uri_match_slot_info, "p11_kit_uri_match_slot_info");
  bind(k.uri_get_slot_id, "p11_kit_uri_get_slot_id");
  return k;
}

}  // namespace

const P11Kit& p11kit() {
  // A failed open throws out of the initialisation, and the next call tries again.
  static const P11Kit k = open_p11kit();
  return k;
}

}  // namespace signet::hsm::detail
