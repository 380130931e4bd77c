// Writing license files durably without one fsync per file in sequence: the
// files of a chunk are written as unnamed files in the output folder (O_TMPFILE),
// the file system is flushed once (syncfs), then each is given its name
// (linkat) and the folder is fsynced. Where the file system has no unnamed
// files (vfat, exfat), each is written under a temporary name and renamed into
// place after the flush instead. A crash leaves either the old state or complete
// files, never a half-written license.
#pragma once

#include "signet/core/error.hpp"

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace signet::issue {

struct OutputFile {
  std::string name;     // file name inside the output folder, e.g. "SO-1.license"
  std::string content;  // the exact bytes to write
};

// Whether the file system of `dir` (or, while it does not exist, of the
// folder it would be made in) ignores letter case: vfat and exfat on a USB
// stick, casefold ext4. There "SO-1.license" and "so-1.license" are one file,
// and writing the second would replace the first. Found by creating a hidden
// file with a lower-case name, looking it up in upper case and removing it;
// false when no such file can be made there.
bool folds_case(const std::filesystem::path& dir);

// `name` with ASCII letters in lower case: the names a file system that
// ignores letter case takes for one (order ids and license file names are ASCII).
std::string folded_name(std::string_view name);

// On a file system that ignores letter case: the name of the entry of the
// folder `dir` (a descriptor) that a file called `name` would replace, when
// that entry's own name differs from `name`; nothing when there is no such
// entry or it is exactly `name`.
std::optional<std::string> differently_cased_entry(int dir, const std::string& name);
std::optional<std::string> differently_cased_entry(const std::filesystem::path& dir, const std::string& name);

class OutputFolder {
 public:
  // Creates the folder if needed; throws Error(cant_create) naming it when that
  // fails or it is not writable.
  //
  // While it lives it holds an exclusive flock on the folder, so that two
  // signets never write into one folder at once (the second waits up to 10 s,
  // then stops with Error(busy) before anything is signed), and it
  // removes what an earlier signet that crashed there left: the hidden
  // temporary files of the renaming path (".ORDER_ID.license.tmp-" + 12 hex
  // digits, or ".ORDER_ID.nonprod-N.license.tmp-" ...)
  // and case probes (".signet-case-probe-" + 12 hex digits). No other name is
  // ever removed.
  explicit OutputFolder(std::filesystem::path dir);
  ~OutputFolder() noexcept;
  OutputFolder(const OutputFolder&) = delete;  // owns the folder's lock
  OutputFolder& operator=(const OutputFolder&) = delete;

  // Writes the files atomically and durably (see above). On failure removes the
  // temporary files it made and throws Error(cant_create / io) naming the file
  // and the system's reason; files already renamed stay (they are complete).
  void write_all(const std::vector<OutputFile>& files);

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_dir; }

 private:
  static constexpr std::size_t kMaxGroup = 1024;        // unnamed files open at once
  static constexpr std::size_t kMinGroup = 16;
  static constexpr unsigned long kWantedDescriptors = 4096;
  static constexpr int kLockWaitMs = 10'000;  // for the folder's flock

  // Writes, flushes and names one group of unnamed files; false (nothing
  // written) when the file system has no unnamed files.
  bool write_unnamed(int dir, std::span<const OutputFile> files);
  void write_renamed(int dir, std::span<const OutputFile> files);
  void write_content(int fd, const OutputFile& file) const;
  // Gives an unnamed file a name in the folder; false with errno set when it cannot.
  bool link_unnamed(int fd, int dir, const std::string& name);
  // Throws Error(cant_create) unless a file called `name` may replace what the
  // folder holds under that name: never another order's file on a file system
  // that folds letter case.
  void check_replaceable(int dir, const std::string& name) const;

  std::filesystem::path m_dir;
  int m_lock = -1;            // the folder, opened and flocked
  std::size_t m_group = 0;    // unnamed files per flush; 0: temporary names and renames
  bool m_empty_path = true;   // linkat(AT_EMPTY_PATH) works here (else /proc/self/fd)
  bool m_folds_case = false;
};

}  // namespace signet::issue
