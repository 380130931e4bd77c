// Reading the token user PIN from where the officer chose: a no-echo prompt on
// the terminal, a file descriptor, an owner-only file, or a named environment
// variable (removed after reading). Never from a command-line value. The PIN goes
// into a locked, wiped SecretBuffer and into no error message.
#pragma once

#include "signet/core/crypto.hpp"

#include <string>

namespace signet::hsm {

inline constexpr std::size_t kMaxPinBytes = 256;

class PinSource {
 public:
  enum class Kind { prompt, fd, file, env };
  static PinSource prompt() { return {Kind::prompt, "", -1}; }
  static PinSource from_fd(int fd) { return {Kind::fd, "", fd}; }
  static PinSource from_file(std::string path) { return {Kind::file, std::move(path), -1}; }
  static PinSource from_env(std::string name) { return {Kind::env, std::move(name), -1}; }

  [[nodiscard]] Kind kind() const noexcept { return m_kind; }
  [[nodiscard]] const std::string& value() const noexcept { return m_value; }
  [[nodiscard]] int fd() const noexcept { return m_fd; }

 private:
  PinSource(Kind kind, std::string value, int fd) : m_kind(kind), m_value(std::move(value)), m_fd(fd) {}
  Kind m_kind;
  std::string m_value;
  int m_fd;
};

// Reads the PIN; throws Error(config) for an unreadable or too-open file, a
// missing variable or a bad descriptor, Error(login_refused) for an empty PIN or
// no terminal to prompt on. A trailing newline is dropped.
SecretBuffer read_pin(const PinSource& source);

}  // namespace signet::hsm
