#include "output.hpp"

#include "signet/signer/issue.hpp"

#include "signet/core/bytes.hpp"
#include "signet/core/crypto.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

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
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&&) = delete;
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

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

bool same_ignoring_case(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

constexpr std::string_view kProbePrefix = ".signet-case-probe-";
constexpr std::string_view kTempMark = ".license.tmp-";
constexpr std::size_t kRandomHex = 12;  // 6 random bytes

bool lower_hex(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_case_probe(std::string_view name) noexcept {
  return name.size() == kProbePrefix.size() + kRandomHex && name.starts_with(kProbePrefix) &&
         lower_hex(name.substr(kProbePrefix.size()));
}

// ".NAME.license.tmp-" + 12 hex digits, NAME an order id (1 to 64 of
// A-Z a-z 0-9 . _ -, not "." or "..") with perhaps ".nonprod-N": what
// temp_name makes for a license file, and nothing else.
bool is_license_temp(std::string_view name) {
  if (name.size() < 1 + 1 + kTempMark.size() + kRandomHex || name.front() != '.') return false;
  const auto mark = name.size() - kRandomHex - kTempMark.size();
  if (name.substr(mark, kTempMark.size()) != kTempMark || !lower_hex(name.substr(mark + kTempMark.size()))) return false;
  auto id = name.substr(1, mark - 1);
  if (const auto np = id.rfind(".nonprod-");
      np != std::string_view::npos && id.size() == np + 10 && id.back() >= '1' && id.back() <= '4')
    id = id.substr(0, np);
  // An order id never ends in .nonprod-<digits>, in any letter case.
  if (const auto np = folded_name(id).rfind(".nonprod-"); np != std::string_view::npos && np + 9 < id.size() &&
      std::all_of(id.begin() + static_cast<std::ptrdiff_t>(np) + 9, id.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  const auto id_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  return !id.empty() && id.size() <= 64 && id != "." && id != ".." && std::all_of(id.begin(), id.end(), id_char);
}

// Removes the regular files of `dir` (a descriptor) that `leftover` says a
// crashed signet left, and that were last changed before `before` (0: any).
template <typename Pred>
void remove_leftovers(int dir, Pred leftover, time_t before) {
  const int fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return;
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    if (leftover(std::string_view(e->d_name))) names.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (const auto& n : names) {
    struct stat st {};
    if (::fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if (before != 0 && st.st_mtime >= before) continue;
    ::unlinkat(dir, n.c_str(), 0);  // best effort: what cannot be removed stays, as before
  }
}

// Creates a hidden file with a lower-case name in `dir` and looks it up in upper case.
std::optional<bool> probe_folds_case(const std::filesystem::path& dir) {
  std::array<std::uint8_t, 6> r{};
  random_fill(r);
  const std::string name = std::string(kProbePrefix) + to_hex(r);
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() < 0) return std::nullopt;
  // A probe lives for microseconds: one a minute old was left by a signet that
  // died between creating and removing it (this folder may be the one above --out).
  remove_leftovers(d.get(), is_case_probe, ::time(nullptr) - 60);
  Fd f(::openat(d.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (f.get() < 0) return std::nullopt;
  std::string shouted = name;
  std::transform(shouted.begin(), shouted.end(), shouted.begin(), upper);
  struct stat st {};
  const bool folds = ::fstatat(d.get(), shouted.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  ::unlinkat(d.get(), name.c_str(), 0);
  return folds;
}

std::string temp_name(const std::string& name) {
  std::array<std::uint8_t, 6> r{};
  random_fill(r);
  return "." + name + ".tmp-" + to_hex(r);  // hidden, not a *.license file; is_license_temp knows it
}

}  // namespace

std::string folded_name(std::string_view name) {
  std::string folded(name);
  std::transform(folded.begin(), folded.end(), folded.begin(), lower);
  return folded;
}

bool folds_case(const std::filesystem::path& dir) {
  std::error_code ec;
  auto at = std::filesystem::absolute(dir.empty() ? std::filesystem::path(".") : dir, ec);
  if (ec) return false;
  while (!std::filesystem::is_directory(at, ec)) {  // the nearest folder that exists
    if (!at.has_relative_path()) return false;
    at = at.parent_path();
  }
  return probe_folds_case(at).value_or(false);
}

std::optional<std::string> differently_cased_entry(int dir, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;  // nothing there
  // Something answers to the name: find its own (a rare path, so a full listing is fine).
  const int listing = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing < 0) return std::nullopt;
  DIR* d = ::fdopendir(listing);
  if (d == nullptr) {
    ::close(listing);
    return std::nullopt;
  }
  std::optional<std::string> other;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view entry(e->d_name);
    if (entry == name) {
      other.reset();
      break;
    }
    if (same_ignoring_case(entry, name)) other = std::string(entry);
  }
  ::closedir(d);
  return other;
}

std::optional<std::string> differently_cased_entry(const std::filesystem::path& dir, const std::string& name) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() < 0) return std::nullopt;
  return differently_cased_entry(d.get(), name);
}

}  // namespace signet::issue

void signet::check_output_folder(const std::filesystem::path& dir) {
  using signet::issue::fail;
  std::error_code ec;
  auto existing = dir.empty() ? std::filesystem::path(".") : dir;
  while (!std::filesystem::exists(std::filesystem::symlink_status(existing, ec)) && existing.has_parent_path() &&
         existing.parent_path() != existing)
    existing = existing.parent_path();
  if (!std::filesystem::exists(std::filesystem::symlink_status(existing, ec))) existing = ".";  // a relative path's root
  if (!std::filesystem::is_directory(existing, ec)) {
    throw Error(ErrorKind::cant_create, existing == dir ? "output path " + dir.string() + " is not a folder"
                                                        : "cannot create output folder " + dir.string() + ": " +
                                                              existing.string() + " is not a folder");
  }
  if (::access(existing.c_str(), W_OK | X_OK) != 0) fail(errno, "cannot write to output folder", existing);
}

namespace signet::issue {

OutputFolder::OutputFolder(std::filesystem::path dir) : m_dir(std::move(dir)) {
  check_output_folder(m_dir);  // the refusals a dry run gives, in its words
  std::error_code ec;
  std::filesystem::create_directories(m_dir, ec);
  if (ec) throw Error(ErrorKind::cant_create, "cannot create output folder " + m_dir.string() + ": " + ec.message());
  if (!std::filesystem::is_directory(m_dir)) {
    throw Error(ErrorKind::cant_create, "output path " + m_dir.string() + " is not a folder");
  }
  if (::access(m_dir.c_str(), W_OK | X_OK) != 0) {
    fail(errno, "cannot write to output folder", m_dir);
  }
  // One signet writes into a folder at a time; under the lock, no temporary
  // file there is another one's work in progress, so those left are a crash's.
  m_lock = ::open(m_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (m_lock < 0) fail(errno, "cannot open output folder", m_dir);
  // Another signet (or anything holding the folder's flock) is given as long
  // as the log's busy timeout, then the run stops before anything is signed.
  bool locked = false;
  for (int waited_ms = 0;; waited_ms += 50) {
    if (::flock(m_lock, LOCK_EX | LOCK_NB) == 0) {
      locked = true;
      break;
    }
    if (errno != EWOULDBLOCK && errno != EINTR) break;  // no locks here (ENOLCK): write without one
    if (waited_ms >= kLockWaitMs) {
      ::close(m_lock);
      m_lock = -1;
      throw Error(ErrorKind::busy, "output folder " + m_dir.string() + " is being written by another signet (waited " +
                                       std::to_string(kLockWaitMs / 1000) + " s for its lock); nothing was signed: "
                                       "run again when it is done, or write into another folder");
    }
    ::usleep(50'000);
  }
  try {
    if (locked) remove_leftovers(m_lock, is_license_temp, 0);  // without the lock, nothing is removed
    m_folds_case = probe_folds_case(m_dir).value_or(false);
  } catch (...) {
    ::close(m_lock);  // a constructor that throws runs no destructor: the flock goes with the descriptor
    m_lock = -1;
    throw;
  }
  // Unnamed files need /proc/self/fd to be given their name, and one
  // descriptor each until then.
  if (::access("/proc/self/fd", X_OK) == 0) {
    struct rlimit lim {};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
      if (lim.rlim_cur < kWantedDescriptors && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, kWantedDescriptors);
        ::setrlimit(RLIMIT_NOFILE, &lim);  // best effort: a lower limit only makes the groups smaller
        ::getrlimit(RLIMIT_NOFILE, &lim);
      }
      m_group = static_cast<std::size_t>(std::min<rlim_t>(kMaxGroup, lim.rlim_cur / 4));
    }
  }
}

OutputFolder::~OutputFolder() noexcept {
  if (m_lock >= 0) ::close(m_lock);  // and with it the flock
}

void OutputFolder::check_replaceable(int dir, const std::string& name) const {
  if (!m_folds_case) return;  // there a name is taken only by that very name
  if (const auto other = differently_cased_entry(dir, name)) {
    throw Error(ErrorKind::cant_create,
                "cannot write " + (m_dir / name).string() + ": the folder already holds " + *other +
                    ", which is the same file on this file system (it ignores letter case) and belongs to another "
                    "order; nothing was replaced. Write into a folder on a file system that keeps letter case, or "
                    "re-emit one of the two orders into a folder of its own");
  }
}

void OutputFolder::write_all(const std::vector<OutputFile>& files) {
  if (files.empty()) return;
  Fd dir(::open(m_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) fail(errno, "cannot open output folder", m_dir);
  std::size_t i = 0;
  if (m_group >= kMinGroup) {
    while (i < files.size()) {
      const auto n = std::min(m_group, files.size() - i);
      if (!write_unnamed(dir.get(), std::span(files).subspan(i, n))) break;  // not supported here: name them first
      i += n;
    }
  }
  if (i < files.size()) write_renamed(dir.get(), std::span(files).subspan(i));
  if (::fsync(dir.get()) != 0) fail(errno, "cannot flush folder", m_dir);
}

bool OutputFolder::link_unnamed(int fd, int dir, const std::string& name) {
  // linkat(fd, "", AT_EMPTY_PATH) names the file without resolving a path
  // through /proc; kernels before 6.10 allow it only with CAP_DAC_READ_SEARCH,
  // and then /proc/self/fd/N does the same.
  if (m_empty_path) {
    if (::linkat(fd, "", dir, name.c_str(), AT_EMPTY_PATH) == 0) return true;
    if (errno != EPERM && errno != ENOENT && errno != EINVAL) return false;
    m_empty_path = false;
  }
  const auto proc = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, proc.c_str(), dir, name.c_str(), AT_SYMLINK_FOLLOW) == 0;
}

bool OutputFolder::write_unnamed(int dir, std::span<const OutputFile> files) {
  std::vector<Fd> fds;
  fds.reserve(files.size());
  for (const auto& file : files) {
    Fd fd(::openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      const int err = errno;
      // File systems without unnamed files (vfat, exfat, older kernels).
      if (fds.empty() && (err == EOPNOTSUPP || err == EISDIR || err == EINVAL || err == ENOENT)) {
        m_group = 0;
        return false;
      }
      fail(err, "cannot create a file in", m_dir);
    }
    write_content(fd.get(), file);
    fds.push_back(std::move(fd));
  }
  // One flush of the file system instead of one fsync per file; then the files
  // get their names, complete: none is ever seen half-written.
  if (::syncfs(fds.front().get()) != 0) fail(errno, "cannot flush", m_dir);
  for (std::size_t k = 0; k < files.size(); ++k) {
    const int fd = fds[k].get();
    if (link_unnamed(fd, dir, files[k].name)) continue;
    if (errno != EEXIST) fail(errno, "cannot name", m_dir / files[k].name);
    // A file of that name is there (a rerun re-emitting it): replace it whole,
    // unless it is another order's file under another letter case.
    check_replaceable(dir, files[k].name);
    const auto temp = temp_name(files[k].name);
    if (!link_unnamed(fd, dir, temp)) fail(errno, "cannot name", m_dir / temp);
    if (::renameat(dir, temp.c_str(), dir, files[k].name.c_str()) != 0) {
      const int err = errno;
      ::unlinkat(dir, temp.c_str(), 0);
      fail(err, "cannot rename into place", m_dir / files[k].name);
    }
  }
  return true;
}

void OutputFolder::write_renamed(int dir, std::span<const OutputFile> files) {
  std::vector<std::string> temps;
  temps.reserve(files.size());
  const auto cleanup = [&]() noexcept {
    for (const auto& t : temps) ::unlinkat(dir, t.c_str(), 0);
  };
  try {
    int last_fd = -1;
    for (const auto& file : files) {
      auto temp = temp_name(file.name);
      Fd fd(::openat(dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (fd.get() < 0) fail(errno, "cannot create", m_dir / temp);
      temps.push_back(std::move(temp));
      write_content(fd.get(), file);
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
    try {
      check_replaceable(dir, files[i].name);  // rename replaces whatever answers to the name
    } catch (...) {
      for (std::size_t j = i; j < temps.size(); ++j) ::unlinkat(dir, temps[j].c_str(), 0);
      throw;
    }
    if (::renameat(dir, temps[i].c_str(), dir, files[i].name.c_str()) != 0) {
      const int err = errno;
      for (std::size_t j = i; j < temps.size(); ++j) ::unlinkat(dir, temps[j].c_str(), 0);
      fail(err, "cannot rename into place", m_dir / files[i].name);
    }
  }
}

void OutputFolder::write_content(int fd, const OutputFile& file) const {
  std::size_t done = 0;
  while (done < file.content.size()) {
    const ssize_t n = ::write(fd, file.content.data() + done, file.content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno, "cannot write", m_dir / file.name);
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace signet::issue
