// Writing one output file so that it is either absent or complete: a temporary
// file in the same folder, fsync, rename over the target, fsync of the folder.
#pragma once

#include <filesystem>
#include <string_view>

namespace signet::cli {

// Throws Error(cant_create) naming the file when any step fails; no partial file is left.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

}  // namespace signet::cli
