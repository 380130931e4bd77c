#include "p11.hpp"
#include "p11kit.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>

namespace signet::hsm {

using detail::check;
using detail::fns;

namespace {

constexpr CK_BBOOL kTrue = CK_TRUE;
constexpr CK_BBOOL kFalse = CK_FALSE;
// DER of the Ed25519 OID 1.3.101.112 (RFC 8410), as CKA_EC_PARAMS.
constexpr std::array<std::uint8_t, 5> kEd25519Oid{0x06, 0x03, 0x2b, 0x65, 0x70};
// DER DigestInfo prefix for SHA-512 (RFC 8017 section 9.2, note 1).
constexpr std::array<std::uint8_t, 19> kSha512DigestInfo{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                         0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                         0x03, 0x05, 0x00, 0x04, 0x40};
constexpr std::size_t kEd25519SignatureBytes = 64;

CK_ATTRIBUTE attr(CK_ATTRIBUTE_TYPE type, const void* value, std::size_t size) {
  return {type, const_cast<void*>(value), static_cast<CK_ULONG>(size)};
}

TokenInfo read_info(CK_FUNCTION_LIST* fn, CK_SLOT_ID slot) {
  CK_TOKEN_INFO ti{};
  // SoftHSM2's file store can fail a read while another process rewrites the
  // token's files (CKR_GENERAL_ERROR). Reading token info changes nothing, so a
  // short bounded retry is safe (C_Login is retried only when the token shows
  // no user PIN, see Token::login; a wrong PIN never).
  CK_RV rv = CKR_OK;
  for (int attempt = 0; attempt < 5; ++attempt) {
    rv = fn->C_GetTokenInfo(slot, &ti);
    if (rv != CKR_GENERAL_ERROR) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20 * (attempt + 1)));
  }
  check(rv, "C_GetTokenInfo");
  return {detail::padded(ti.label, sizeof ti.label), detail::padded(ti.manufacturerID, sizeof ti.manufacturerID),
          detail::padded(ti.model, sizeof ti.model), detail::padded(ti.serialNumber, sizeof ti.serialNumber),
          ti.flags, slot};
}

std::string pct(ByteView bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const auto b : bytes) {
    out += '%';
    out += kHex[b >> 4U];
    out += kHex[b & 0xFU];
  }
  return out;
}

std::string pct_text(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += pct(ByteView(&u, 1));
    }
  }
  return out;
}

}  // namespace

Token::Token(std::shared_ptr<Module> module, TokenInfo info) : m_module(std::move(module)), m_info(std::move(info)) {}

std::shared_ptr<Token> Token::open(std::shared_ptr<Module> module, const Uri& uri) {
  CK_FUNCTION_LIST* fn = fns(*module);
  const auto& kit = detail::p11kit();
  auto* parsed = static_cast<P11KitUri*>(uri.m_uri);
  if (kit.uri_get_slot_id(parsed) != static_cast<CK_SLOT_ID>(-1))
    throw HsmError(ErrorKind::config, "token URI " + uri.text() + " names a slot (slot-id): signet finds a token by "
                                      "its label or serial, never by slot number, which can change when tokens are "
                                      "added or removed");
  // Every attribute of the URI must hold, RFC 7512: the library-* ones against
  // the module, the slot-* ones against each slot, the token ones against its token.
  CK_INFO module_info{};
  check(fn->C_GetInfo(&module_info), "C_GetInfo");
  if (kit.uri_match_module_info(parsed, &module_info) != 1)
    throw HsmError(ErrorKind::not_found, "no token matches " + uri.text() + " in module " + module->name() +
                                             ": its library attributes do not match the module");
  std::vector<TokenInfo> matches;
  // SoftHSM2 rewrites a token's file in place when another process logs in;
  // read meanwhile, the token shows no label, which a short retry here reads
  // again (listing slots changes nothing). A token it found absent at
  // C_Initialize stays absent until the module is loaded again: the caller
  // does that on HsmError::token_not_present (keystore's TokenKeys::open).
  for (int attempt = 0; attempt < 5 && matches.empty(); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(25 * attempt));
    CK_ULONG count = 0;
    check(fn->C_GetSlotList(CK_TRUE, nullptr, &count), "C_GetSlotList");
    std::vector<CK_SLOT_ID> slots(count);
    check(fn->C_GetSlotList(CK_TRUE, slots.data(), &count), "C_GetSlotList");
    slots.resize(count);
    for (const auto slot : slots) {
      CK_SLOT_INFO slot_info{};
      check(fn->C_GetSlotInfo(slot, &slot_info), "C_GetSlotInfo");
      if (kit.uri_match_slot_info(parsed, &slot_info) != 1) continue;
      auto info = read_info(fn, slot);
      if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
      if (uri.matches_token(info.label, info.manufacturer, info.model, info.serial)) matches.push_back(info);
    }
  }
  if (matches.empty()) {
    throw HsmError(ErrorKind::not_found, "no token matches " + uri.text() + " in module " + module->name(),
                   CKR_TOKEN_NOT_PRESENT);
  }
  if (matches.size() > 1) {
    throw HsmError(ErrorKind::not_found, std::to_string(matches.size()) + " tokens match " + uri.text() +
                                             ": name one by label and serial");
  }
  std::shared_ptr<Token> token(new Token(module, matches.front()));
  CK_SESSION_HANDLE session = 0;
  check(fn->C_OpenSession(token->m_info.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session),
        "C_OpenSession on token '" + token->m_info.label + "'");
  token->m_main_session = session;
  CK_ULONG n = 0;
  check(fn->C_GetMechanismList(token->m_info.slot, nullptr, &n), "C_GetMechanismList");
  std::vector<CK_MECHANISM_TYPE> mechs(n);
  check(fn->C_GetMechanismList(token->m_info.slot, mechs.data(), &n), "C_GetMechanismList");
  mechs.resize(n);
  token->m_mechanisms.assign(mechs.begin(), mechs.end());
  return token;
}

Token::~Token() noexcept {
  CK_FUNCTION_LIST* fn = fns(*m_module);
  for (const auto s : m_idle) fn->C_CloseSession(s);
  if (m_main_session != 0) {
    if (m_logged_in) fn->C_Logout(m_main_session);
    fn->C_CloseSession(m_main_session);
  }
}

TokenInfo Token::refresh_info() const { return read_info(fns(*m_module), m_info.slot); }

void Token::login(SecretBuffer& pin) {
  const CK_RV rv = fns(*m_module)->C_Login(m_main_session, CKU_USER, pin.data(), static_cast<CK_ULONG>(pin.size()));
  // No user PIN: nothing was checked against the PIN, and the caller may try
  // again with it (see HsmError::no_user_pin); every other answer decides.
  if (rv != CKR_USER_PIN_NOT_INITIALIZED) pin.clear();
  if (rv == CKR_OK) m_logged_in = true;
  if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) return;
  std::string hint;
  if (rv == CKR_PIN_INCORRECT) hint = " (wrong PIN; not retried: the token locks after repeated failures)";
  if (rv == CKR_PIN_LOCKED) hint = " (the user PIN is locked: the security officer must reset it)";
  if (rv == CKR_USER_PIN_NOT_INITIALIZED)
    hint = " (the token shows no user PIN: the security officer sets it, e.g. pkcs11-tool --init-pin; SoftHSM2 "
           "also shows this when it read its token file while another process was logging in)";
  throw HsmError(detail::kind_of(rv), "C_Login on token '" + m_info.label + "': " + ckr_name(rv) + hint, rv);
}

unsigned long Token::acquire_session() const {
  {
    const std::lock_guard lock(m_mutex);
    if (!m_idle.empty()) {
      const auto s = m_idle.back();
      m_idle.pop_back();
      return s;
    }
  }
  CK_SESSION_HANDLE session = 0;
  check(fns(*m_module)->C_OpenSession(m_info.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session),
        "C_OpenSession on token '" + m_info.label + "'");
  return session;
}

void Token::discard_session(unsigned long session) const noexcept { fns(*m_module)->C_CloseSession(session); }

void Token::release_session(unsigned long session) const noexcept {
  try {
    const std::lock_guard lock(m_mutex);
    m_idle.push_back(session);
  } catch (...) {
    fns(*m_module)->C_CloseSession(session);
  }
}

bool Token::has_mechanism(unsigned long mechanism) const {
  return std::find(m_mechanisms.begin(), m_mechanisms.end(), mechanism) != m_mechanisms.end();
}

KeyPair Token::generate(const KeySpec& spec) {
  if (spec.label.empty() || spec.label.size() > 255)
    throw HsmError(ErrorKind::usage, "a key label must be 1 to 255 bytes");
  if (spec.id.empty() || spec.id.size() > 255) throw HsmError(ErrorKind::usage, "a key's CKA_ID must be 1 to 255 bytes");
  if (!find(Uri::parse("pkcs11:id=" + pct(spec.id) + ";type=private")).empty())
    throw HsmError(ErrorKind::already_exists, "token '" + m_info.label + "' already has a key with CKA_ID " + to_hex(spec.id));
  if (!find(Uri::parse("pkcs11:object=" + pct_text(spec.label) + ";type=private")).empty()) {
    throw HsmError(ErrorKind::already_exists, "token '" + m_info.label + "' already has a key labelled '" +
                                                  spec.label + "': a key is never overwritten");
  }
  CK_FUNCTION_LIST* fn = fns(*m_module);
  const SessionLease session(*this);
  const CK_ULONG modulus_bits = spec.rsa_bits;
  constexpr std::array<std::uint8_t, 3> kExponent{0x01, 0x00, 0x01};
  std::vector<CK_ATTRIBUTE> pub{attr(CKA_TOKEN, &kTrue, sizeof kTrue), attr(CKA_VERIFY, &kTrue, sizeof kTrue),
                                attr(CKA_LABEL, spec.label.data(), spec.label.size()),
                                attr(CKA_ID, spec.id.data(), spec.id.size())};
  const std::vector<CK_ATTRIBUTE> priv{
      attr(CKA_TOKEN, &kTrue, sizeof kTrue),         attr(CKA_PRIVATE, &kTrue, sizeof kTrue),
      attr(CKA_SENSITIVE, &kTrue, sizeof kTrue),     attr(CKA_SIGN, &kTrue, sizeof kTrue),
      attr(CKA_EXTRACTABLE, &kFalse, sizeof kFalse), attr(CKA_LABEL, spec.label.data(), spec.label.size()),
      attr(CKA_ID, spec.id.data(), spec.id.size())};
  CK_MECHANISM mech{};
  if (spec.type == KeyType::ed25519) {
    mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
    pub.push_back(attr(CKA_EC_PARAMS, kEd25519Oid.data(), kEd25519Oid.size()));
  } else {
    if (spec.rsa_bits != 2048 && spec.rsa_bits != 3072 && spec.rsa_bits != 4096) {
      throw HsmError(ErrorKind::usage, "RSA keys are 2048, 3072 or 4096 bits");
    }
    mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
    pub.push_back(attr(CKA_MODULUS_BITS, &modulus_bits, sizeof modulus_bits));
    pub.push_back(attr(CKA_PUBLIC_EXPONENT, kExponent.data(), kExponent.size()));
  }
  CK_OBJECT_HANDLE pub_handle = 0;
  CK_OBJECT_HANDLE priv_handle = 0;
  check(fn->C_GenerateKeyPair(session.get(), &mech, pub.data(), static_cast<CK_ULONG>(pub.size()),
                              const_cast<CK_ATTRIBUTE*>(priv.data()), static_cast<CK_ULONG>(priv.size()),
                              &pub_handle, &priv_handle),
        "C_GenerateKeyPair on token '" + m_info.label + "'");
  return {priv_handle, pub_handle, spec.type, spec.type == KeyType::ed25519 ? 255UL : spec.rsa_bits, spec.label,
          spec.id};
}

std::vector<KeyPair> Token::find(const Uri& object_uri) const {
  CK_FUNCTION_LIST* fn = fns(*m_module);
  const SessionLease session(*this);
  const CK_OBJECT_CLASS priv_class = CKO_PRIVATE_KEY;
  const auto label = object_uri.object_label();
  const auto id = object_uri.object_id();
  std::vector<CK_ATTRIBUTE> tmpl{attr(CKA_CLASS, &priv_class, sizeof priv_class)};
  if (label) tmpl.push_back(attr(CKA_LABEL, label->data(), label->size()));
  if (id) tmpl.push_back(attr(CKA_ID, id->data(), id->size()));
  check(fn->C_FindObjectsInit(session.get(), tmpl.data(), static_cast<CK_ULONG>(tmpl.size())), "C_FindObjectsInit");
  std::vector<CK_OBJECT_HANDLE> handles;
  for (;;) {
    std::array<CK_OBJECT_HANDLE, 32> batch{};
    CK_ULONG n = 0;
    const CK_RV rv = fn->C_FindObjects(session.get(), batch.data(), batch.size(), &n);
    if (rv != CKR_OK) {
      fn->C_FindObjectsFinal(session.get());
      check(rv, "C_FindObjects");
    }
    if (n == 0) break;
    handles.insert(handles.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(n));
  }
  check(fn->C_FindObjectsFinal(session.get()), "C_FindObjectsFinal");

  std::vector<KeyPair> out;
  for (const auto h : handles) {
    KeyPair k;
    k.private_handle = h;
    CK_KEY_TYPE key_type = 0;
    std::array<char, 256> label_buf{};
    std::array<std::uint8_t, 256> id_buf{};
    std::array<CK_ATTRIBUTE, 3> a{attr(CKA_KEY_TYPE, &key_type, sizeof key_type),
                                  attr(CKA_LABEL, label_buf.data(), label_buf.size()),
                                  attr(CKA_ID, id_buf.data(), id_buf.size())};
    check(fn->C_GetAttributeValue(session.get(), h, a.data(), a.size()), "C_GetAttributeValue(private key)");
    if (key_type == CKK_EC_EDWARDS) {
      k.type = KeyType::ed25519;
      k.bits = 255;
    } else if (key_type == CKK_RSA) {
      k.type = KeyType::rsa;
    } else {
      continue;  // not a key type Signet signs with
    }
    k.label.assign(label_buf.data(), a[1].ulValueLen);
    k.id.assign(id_buf.begin(), id_buf.begin() + static_cast<std::ptrdiff_t>(a[2].ulValueLen));
    // The public half: a public key of the same type, CKA_ID and label.
    const CK_OBJECT_CLASS pub_class = CKO_PUBLIC_KEY;
    std::array<CK_ATTRIBUTE, 4> pt{attr(CKA_CLASS, &pub_class, sizeof pub_class),
                                   attr(CKA_ID, k.id.data(), k.id.size()),
                                   attr(CKA_KEY_TYPE, &key_type, sizeof key_type),
                                   attr(CKA_LABEL, k.label.data(), k.label.size())};
    check(fn->C_FindObjectsInit(session.get(), pt.data(), pt.size()), "C_FindObjectsInit");
    CK_OBJECT_HANDLE pub = 0;
    CK_ULONG n = 0;
    const CK_RV rv = fn->C_FindObjects(session.get(), &pub, 1, &n);
    check(fn->C_FindObjectsFinal(session.get()), "C_FindObjectsFinal");
    check(rv, "C_FindObjects");
    k.public_handle = n == 1 ? pub : 0;
    if (k.type == KeyType::rsa) {
      std::array<std::uint8_t, 1024> modulus{};
      CK_ATTRIBUTE m = attr(CKA_MODULUS, modulus.data(), modulus.size());
      check(fn->C_GetAttributeValue(session.get(), k.public_handle != 0 ? k.public_handle : h, &m, 1),
            "C_GetAttributeValue(CKA_MODULUS)");
      std::size_t len = m.ulValueLen;
      std::size_t lead = 0;
      while (lead < len && modulus[lead] == 0) ++lead;
      k.bits = (len - lead) * 8;
    }
    out.push_back(std::move(k));
  }
  return out;
}

std::optional<KeyPair> Token::find_by_id(ByteView id) const {
  auto keys = find(Uri::parse("pkcs11:id=" + pct(id) + ";type=private"));
  if (keys.empty()) return std::nullopt;
  if (keys.size() > 1)
    throw HsmError(ErrorKind::bad_data, "token '" + m_info.label + "' has " + std::to_string(keys.size()) +
                                            " private keys with CKA_ID " + to_hex(id) + ": refusing to guess");
  return keys.front();
}

Bytes Token::sign(const KeyPair& key, ByteView message) const {
  CK_FUNCTION_LIST* fn = fns(*m_module);
  const SessionLease session(*this);
  CK_MECHANISM mech{};
  Bytes input;
  ByteView data = message;
  std::size_t sig_len = kEd25519SignatureBytes;
  if (key.type == KeyType::ed25519) {
    mech.mechanism = CKM_EDDSA;
  } else {
    sig_len = (key.bits + 7) / 8;
    if (!m_force_digest_info && has_mechanism(CKM_SHA512_RSA_PKCS)) {
      mech.mechanism = CKM_SHA512_RSA_PKCS;
    } else {
      mech.mechanism = CKM_RSA_PKCS;
      const auto digest = sha512(message);
      input.assign(kSha512DigestInfo.begin(), kSha512DigestInfo.end());
      input.insert(input.end(), digest.begin(), digest.end());
      data = input;
    }
  }
  const std::string where = " with key '" + key.label + "' on token '" + m_info.label + "'";
  check(fn->C_SignInit(session.get(), &mech, key.private_handle), "C_SignInit" + where);
  Bytes signature(sig_len);
  auto len = static_cast<CK_ULONG>(signature.size());
  // An empty message still needs a valid pointer: SoftHSM2 refuses NULL (CKR_ARGUMENTS_BAD).
  static constexpr CK_BYTE kNothing = 0;
  if (data.empty()) data = ByteView(&kNothing, 0);
  // Single-part C_Sign: SoftHSM2 has no multi-part EdDSA.
  check(fn->C_Sign(session.get(), const_cast<CK_BYTE*>(data.data()), static_cast<CK_ULONG>(data.size()),
                   signature.data(), &len),
        "C_Sign" + where);
  signature.resize(len);
  return signature;
}

PrivateKeyAttributes Token::private_attributes(const KeyPair& key) const {
  CK_FUNCTION_LIST* fn = fns(*m_module);
  const SessionLease session(*this);
  CK_BBOOL token = 0, priv = 0, sensitive = 0, extractable = 0, sign = 0;
  std::array<CK_ATTRIBUTE, 5> a{attr(CKA_TOKEN, &token, 1), attr(CKA_PRIVATE, &priv, 1),
                                attr(CKA_SENSITIVE, &sensitive, 1), attr(CKA_EXTRACTABLE, &extractable, 1),
                                attr(CKA_SIGN, &sign, 1)};
  check(fn->C_GetAttributeValue(session.get(), key.private_handle, a.data(), a.size()),
        "C_GetAttributeValue(private key)");
  PrivateKeyAttributes out;
  out.token = token == CK_TRUE;
  out.is_private = priv == CK_TRUE;
  out.sensitive = sensitive == CK_TRUE;
  out.extractable = extractable == CK_TRUE;
  out.sign = sign == CK_TRUE;
  const CK_ATTRIBUTE_TYPE secret_attr = key.type == KeyType::rsa ? CKA_PRIVATE_EXPONENT : CKA_VALUE;
  CK_ATTRIBUTE value = attr(secret_attr, nullptr, 0);
  out.value_rv = fn->C_GetAttributeValue(session.get(), key.private_handle, &value, 1);
  return out;
}

std::string Token::key_uri(const KeyPair& key) const {
  return "pkcs11:token=" + pct_text(m_info.label) + ";serial=" + pct_text(m_info.serial) +
         ";object=" + pct_text(key.label) + ";id=" + pct(key.id) + ";type=private";
}

}  // namespace signet::hsm
