#include "output_file.hpp"

#include "signet/core/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace signet::cli {

void check_output_file(const std::filesystem::path& path, const std::vector<std::filesystem::path>& keep) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const auto refuse = [&](const std::string& why) {
    throw Error(ErrorKind::cant_create, "cannot write " + path.string() + ": " + why);
  };
  struct stat folder {};
  if (::stat(dir.c_str(), &folder) != 0 || !S_ISDIR(folder.st_mode)) refuse("its folder " + dir.string() + " does not exist");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) refuse("its folder " + dir.string() + " is not writable");
  // The appliance's own files by name too: a -journal, -wal or -shm that does
  // not exist now is one SQLite may make (an output there would stop every
  // reader of the log, and be deleted by the next writer).
  std::error_code ec;
  const auto where = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  for (const auto& own : keep) {
    std::error_code oc;
    if (!ec && std::filesystem::weakly_canonical(std::filesystem::absolute(own, oc), oc) == where && !oc)
      refuse("it is the appliance's own " + own.string() + ", which an output never replaces; name another file");
  }
  // A rename replaces whatever has the name: never a device, a FIFO, a folder
  // or a link (as root, --out /dev/null would otherwise become a regular file).
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) != 0) return;  // a new file
  if (!S_ISREG(existing.st_mode))
    refuse("it exists and is not a regular file (a device, FIFO, folder or link); name a new file or a regular one to replace");
  for (const auto& own : keep) {
    struct stat st {};
    if (::stat(own.c_str(), &st) == 0 && st.st_dev == existing.st_dev && st.st_ino == existing.st_ino)
      refuse("it is the appliance's own " + own.string() + ", which an output never replaces; name another file");
  }
  // Any SQLite database (an audit log, a copy of one kept for the auditors).
  char header[16] = {};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    const auto n = ::read(fd, header, sizeof header);
    ::close(fd);
    if (n == static_cast<ssize_t>(sizeof header) && std::memcmp(header, "SQLite format 3", 16) == 0)
      refuse("it is an SQLite database (an audit log?), which an output never replaces; name another file");
  }
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                           const std::vector<std::filesystem::path>& keep) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  auto fail = [&](const std::string& step) {
    return Error(ErrorKind::cant_create, "cannot write " + path.string() + ": " + step + ": " + std::strerror(errno));
  };
  check_output_file(path, keep);
  std::string tmpl = (dir / ("." + path.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw fail("creating a temporary file");
  const std::string tmp = tmpl;
  auto cleanup = [&] { ::unlink(tmp.c_str()); };
  std::size_t done = 0;
  while (done < content.size()) {
    const auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const auto err = fail("writing");
      ::close(fd);
      cleanup();
      throw err;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0) {
    const auto err = fail("fsync");
    ::close(fd);
    cleanup();
    throw err;
  }
  if (::close(fd) != 0) {
    const auto err = fail("close");
    cleanup();
    throw err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto err = fail("rename");
    cleanup();
    throw err;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace signet::cli
