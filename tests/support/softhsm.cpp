#include "softhsm.hpp"

#include <sys/stat.h>
#include <sys/wait.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <vector>

namespace signet::test {

namespace {

constexpr std::size_t kMaxLabelBytes = 32;  // CK_TOKEN_INFO.label

std::string single_quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::filesystem::path make_temp_dir() {
  std::string pattern = "/tmp/signet-softhsm-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  return {buf.data()};
}

}  // namespace

SoftHsm::SoftHsm(std::string label) : m_label(std::move(label)) {
  if (m_label.empty() || m_label.size() > kMaxLabelBytes) {
    throw std::invalid_argument("SoftHSM token label must be 1 to 32 bytes: '" + m_label + "'");
  }
  if (const char* previous = std::getenv("SOFTHSM2_CONF"); previous != nullptr) m_previous_conf = previous;
  m_dir = make_temp_dir();
  try {
    const auto tokens = m_dir / "tokens";
    if (::mkdir(tokens.c_str(), 0700) != 0) {
      throw std::system_error(errno, std::generic_category(), "mkdir " + tokens.string());
    }
    {
      std::ofstream conf(conf_path());
      conf << "directories.tokendir = " << tokens.string() << "\n"
           << "objectstore.backend = file\n"
           << "log.level = ERROR\n";
      if (!conf.flush()) throw std::runtime_error("cannot write " + conf_path().string());
    }
    activate();
    const auto log = m_dir / "init-token.log";
    const std::string command = "softhsm2-util --init-token --free --label " + single_quoted(m_label) +
                                " --so-pin " + so_pin() + " --pin " + user_pin() + " >" +
                                single_quoted(log.string()) + " 2>&1";
    const int status = std::system(command.c_str());
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw std::runtime_error("'" + command + "' failed (status " + std::to_string(status) +
                               "): " + read_all(log));
    }
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
    if (m_previous_conf) {
      ::setenv("SOFTHSM2_CONF", m_previous_conf->c_str(), 1);
    } else {
      ::unsetenv("SOFTHSM2_CONF");
    }
    throw;
  }
}

SoftHsm::~SoftHsm() noexcept {
  const char* current = std::getenv("SOFTHSM2_CONF");
  if (current != nullptr && conf_path() == current) {
    if (m_previous_conf) {
      ::setenv("SOFTHSM2_CONF", m_previous_conf->c_str(), 1);
    } else {
      ::unsetenv("SOFTHSM2_CONF");
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(m_dir, ec);
}

SoftHsm& SoftHsm::shared() {
  static SoftHsm instance("signet-test");
  instance.activate();
  return instance;
}

void SoftHsm::activate() const {
  if (::setenv("SOFTHSM2_CONF", conf_path().c_str(), 1) != 0) {
    throw std::system_error(errno, std::generic_category(), "setenv SOFTHSM2_CONF");
  }
}

std::string SoftHsm::token_uri() const {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out = "pkcs11:token=";
  for (const char c : m_label) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4U];
      out += kHex[u & 0xFU];
    }
  }
  return out;
}

}  // namespace signet::test
