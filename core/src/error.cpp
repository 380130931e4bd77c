#include "signet/core/error.hpp"

namespace signet {

int exit_code(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::verification_failed: return 1;
    case ErrorKind::usage: return 64;
    case ErrorKind::bad_data: return 65;
    case ErrorKind::no_input: return 66;
    case ErrorKind::unavailable:
    case ErrorKind::not_found: return 69;
    case ErrorKind::software: return 70;
    case ErrorKind::cant_create:
    case ErrorKind::already_exists: return 73;
    case ErrorKind::io: return 74;
    case ErrorKind::busy: return 75;
    case ErrorKind::login_refused: return 77;
    case ErrorKind::config: return 78;
  }
  return 70;
}

}  // namespace signet
