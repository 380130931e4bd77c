// Writing one output file so that it is either absent or complete: a temporary
// file in the same folder, fsync, rename over the target, fsync of the folder.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace signet::cli {

// Throws Error(cant_create) naming the file unless `path` can be written
// before anything else is done: its folder exists and is writable, and it is
// nothing or a regular file that is none of `keep` (the appliance's own files:
// its database and the database's -wal/-shm/-journal, signet.toml, the PIN
// file; compared by device and inode, so another name for one is caught) and
// no SQLite database at all.
void check_output_file(const std::filesystem::path& path, const std::vector<std::filesystem::path>& keep = {});

// check_output_file, then the write. Throws Error(cant_create) naming the file
// when any step fails; no partial file is left.
void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                           const std::vector<std::filesystem::path>& keep = {});

}  // namespace signet::cli
