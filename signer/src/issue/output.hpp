// Writing license files durably without one fsync per file in sequence: every
// file of a chunk is written to a temporary name in the output folder, the file
// system is flushed once (syncfs), then each is renamed into place and the
// folder is fsynced. A crash leaves either the old state or complete files,
// never a half-written license.
#pragma once

#include "signet/core/error.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace signet::issue {

struct OutputFile {
  std::string name;     // file name inside the output folder, e.g. "SO-1.license"
  std::string content;  // the exact bytes to write
};

class OutputFolder {
 public:
  // Creates the folder if needed; throws Error(cant_create) naming it when that
  // fails or it is not writable.
  explicit OutputFolder(std::filesystem::path dir);

  // Writes the files atomically and durably (see above). On failure removes the
  // temporary files it made and throws Error(cant_create / io) naming the file
  // and the system's reason; files already renamed stay (they are complete).
  void write_all(const std::vector<OutputFile>& files);

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_dir; }

 private:
  std::filesystem::path m_dir;
};

}  // namespace signet::issue
