// Private to hsm/: the PKCS#11 headers and the one place every CK_RV is checked.
#pragma once

#include "signet/hsm/hsm.hpp"

#include <p11-kit/pkcs11.h>

#include <exception>
#include <string_view>

namespace signet::hsm::detail {

inline CK_FUNCTION_LIST* fns(const Module& module) noexcept {
  return static_cast<CK_FUNCTION_LIST*>(module.functions());
}

// The error kind a CK_RV maps to: PIN problems refuse the login (77), token and
// device problems make the HSM unavailable (69).
ErrorKind kind_of(CK_RV rv) noexcept;

// Throws HsmError("<operation>: CKR_...") unless rv is CKR_OK.
inline void check(CK_RV rv, std::string_view operation) {
  if (rv != CKR_OK) throw HsmError(kind_of(rv), std::string(operation) + ": " + ckr_name(rv), rv);
}

// Text of a fixed-width, blank-padded CK_UTF8CHAR field.
std::string padded(const CK_UTF8CHAR* field, std::size_t size);

}  // namespace signet::hsm::detail

namespace signet::hsm {

// Borrows a session from the pool for one operation and gives it back. When the
// operation failed (an exception is leaving), the session may still hold an
// active operation (a failed C_Sign does not always end it): it is closed, not reused.
class Token::SessionLease {
 public:
  explicit SessionLease(const Token& token)
      : m_token(token), m_session(token.acquire_session()), m_exceptions(std::uncaught_exceptions()) {}
  ~SessionLease() noexcept {
    if (std::uncaught_exceptions() > m_exceptions) m_token.discard_session(m_session);
    else m_token.release_session(m_session);
  }
  SessionLease(const SessionLease&) = delete;  // returns the session exactly once
  SessionLease& operator=(const SessionLease&) = delete;
  [[nodiscard]] CK_SESSION_HANDLE get() const noexcept { return m_session; }

 private:
  const Token& m_token;
  CK_SESSION_HANDLE m_session;
  int m_exceptions;
};

}  // namespace signet::hsm
