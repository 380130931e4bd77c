#include "p11.hpp"
#include "p11kit.hpp"

#include <cstring>
#include <utility>

namespace signet::hsm {

namespace {

P11KitUri* raw(void* p) noexcept { return static_cast<P11KitUri*>(p); }

template <std::size_t N>
void fill(CK_UTF8CHAR (&field)[N], const std::string& text) {
  std::memset(field, ' ', N);
  std::memcpy(field, text.data(), std::min(N, text.size()));
}

}  // namespace

Uri Uri::parse(const std::string& text) {
  P11KitUri* uri = detail::p11kit().uri_new();
  if (uri == nullptr) throw HsmError(ErrorKind::software, "p11_kit_uri_new failed");
  const int rc = detail::p11kit().uri_parse(text.c_str(), P11_KIT_URI_FOR_ANY, uri);
  if (rc != P11_KIT_URI_OK) {
    detail::p11kit().uri_free(uri);
    throw HsmError(ErrorKind::config, "PKCS#11 URI '" + text + "': " + detail::p11kit().uri_message(rc));
  }
  return {uri, text};
}

Uri::~Uri() noexcept {
  if (m_uri != nullptr) detail::p11kit().uri_free(raw(m_uri));
}

Uri::Uri(Uri&& other) noexcept : m_uri(std::exchange(other.m_uri, nullptr)), m_text(std::move(other.m_text)) {}

Uri& Uri::operator=(Uri&& other) noexcept {
  if (this != &other) {
    if (m_uri != nullptr) detail::p11kit().uri_free(raw(m_uri));
    m_uri = std::exchange(other.m_uri, nullptr);
    m_text = std::move(other.m_text);
  }
  return *this;
}

std::optional<std::string> Uri::object_label() const {
  const CK_ATTRIBUTE* a = detail::p11kit().uri_get_attribute(raw(m_uri), CKA_LABEL);
  if (a == nullptr) return std::nullopt;
  return std::string(static_cast<const char*>(a->pValue), a->ulValueLen);
}

std::optional<Bytes> Uri::object_id() const {
  const CK_ATTRIBUTE* a = detail::p11kit().uri_get_attribute(raw(m_uri), CKA_ID);
  if (a == nullptr) return std::nullopt;
  const auto* p = static_cast<const std::uint8_t*>(a->pValue);
  return Bytes(p, p + a->ulValueLen);
}

std::optional<unsigned long> Uri::object_class() const {
  const CK_ATTRIBUTE* a = detail::p11kit().uri_get_attribute(raw(m_uri), CKA_CLASS);
  if (a == nullptr || a->ulValueLen != sizeof(CK_OBJECT_CLASS)) return std::nullopt;
  CK_OBJECT_CLASS cls = 0;
  std::memcpy(&cls, a->pValue, sizeof cls);
  return cls;
}

bool Uri::matches_token(const std::string& label, const std::string& manufacturer, const std::string& model,
                        const std::string& serial) const {
  CK_TOKEN_INFO info{};
  fill(info.label, label);
  fill(info.manufacturerID, manufacturer);
  fill(info.model, model);
  fill(info.serialNumber, serial);
  return detail::p11kit().uri_match_token_info(raw(m_uri), &info) == 1;
}

}  // namespace signet::hsm
