// Token objects other than signing: destroying a key pair, and the small data
// objects (CKO_DATA) Signet keeps in the token, such as the audit log's anchored head.
#include <array>

#include "p11.hpp"

namespace signet::hsm {

using detail::check;
using detail::fns;

namespace {

constexpr CK_BBOOL kTrue = CK_TRUE;

CK_ATTRIBUTE attr(CK_ATTRIBUTE_TYPE type, const void* value, std::size_t size) {
  return {type, const_cast<void*>(value), static_cast<CK_ULONG>(size)};
}

// One C_FindObjectsInit .. C_FindObjectsFinal on a session; Final runs whatever happens.
class FindOperation {
 public:
  FindOperation(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session, std::vector<CK_ATTRIBUTE>& tmpl)
      : m_fn(fn), m_session(session) {
    check(fn->C_FindObjectsInit(session, tmpl.data(), static_cast<CK_ULONG>(tmpl.size())),
          "C_FindObjectsInit");
  }
  ~FindOperation() noexcept {
    if (m_open) m_fn->C_FindObjectsFinal(m_session);
  }
  FindOperation(const FindOperation&) = delete;  // ends its search exactly once
  FindOperation& operator=(const FindOperation&) = delete;

  // Every matching handle, then C_FindObjectsFinal (checked).
  std::vector<CK_OBJECT_HANDLE> all() {
    std::vector<CK_OBJECT_HANDLE> handles;
    for (;;) {
      std::array<CK_OBJECT_HANDLE, 16> batch{};
      CK_ULONG n = 0;
      check(m_fn->C_FindObjects(m_session, batch.data(), batch.size(), &n), "C_FindObjects");
      if (n == 0) break;
      handles.insert(handles.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(n));
    }
    m_open = false;
    check(m_fn->C_FindObjectsFinal(m_session), "C_FindObjectsFinal");
    return handles;
  }

 private:
  CK_FUNCTION_LIST* m_fn;
  CK_SESSION_HANDLE m_session;
  bool m_open = true;
};

// The data objects with this application and label.
std::vector<CK_OBJECT_HANDLE> find_data(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session,
                                        const std::string& application, const std::string& label) {
  const CK_OBJECT_CLASS data_class = CKO_DATA;
  std::vector<CK_ATTRIBUTE> tmpl{attr(CKA_CLASS, &data_class, sizeof data_class),
                                 attr(CKA_APPLICATION, application.data(), application.size()),
                                 attr(CKA_LABEL, label.data(), label.size())};
  FindOperation find(fn, session, tmpl);
  return find.all();
}

}  // namespace

void Token::destroy(const KeyPair& key) {
  CK_FUNCTION_LIST* fn = fns(*m_module);
  const SessionLease session(*this);
  const std::string where = " of key '" + key.label + "' on token '" + m_info.label + "'";
  check(fn->C_DestroyObject(session.get(), key.private_handle), "C_DestroyObject(private key)" + where);
  if (key.public_handle != 0)
    check(fn->C_DestroyObject(session.get(), key.public_handle), "C_DestroyObject(public key)" + where);
}

std::vector<Bytes> Token::read_data(const std::string& application, const std::string& label) const {
  CK_FUNCTION_LIST* fn = fns(*m_module);
  const SessionLease session(*this);
  std::vector<Bytes> values;
  const std::string what =
      "C_GetAttributeValue(CKA_VALUE of '" + label + "') on token '" + m_info.label + "'";
  for (const auto handle : find_data(fn, session.get(), application, label)) {
    CK_ATTRIBUTE a = attr(CKA_VALUE, nullptr, 0);
    check(fn->C_GetAttributeValue(session.get(), handle, &a, 1), what);
    Bytes value(a.ulValueLen);
    a.pValue = value.data();
    check(fn->C_GetAttributeValue(session.get(), handle, &a, 1), what);
    value.resize(a.ulValueLen);
    values.push_back(std::move(value));
  }
  return values;
}

void Token::write_data(const std::string& application, const std::string& label, ByteView value) {
  CK_FUNCTION_LIST* fn = fns(*m_module);
  const SessionLease session(*this);
  const std::string where = "data object '" + label + "' on token '" + m_info.label + "'";
  // SoftHSM2 wants a valid pointer even for an empty value.
  static constexpr CK_BYTE kNothing = 0;
  const void* bytes = value.empty() ? &kNothing : value.data();
  const auto existing = find_data(fn, session.get(), application, label);
  if (existing.size() == 1) {
    CK_ATTRIBUTE a = attr(CKA_VALUE, bytes, value.size());
    const CK_RV rv = fn->C_SetAttributeValue(session.get(), existing.front(), &a, 1);
    if (rv == CKR_OK) return;
    if (rv != CKR_ATTRIBUTE_READ_ONLY && rv != CKR_ACTION_PROHIBITED)
      check(rv, "C_SetAttributeValue(CKA_VALUE) of " + where);
  }
  const CK_OBJECT_CLASS data_class = CKO_DATA;
  std::vector<CK_ATTRIBUTE> tmpl{attr(CKA_CLASS, &data_class, sizeof data_class),
                                 attr(CKA_TOKEN, &kTrue, sizeof kTrue),
                                 attr(CKA_PRIVATE, &kTrue, sizeof kTrue),
                                 attr(CKA_MODIFIABLE, &kTrue, sizeof kTrue),
                                 attr(CKA_APPLICATION, application.data(), application.size()),
                                 attr(CKA_LABEL, label.data(), label.size()),
                                 attr(CKA_VALUE, bytes, value.size())};
  CK_OBJECT_HANDLE created = 0;
  check(fn->C_CreateObject(session.get(), tmpl.data(), static_cast<CK_ULONG>(tmpl.size()), &created),
        "C_CreateObject of " + where);
  for (const auto old : existing)
    check(fn->C_DestroyObject(session.get(), old), "C_DestroyObject of an older " + where);
}

}  // namespace signet::hsm
