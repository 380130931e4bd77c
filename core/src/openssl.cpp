#include "signet/core/openssl.hpp"

#include <openssl/core_names.h>

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

}  // namespace signet::openssl
