#include "signet/core/crypto.hpp"
#include "signet/keystore/keys.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include <fstream>
#include <iterator>

namespace signet::keystore {

static_assert(kEd25519PublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kEd25519SignatureBytes == crypto_sign_BYTES);

namespace {

struct BioFree {
  void operator()(BIO* bio) const noexcept { ::BIO_free(bio); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { ::EVP_MD_CTX_free(ctx); }
};

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

}  // namespace

std::string_view to_string(Algorithm alg) noexcept {
  switch (alg) {
    case Algorithm::ed25519: return "ed25519";
    case Algorithm::rsa2048: return "rsa2048";
    case Algorithm::rsa3072: return "rsa3072";
    case Algorithm::rsa4096: return "rsa4096";
  }
  return "unknown";
}

std::optional<Algorithm> parse_algorithm(std::string_view text) noexcept {
  for (const auto alg : {Algorithm::ed25519, Algorithm::rsa2048, Algorithm::rsa3072, Algorithm::rsa4096}) {
    if (to_string(alg) == text) return alg;
  }
  return std::nullopt;
}

PublicKey PublicKey::from_der(ByteView spki_der) {
  const unsigned char* p = spki_der.data();
  EVP_PKEY* raw = ::d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size()));
  if (raw == nullptr || p != spki_der.data() + spki_der.size()) {
    ::EVP_PKEY_free(raw);
    throw KeyError(ErrorKind::bad_data, "not a SubjectPublicKeyInfo DER public key");
  }
  PublicKey key;
  key.m_pkey.reset(raw, ::EVP_PKEY_free);
  const int id = ::EVP_PKEY_get_base_id(raw);
  if (id == EVP_PKEY_ED25519) {
    key.m_alg = Algorithm::ed25519;
    key.m_raw.resize(kEd25519PublicKeyBytes);
    std::size_t len = key.m_raw.size();
    if (::EVP_PKEY_get_raw_public_key(raw, key.m_raw.data(), &len) != 1 || len != kEd25519PublicKeyBytes) {
      throw KeyError(ErrorKind::bad_data, "cannot read the Ed25519 public key");
    }
  } else if (id == EVP_PKEY_RSA) {
    switch (::EVP_PKEY_get_bits(raw)) {
      case 2048: key.m_alg = Algorithm::rsa2048; break;
      case 3072: key.m_alg = Algorithm::rsa3072; break;
      case 4096: key.m_alg = Algorithm::rsa4096; break;
      default:
        throw KeyError(ErrorKind::bad_data, "RSA public key of " + std::to_string(::EVP_PKEY_get_bits(raw)) +
                                                " bits: only 2048, 3072 and 4096 are supported");
    }
  } else {
    throw KeyError(ErrorKind::bad_data, "unsupported public key type: only Ed25519 and RSA are supported");
  }
  // Re-encode so that the key id does not depend on how the input was encoded.
  unsigned char* out = nullptr;
  const int len = ::i2d_PUBKEY(raw, &out);
  if (len <= 0) throw KeyError(ErrorKind::software, "i2d_PUBKEY failed");
  key.m_der.assign(out, out + len);
  ::OPENSSL_free(out);
  key.m_key_id = to_hex(sha256(key.m_der));
  return key;
}

PublicKey PublicKey::from_pem(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(::BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw KeyError(ErrorKind::software, "BIO_new_mem_buf failed");
  EVP_PKEY* raw = ::PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) throw KeyError(ErrorKind::bad_data, "not a 'BEGIN PUBLIC KEY' PEM public key");
  unsigned char* out = nullptr;
  const int len = ::i2d_PUBKEY(raw, &out);
  ::EVP_PKEY_free(raw);
  if (len <= 0) throw KeyError(ErrorKind::software, "i2d_PUBKEY failed");
  const Bytes der(out, out + len);
  ::OPENSSL_free(out);
  return from_der(der);
}

PublicKey PublicKey::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyError(ErrorKind::no_input, "cannot read public key file " + path.string());
  std::string content;
  content.resize(kMaxKeyFileBytes + 1);
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<std::size_t>(in.gcount()));
  if (content.size() > kMaxKeyFileBytes) {
    throw KeyError(ErrorKind::bad_data, path.string() + ": public key file larger than 64 KiB");
  }
  try {
    if (content.find("-----BEGIN") != std::string::npos) return from_pem(content);
    return from_der(as_bytes(content));
  } catch (const KeyError& e) {
    throw KeyError(e.kind(), path.string() + ": " + e.what());
  }
}

std::string PublicKey::pem() const {
  std::unique_ptr<BIO, BioFree> bio(::BIO_new(::BIO_s_mem()));
  if (!bio || ::PEM_write_bio_PUBKEY(bio.get(), m_pkey.get()) != 1) {
    throw KeyError(ErrorKind::software, "PEM_write_bio_PUBKEY failed");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return {data, static_cast<std::size_t>(len)};
}

bool PublicKey::verify(ByteView message, ByteView signature) const {
  if (m_alg == Algorithm::ed25519) {
    ensure_sodium();
    return signature.size() == kEd25519SignatureBytes &&
           ::crypto_sign_verify_detached(signature.data(), message.data(), message.size(), m_raw.data()) == 0;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(::EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || ::EVP_DigestVerifyInit(ctx.get(), &pctx, ::EVP_sha512(), nullptr, m_pkey.get()) != 1 ||
      ::EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    throw KeyError(ErrorKind::software, "EVP_DigestVerifyInit failed");
  }
  return ::EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) == 1;
}

}  // namespace signet::keystore
