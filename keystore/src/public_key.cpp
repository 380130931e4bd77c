#include "signet/core/crypto.hpp"
#include "signet/core/openssl.hpp"
#include "signet/keystore/keys.hpp"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include <algorithm>
#include <array>
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

namespace {

struct SequenceFree {
  void operator()(ASN1_SEQUENCE_ANY* seq) const noexcept { sk_ASN1_TYPE_pop_free(seq, ::ASN1_TYPE_free); }
};
using Sequence = std::unique_ptr<ASN1_SEQUENCE_ANY, SequenceFree>;

// The SubjectPublicKeyInfo of every Ed25519 key starts with these 12 bytes
// (RFC 8410 section 4): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits, 32 bytes) }.
constexpr std::array<unsigned char, 12> kEd25519SpkiPrefix{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                           0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

// A DER SEQUENCE of `count` elements, parsed with OpenSSL's generic ASN.1
// reader, that re-encodes to exactly its input (so it is DER, not merely BER).
Sequence der_sequence(const unsigned char* data, long length, int count) {
  const unsigned char* p = data;
  Sequence seq(::d2i_ASN1_SEQUENCE_ANY(nullptr, &p, length));
  if (!seq || p != data + length || sk_ASN1_TYPE_num(seq.get()) != count) return nullptr;
  unsigned char* out = nullptr;
  const int len = ::i2d_ASN1_SEQUENCE_ANY(seq.get(), &out);
  const bool same = len == length && std::equal(out, out + len, data);
  ::OPENSSL_free(out);
  return same ? std::move(seq) : nullptr;
}

// The key of an RSA SubjectPublicKeyInfo in DER (RFC 3279 section 2.3.1),
// built from its modulus and exponent with the key manager alone.
openssl::Pkey rsa_from_spki(ByteView der) {
  Sequence spki = der_sequence(der.data(), static_cast<long>(der.size()), 2);
  if (!spki) return nullptr;
  const ASN1_TYPE* alg = sk_ASN1_TYPE_value(spki.get(), 0);
  const ASN1_TYPE* bits = sk_ASN1_TYPE_value(spki.get(), 1);
  if (alg->type != V_ASN1_SEQUENCE || bits->type != V_ASN1_BIT_STRING) return nullptr;
  Sequence id = der_sequence(alg->value.sequence->data, alg->value.sequence->length, 2);
  if (!id) return nullptr;
  const ASN1_TYPE* oid = sk_ASN1_TYPE_value(id.get(), 0);
  const ASN1_TYPE* null = sk_ASN1_TYPE_value(id.get(), 1);
  if (oid->type != V_ASN1_OBJECT || ::OBJ_obj2nid(oid->value.object) != NID_rsaEncryption ||
      null->type != V_ASN1_NULL) {
    return nullptr;
  }
  const ASN1_BIT_STRING* content = bits->value.bit_string;
  if ((content->flags & ASN1_STRING_FLAG_BITS_LEFT) != 0 && (content->flags & 0x07) != 0) return nullptr;
  Sequence rsa = der_sequence(content->data, content->length, 2);
  if (!rsa) return nullptr;
  const ASN1_TYPE* n_int = sk_ASN1_TYPE_value(rsa.get(), 0);
  const ASN1_TYPE* e_int = sk_ASN1_TYPE_value(rsa.get(), 1);
  if (n_int->type != V_ASN1_INTEGER || e_int->type != V_ASN1_INTEGER) return nullptr;  // negatives are V_ASN1_NEG_INTEGER
  const openssl::Bn n(::ASN1_INTEGER_to_BN(n_int->value.integer, nullptr));
  const openssl::Bn e(::ASN1_INTEGER_to_BN(e_int->value.integer, nullptr));
  return openssl::rsa_public_key(n.get(), e.get());
}

}  // namespace

PublicKey PublicKey::from_der(ByteView spki_der) {
  // Canonical DER of an Ed25519 or RSA key, the form Signet and OpenSSL write,
  // is read without OpenSSL 3's decoder and encoder machinery (whose set-up is
  // most of a `signet verify` process's own time) and keeps its bytes as the
  // key id's input. Anything else goes through d2i_PUBKEY and is re-encoded,
  // so that the key id never depends on how the input was encoded.
  openssl::Pkey fast;
  if (spki_der.size() == kEd25519SpkiPrefix.size() + kEd25519PublicKeyBytes &&
      std::equal(kEd25519SpkiPrefix.begin(), kEd25519SpkiPrefix.end(), spki_der.data())) {
    fast.reset(::EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr,
                                                spki_der.data() + kEd25519SpkiPrefix.size(), kEd25519PublicKeyBytes));
  } else if (spki_der.size() > 2 && spki_der[0] == 0x30) {
    fast = rsa_from_spki(spki_der);
  }
  ::ERR_clear_error();
  EVP_PKEY* raw = fast.release();
  const bool canonical = raw != nullptr;
  if (raw == nullptr) {
    const unsigned char* p = spki_der.data();
    raw = ::d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size()));
    if (raw == nullptr || p != spki_der.data() + spki_der.size()) {
      ::EVP_PKEY_free(raw);
      throw KeyError(ErrorKind::bad_data, "not a SubjectPublicKeyInfo DER public key");
    }
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
  if (canonical) {
    key.m_der.assign(spki_der.begin(), spki_der.end());
  } else {
    unsigned char* out = nullptr;
    const int len = ::i2d_PUBKEY(raw, &out);
    if (len <= 0) throw KeyError(ErrorKind::software, "i2d_PUBKEY failed");
    key.m_der.assign(out, out + len);
    ::OPENSSL_free(out);
  }
  key.m_key_id = to_hex(sha256(key.m_der));
  return key;
}

PublicKey PublicKey::from_pem(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(::BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw KeyError(ErrorKind::software, "BIO_new_mem_buf failed");
  // Only the armour is undone here (the first "PUBLIC KEY" block, base64);
  // from_der parses the DER. PEM_read_bio_PUBKEY would do the same through
  // OpenSSL 3's decoder and encoder machinery, whose set-up is most of a
  // `signet verify` process's own time. An encrypted block is refused, never
  // prompted for: the password callback declines.
  unsigned char* data = nullptr;
  long len = 0;
  const auto no_password = [](char*, int, int, void*) -> int { return -1; };
  if (::PEM_bytes_read_bio(&data, &len, nullptr, PEM_STRING_PUBLIC, bio.get(), no_password, nullptr) != 1 ||
      len <= 0) {
    ::OPENSSL_free(data);
    ::ERR_clear_error();
    throw KeyError(ErrorKind::bad_data, "not a 'BEGIN PUBLIC KEY' PEM public key");
  }
  const Bytes der(data, data + len);
  ::OPENSSL_free(data);
  // A second block would be ignored unseen: a file holding a rotation's two
  // keys would verify against whichever came first. One key per file.
  char* rest = nullptr;
  const long rest_len = BIO_get_mem_data(bio.get(), &rest);
  if (rest_len > 0 && std::string_view(rest, static_cast<std::size_t>(rest_len)).find("-----BEGIN ") != std::string_view::npos)
    throw KeyError(ErrorKind::bad_data, "holds more than one PEM block: give each public key in a file of its own");
  return from_der(der);
}

PublicKey PublicKey::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyError(ErrorKind::no_input, "cannot read public key file " + path.string());
  // Read in pieces, up to one byte past the limit: a key is a few hundred
  // bytes, and a zeroed buffer of the limit cost 16 page faults per process.
  std::string content;
  std::array<char, 4096> piece{};
  while (content.size() <= kMaxKeyFileBytes &&
         in.read(piece.data(),
                 static_cast<std::streamsize>(std::min(piece.size(), kMaxKeyFileBytes + 1 - content.size())))
                 .gcount() > 0) {
    content.append(piece.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw KeyError(ErrorKind::no_input, "cannot read public key file " + path.string());
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
  if (!bio || ::PEM_write_bio(bio.get(), PEM_STRING_PUBLIC, "", m_der.data(), static_cast<long>(m_der.size())) <= 0) {
    throw KeyError(ErrorKind::software, "PEM_write_bio failed");
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
