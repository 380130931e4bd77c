// Errors shared by every module. Each module throws its own subclass (HsmError,
// AuditError, ManifestError, ...); the kind decides the process exit code, in one
// place: the CLI (signer/src/cli/exit_codes). Messages never contain secrets.
#pragma once

#include <stdexcept>
#include <string>

namespace signet {

// What went wrong, in the terms of DESIGN.md's exit codes (sysexits.h).
enum class ErrorKind {
  verification_failed,  // 1: a signature, chain or proof does not hold
  usage,                // 64
  bad_data,             // 65: a manifest, license, export or file content is malformed
  no_input,             // 66: an input file does not exist or cannot be read
  unavailable,          // 69: module, token or key unavailable
  not_found,            // 69: a named token, key, license or entry does not exist
  cant_create,          // 73: cannot create an output file or folder
  already_exists,       // 73: creating something that exists (never overwritten)
  io,                   // 74: read/write error, database error
  busy,                 // 75: the audit log is locked by another writer
  login_refused,        // 77: wrong PIN, locked PIN, PIN on the command line
  config,               // 78: bad configuration, clock moved backwards
  software,             // 70: an internal error (a bug)
};

// The exit code DESIGN.md assigns to a kind of error.
int exit_code(ErrorKind kind) noexcept;

// The base of every Signet error: a kind and a message that names what the user
// needs (file, field, rule, operation, CKR_ name, SQLite code).
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), m_kind(kind) {}
  [[nodiscard]] ErrorKind kind() const noexcept { return m_kind; }

 private:
  ErrorKind m_kind;
};

}  // namespace signet
