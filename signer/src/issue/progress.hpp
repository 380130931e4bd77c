// A progress bar on stderr, shown only on a terminal and only once a batch has
// run for more than a second. Not thread-safe: update from one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace signet::issue {

class Progress {
 public:
  Progress(std::string what, std::size_t total, bool enabled);
  ~Progress() noexcept;
  Progress(const Progress&) = delete;  // owns the terminal line
  Progress& operator=(const Progress&) = delete;
  void update(std::size_t done);
  void finish() noexcept;

 private:
  std::string m_what;
  std::size_t m_total;
  bool m_enabled;
  bool m_shown = false;
  std::chrono::steady_clock::time_point m_start;
  std::chrono::steady_clock::time_point m_last;
};

}  // namespace signet::issue
