#include "signet/core/openssl.hpp"

#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include <array>
#include <mutex>

namespace signet::openssl {

Pkey rsa_public_key(const BIGNUM* n, const BIGNUM* e) {
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(::OSSL_PARAM_BLD_new());
  if (n == nullptr || e == nullptr || !bld || ::OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
      ::OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e) != 1) {
    return nullptr;
  }
  std::unique_ptr<OSSL_PARAM, ParamFree> params(::OSSL_PARAM_BLD_to_param(bld.get()));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(::EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || ::EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      ::EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ::EVP_PKEY_free(key);
    return nullptr;
  }
  return Pkey(key);
}

namespace {

// The contexts of the slots, made on first use and never freed. The table is a
// plain array (no destructor runs at exit), so they stay reachable to the end.
constexpr std::size_t kMaxSlots = 256;

OSSL_LIB_CTX* slot_context(std::size_t slot) {
  static std::array<OSSL_LIB_CTX*, kMaxSlots> contexts{};
  static std::mutex lock;
  if (slot >= contexts.size()) return nullptr;
  const std::lock_guard<std::mutex> guard(lock);
  if (contexts[slot] != nullptr) return contexts[slot];
  OSSL_LIB_CTX* ctx = ::OSSL_LIB_CTX_new();
  if (ctx == nullptr) return nullptr;
  // As OPENSSL_init_crypto loads the configuration into the default context:
  // the default file (or OPENSSL_CONF), its openssl_conf section, a missing
  // file or a failing module ignored.
  char* file = ::CONF_get1_default_config_file();
  if (file != nullptr) {
    (void)::CONF_modules_load_file_ex(
        ctx, file, "openssl_conf",
        CONF_MFLAGS_DEFAULT_SECTION | CONF_MFLAGS_IGNORE_MISSING_FILE | CONF_MFLAGS_IGNORE_RETURN_CODES);
    ::OPENSSL_free(file);
  }
  ::ERR_clear_error();
  contexts[slot] = ctx;
  return ctx;
}

}  // namespace

ThreadContextScope::ThreadContextScope(std::size_t slot) {
  OSSL_LIB_CTX* ctx = slot_context(slot);
  if (ctx == nullptr) return;
  m_previous = ::OSSL_LIB_CTX_set0_default(ctx);
  m_active = m_previous != nullptr;
}

ThreadContextScope::~ThreadContextScope() {
  if (m_active) (void)::OSSL_LIB_CTX_set0_default(m_previous);
}

}  // namespace signet::openssl
