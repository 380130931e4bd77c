#include "p11.hpp"
#include "signet/core/openssl.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>

namespace signet::hsm {

using detail::check;

namespace {

Bytes get_attribute(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                    CK_ATTRIBUTE_TYPE type, const char* name) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  check(fn->C_GetAttributeValue(session, object, &a, 1), std::string("C_GetAttributeValue(") + name + ")");
  Bytes value(a.ulValueLen);
  a.pValue = value.data();
  check(fn->C_GetAttributeValue(session, object, &a, 1), std::string("C_GetAttributeValue(") + name + ")");
  value.resize(a.ulValueLen);
  return value;
}

Bytes spki_der(EVP_PKEY* pkey) {
  unsigned char* out = nullptr;
  const int len = ::i2d_PUBKEY(pkey, &out);
  if (len <= 0) throw HsmError(ErrorKind::software, "i2d_PUBKEY failed");
  Bytes der(out, out + len);
  ::OPENSSL_free(out);
  return der;
}

Bytes rsa_spki(const Bytes& modulus, const Bytes& exponent) {
  const openssl::Bn n(::BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr));
  const openssl::Bn e(::BN_bin2bn(exponent.data(), static_cast<int>(exponent.size()), nullptr));
  const openssl::Pkey pkey = openssl::rsa_public_key(n.get(), e.get());
  if (!pkey) throw HsmError(ErrorKind::software, "EVP_PKEY_fromdata(RSA) failed");
  return spki_der(pkey.get());
}

// CKA_EC_POINT is the 32-byte point in a DER OCTET STRING (04 20 ...); some tokens give it bare.
Bytes ed25519_point(const Bytes& ec_point) {
  if (ec_point.size() == 34 && ec_point[0] == 0x04 && ec_point[1] == 0x20) return {ec_point.begin() + 2, ec_point.end()};
  if (ec_point.size() == 32) return ec_point;
  throw HsmError(ErrorKind::unavailable, "token returned an Ed25519 CKA_EC_POINT of " +
                                             std::to_string(ec_point.size()) + " bytes");
}

// CKA_EC_PARAMS of an Ed25519 key: the OID 1.3.101.112, or (SoftHSM2) the PrintableString "edwards25519".
bool is_ed25519_params(const Bytes& params) {
  static constexpr std::array<std::uint8_t, 5> kOid{0x06, 0x03, 0x2b, 0x65, 0x70};
  static constexpr std::string_view kName = "edwards25519";
  if (params.size() == kOid.size() && std::equal(kOid.begin(), kOid.end(), params.begin())) return true;
  return params.size() == kName.size() + 2 && params[0] == 0x13 && params[1] == kName.size() &&
         std::equal(kName.begin(), kName.end(), params.begin() + 2);
}

}  // namespace

Bytes Token::public_key_der(const KeyPair& key) const {
  if (key.public_handle == 0) {
    throw HsmError(ErrorKind::not_found, "token '" + m_info.label + "' has no public key object for '" + key.label + "'");
  }
  CK_FUNCTION_LIST* fn = detail::fns(*m_module);
  const SessionLease session(*this);
  if (key.type == KeyType::rsa) {
    return rsa_spki(get_attribute(fn, session.get(), key.public_handle, CKA_MODULUS, "CKA_MODULUS"),
                    get_attribute(fn, session.get(), key.public_handle, CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT"));
  }
  if (!is_ed25519_params(get_attribute(fn, session.get(), key.public_handle, CKA_EC_PARAMS, "CKA_EC_PARAMS"))) {
    throw HsmError(ErrorKind::unavailable, "key '" + key.label + "' is an Edwards key on another curve than Ed25519");
  }
  const Bytes point = ed25519_point(get_attribute(fn, session.get(), key.public_handle, CKA_EC_POINT, "CKA_EC_POINT"));
  const openssl::Pkey pkey(
      ::EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, point.data(), point.size()));
  if (!pkey) throw HsmError(ErrorKind::software, "EVP_PKEY_new_raw_public_key(Ed25519) failed");
  return spki_der(pkey.get());
}

}  // namespace signet::hsm
