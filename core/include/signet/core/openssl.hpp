// Owners for the OpenSSL objects Signet builds, and the RSA public key both the
// token layer (from CKA_MODULUS / CKA_PUBLIC_EXPONENT) and the key store (from
// a SubjectPublicKeyInfo) make from a modulus and an exponent.
#pragma once

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>

namespace signet::openssl {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { ::EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { ::EVP_PKEY_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const noexcept { ::BN_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { ::OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const noexcept { ::OSSL_PARAM_free(p); }
};

using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

// An RSA public key with modulus n and public exponent e, built by OpenSSL's
// RSA key manager (EVP_PKEY_fromdata); nullptr when OpenSSL refuses them.
Pkey rsa_public_key(const BIGNUM* n, const BIGNUM* e);

}  // namespace signet::openssl
