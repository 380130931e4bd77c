// Owners for the OpenSSL objects Signet builds, the RSA public key both the
// token layer (from CKA_MODULUS / CKA_PUBLIC_EXPONENT) and the key store (from
// a SubjectPublicKeyInfo) make from a modulus and an exponent, and the library
// contexts of the signing threads.
#pragma once

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cstddef>
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

// Makes OpenSSL library context number `slot` the calling thread's default
// (OSSL_LIB_CTX_set0_default) while it lives, and restores the previous default
// when it goes. Each signing thread takes a slot of its own: a PKCS#11 module
// that runs in this process on OpenSSL (SoftHSM2 decodes its private key
// through OpenSSL 3's decoders on every C_Sign) then works in a context no
// other thread uses, instead of taking the read locks of the one process-wide
// context (docs/performance.md). A slot's context is made on first use, under
// a lock, from the same configuration file and in the same way as OpenSSL's
// own default context (so a configured provider, such as FIPS, applies in it
// too); it is kept for the life of the process, because algorithms fetched in
// it may be cached. If it cannot be made (or `slot` is 256 or more), the
// thread keeps the default context.
class ThreadContextScope {
 public:
  explicit ThreadContextScope(std::size_t slot);
  ~ThreadContextScope();
  // One scope per thread and per nesting; copying it would restore twice.
  ThreadContextScope(const ThreadContextScope&) = delete;
  ThreadContextScope& operator=(const ThreadContextScope&) = delete;

 private:
  OSSL_LIB_CTX* m_previous = nullptr;
  bool m_active = false;
};

}  // namespace signet::openssl
