#include "output.hpp"

#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace signet::issue {

namespace {

class Fd {
 public:
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() noexcept {
    if (m_fd >= 0) ::close(m_fd);
  }
  Fd(const Fd&) = delete;  // owns the descriptor
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const noexcept { return m_fd; }
  int release() noexcept {
    const int fd = m_fd;
    m_fd = -1;
    return fd;
  }

 private:
  int m_fd;
};

ErrorKind kind_for(int err) noexcept {
  // A folder that refuses files, or a file system with no room for them: the output cannot be created.
  return err == EACCES || err == EPERM || err == EROFS || err == ENOSPC || err == EDQUOT || err == EFBIG
             ? ErrorKind::cant_create
             : ErrorKind::io;
}

[[noreturn]] void fail(int err, const std::string& what, const std::filesystem::path& file) {
  throw Error(kind_for(err), what + " " + file.string() + ": " + std::strerror(err));
}

std::string temp_name(const std::string& name) {
  std::array<std::uint8_t, 6> r{};
  random_fill(r);
  return "." + name + ".tmp-" + to_hex(r);  // hidden, and not a *.license file if a crash leaves it
}

}  // namespace

OutputFolder::OutputFolder(std::filesystem::path dir) : m_dir(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(m_dir, ec);
  if (ec) throw Error(ErrorKind::cant_create, "cannot create output folder " + m_dir.string() + ": " + ec.message());
  if (!std::filesystem::is_directory(m_dir)) {
    throw Error(ErrorKind::cant_create, "output path " + m_dir.string() + " is not a folder");
  }
  if (::access(m_dir.c_str(), W_OK | X_OK) != 0) {
    fail(errno, "cannot write to output folder", m_dir);
  }
}

void OutputFolder::write_all(const std::vector<OutputFile>& files) {
  if (files.empty()) return;
  std::vector<std::filesystem::path> temps;
  temps.reserve(files.size());
  const auto cleanup = [&temps]() noexcept {
    for (const auto& t : temps) ::unlink(t.c_str());
  };
  try {
    int last_fd = -1;
    for (const auto& file : files) {
      const auto temp = m_dir / temp_name(file.name);
      Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (fd.get() < 0) fail(errno, "cannot create", temp);
      temps.push_back(temp);
      std::size_t done = 0;
      while (done < file.content.size()) {
        const ssize_t n = ::write(fd.get(), file.content.data() + done, file.content.size() - done);
        if (n < 0) {
          if (errno == EINTR) continue;
          fail(errno, "cannot write", m_dir / file.name);
        }
        done += static_cast<std::size_t>(n);
      }
      if (last_fd >= 0) ::close(last_fd);
      last_fd = fd.release();
    }
    // One flush of the file system instead of one fsync per file.
    const int sync_rc = ::syncfs(last_fd);
    const int sync_err = errno;
    ::close(last_fd);
    if (sync_rc != 0) fail(sync_err, "cannot flush", m_dir);
  } catch (...) {
    cleanup();
    throw;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto target = m_dir / files[i].name;
    if (::rename(temps[i].c_str(), target.c_str()) != 0) {
      const int err = errno;
      for (std::size_t j = i; j < temps.size(); ++j) ::unlink(temps[j].c_str());
      fail(err, "cannot rename into place", target);
    }
  }
  Fd dir(::open(m_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) fail(errno, "cannot flush folder", m_dir);
}

}  // namespace signet::issue
