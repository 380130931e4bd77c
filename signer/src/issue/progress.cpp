#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace signet::issue {

Progress::Progress(std::string what, std::size_t total, bool enabled)
    : m_what(std::move(what)),
      m_total(total),
      m_enabled(enabled && ::isatty(STDERR_FILENO) == 1),
      m_start(std::chrono::steady_clock::now()),
      m_last(m_start) {}

Progress::~Progress() noexcept { finish(); }

void Progress::update(std::size_t done) {
  if (!m_enabled) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - m_start < std::chrono::seconds(1) || (m_shown && now - m_last < std::chrono::milliseconds(100))) {
    return;
  }
  m_last = now;
  m_shown = true;
  constexpr std::size_t kWidth = 30;
  const std::size_t filled = m_total == 0 ? kWidth : kWidth * done / m_total;
  const double seconds = std::chrono::duration<double>(now - m_start).count();
  std::string bar(filled, '#');
  bar.resize(kWidth, ' ');
  std::fprintf(stderr, "\r%s [%s] %zu/%zu  %.0f/s ", m_what.c_str(), bar.c_str(), done, m_total,
               seconds > 0 ? static_cast<double>(done) / seconds : 0.0);
  std::fflush(stderr);
}

void Progress::finish() noexcept {
  if (m_shown) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    m_shown = false;
  }
}

}  // namespace signet::issue
