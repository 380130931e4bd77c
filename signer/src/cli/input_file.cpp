#include "input_file.hpp"

#include "signet/core/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
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
    m_size = static_cast<std::uintmax_t>(st.st_size);
  }
  InputFd(const InputFd&) = delete;  // owns the descriptor
  InputFd& operator=(const InputFd&) = delete;
  ~InputFd() noexcept { ::close(m_fd); }
  [[nodiscard]] int fd() const noexcept { return m_fd; }
  // The size fstat gave when the file was opened (0 for some files of /proc).
  [[nodiscard]] std::uintmax_t size() const noexcept { return m_size; }

 private:
  int m_fd = -1;
  std::uintmax_t m_size = 0;
};

}  // namespace

std::string read_input_file(const std::filesystem::path& path, std::size_t limit, std::string_view what) {
  const InputFd in(path, what);
  // The buffer starts one byte past the file's size, so that the first short
  // read ends it, and grows only for a file that grew. A buffer of `limit`
  // zeroed bytes cost `signet verify` 16 page faults per file.
  constexpr std::size_t kFirstGuess = 4096;
  const std::uintmax_t hint = in.size() > 0 ? in.size() + 1 : kFirstGuess;
  std::string content(static_cast<std::size_t>(std::min<std::uintmax_t>(limit, hint)), '\0');
  std::size_t done = 0;
  while (done < limit) {
    if (done == content.size()) content.resize(std::min(limit, 2 * content.size()));
    const auto n = ::read(in.fd(), content.data() + done, content.size() - done);
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

Json held_checkpoint(Json file) {
  if (file.is_object() && file.contains("checkpoint")) return std::move(file["checkpoint"]);
  if (file.is_object() && file.contains("kind") && file["kind"] == "checkpoint" && file.contains("record") &&
      file["record"].is_object())
    return std::move(file["record"]);
  return file;
}

}  // namespace signet::cli
