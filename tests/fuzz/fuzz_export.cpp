// libFuzzer target: a JSONL audit-log export as `signet audit verify --export`
// reads it. verify_export takes a path, so the input is written to one temporary
// file (made once under /tmp, rewritten for every input, removed at exit). A
// malformed export is refused with a signet::Error; anything else (a crash, a
// leak, another exception) is a bug. The report is also rendered as text and JSON.
#include "signet/audit/verify.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace {

struct TempFile {
  std::filesystem::path path;
  TempFile() {
    std::string name = "/tmp/signet-fuzz-export-XXXXXX";
    const int fd = ::mkstemp(name.data());
    if (fd < 0) {
      std::perror("fuzz_export: mkstemp");
      std::abort();
    }
    ::close(fd);
    path = name;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

const TempFile& temp_file() {
  static const TempFile file;
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)temp_file();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& path = temp_file().path;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
      std::perror("fuzz_export: write");
      std::abort();
    }
  }
  try {
    const auto report = signet::audit::verify_export(path, {});
    (void)signet::audit::describe(report);
    (void)signet::audit::to_json(report).dump();
  } catch (const signet::Error&) {
  }
  return 0;
}
