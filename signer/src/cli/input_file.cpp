#include "input_file.hpp"

#include "signet/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace signet::cli {

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// An open regular file; closes on destruction.
class InputFd {
 public:
  InputFd(const std::filesystem::path& path, std::string_view what) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (m_fd < 0)
      throw Error(ErrorKind::no_input, path.string() + ": cannot open " + std::string(what) + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(m_fd, &st) != 0) {
      const int err = errno;
      ::close(m_fd);
      throw Error(ErrorKind::no_input, path.string() + ": cannot examine " + std::string(what) + ": " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(m_fd);
      throw Error(ErrorKind::no_input, path.string() + ": " + std::string(what) + " must be a regular file, not " +
                                           kind_of(st.st_mode));
    }
  }
  InputFd(const InputFd&) = delete;  // owns the descriptor
  InputFd& operator=(const InputFd&) = delete;
  ~InputFd() noexcept { ::close(m_fd); }
  [[nodiscard]] int fd() const noexcept { return m_fd; }

 private:
  int m_fd = -1;
};

}  // namespace

std::string read_input_file(const std::filesystem::path& path, std::size_t limit, std::string_view what) {
  const InputFd in(path, what);
  std::string content(limit, '\0');
  std::size_t done = 0;
  while (done < limit) {
    const auto n = ::read(in.fd(), content.data() + done, limit - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw Error(ErrorKind::io, path.string() + ": cannot read " + std::string(what) + ": " + std::strerror(errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  content.resize(done);
  return content;
}

void require_input_file(const std::filesystem::path& path, std::string_view what) { const InputFd in(path, what); }

}  // namespace signet::cli
