#include "signet/hsm/pin.hpp"

#include "signet/core/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <sodium.h>

namespace signet::hsm {

namespace {

// Reads bytes into the buffer until EOF or a newline; the descriptor is the caller's.
void read_into(int fd, SecretBuffer& pin, const std::string& what, bool stop_at_newline) {
  for (;;) {
    std::uint8_t c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      pin.clear();
      throw Error(ErrorKind::config, "cannot read the PIN from " + what + ": " + std::strerror(errno));
    }
    if (n == 0 || (stop_at_newline && c == '\n')) break;
    if (pin.size() == pin.capacity()) {
      pin.clear();
      throw Error(ErrorKind::config, "the PIN from " + what + " is longer than " + std::to_string(kMaxPinBytes) +
                                         " bytes");
    }
    pin.push_back(c);
  }
  pin.trim_newline();
}

SecretBuffer from_file(const std::string& path) {
  // O_NONBLOCK: a FIFO must be refused below, not waited on for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP)
    throw Error(ErrorKind::config, "PIN file " + path + ": is a symbolic link (not followed for a PIN file)");
  if (fd < 0) throw Error(ErrorKind::config, "PIN file " + path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorKind::config, "PIN file " + path + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    throw Error(ErrorKind::config, "PIN file " + path + ": readable by group or others (mode " +
                                       std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                                       std::to_string(st.st_mode & 7) + "); it must be owner-only: chmod 600");
  }
  SecretBuffer pin(kMaxPinBytes);
  try {
    read_into(fd, pin, "PIN file " + path, true);
    // The PIN is the first line; anything after it but line ends means the
    // file is not what the officer thinks (a second line dropped unseen, or
    // an empty first line taken as an empty PIN).
    for (std::size_t seen = 0; seen < 4096; ++seen) {
      std::uint8_t c = 0;
      const ssize_t n = ::read(fd, &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (c != '\n' && c != '\r') {
        pin.clear();
        throw Error(ErrorKind::config, "PIN file " + path + ": holds more than one line; it must hold the PIN alone, "
                                       "on its first line");
      }
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return pin;
}

SecretBuffer from_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) throw Error(ErrorKind::config, "PIN variable " + name + " is not set");
  const std::size_t len = std::strlen(value);
  if (len > kMaxPinBytes) {
    ::sodium_memzero(const_cast<char*>(value), len);
    ::unsetenv(name.c_str());
    throw Error(ErrorKind::config, "PIN variable " + name + " is too long");
  }
  SecretBuffer pin(kMaxPinBytes);
  for (std::size_t i = 0; i < len; ++i) pin.push_back(static_cast<std::uint8_t>(value[i]));
  pin.trim_newline();
  // Do not leave the PIN in this process's environment (children, /proc/self/environ).
  ::sodium_memzero(const_cast<char*>(value), len);
  ::unsetenv(name.c_str());
  return pin;
}

SecretBuffer from_fd(int fd) {
  if (fd < 0 || ::fcntl(fd, F_GETFD) < 0) {
    throw Error(ErrorKind::config, "PIN descriptor " + std::to_string(fd) + " is not open");
  }
  // The descriptor was handed over for the PIN alone: it is closed after reading, whatever happens.
  SecretBuffer pin(kMaxPinBytes);
  try {
    read_into(fd, pin, "descriptor " + std::to_string(fd), true);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return pin;
}

SecretBuffer from_prompt() {
  const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty < 0) {
    throw Error(ErrorKind::login_refused,
                "no terminal to ask for the PIN on: use --pin-fd N, --pin-file PATH or --pin-env NAME");
  }
  termios old {};
  const bool have_termios = ::tcgetattr(tty, &old) == 0;
  if (have_termios) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  static constexpr char kPrompt[] = "Token user PIN: ";
  const ssize_t w = ::write(tty, kPrompt, sizeof kPrompt - 1);
  (void)w;
  SecretBuffer pin(kMaxPinBytes);
  try {
    read_into(tty, pin, "the terminal", true);
  } catch (...) {
    if (have_termios) ::tcsetattr(tty, TCSAFLUSH, &old);
    ::close(tty);
    throw;
  }
  if (have_termios) ::tcsetattr(tty, TCSAFLUSH, &old);
  ::close(tty);
  return pin;
}

}  // namespace

SecretBuffer read_pin(const PinSource& source) {
  SecretBuffer pin;
  switch (source.kind()) {
    case PinSource::Kind::prompt: pin = from_prompt(); break;
    case PinSource::Kind::fd: pin = from_fd(source.fd()); break;
    case PinSource::Kind::file: pin = from_file(source.value()); break;
    case PinSource::Kind::env: pin = from_env(source.value()); break;
  }
  if (pin.empty()) throw Error(ErrorKind::login_refused, "empty PIN");
  if (std::find(pin.data(), pin.data() + pin.size(), std::uint8_t{0}) != pin.data() + pin.size()) {
    pin.clear();
    throw Error(ErrorKind::config, "the PIN holds a NUL byte (not a character a PIN is typed with)");
  }
  return pin;
}

}  // namespace signet::hsm
