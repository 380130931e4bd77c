// Reading one input file named on the command line (a license, a public key, a
// proof, a checkpoint): only a regular file is read, and never more than a
// bound, so that a folder, a FIFO, a device or a link loop given by mistake is
// a clear refusal instead of a hang, an unbounded read or an internal error.
#pragma once

#include "signet/core/json.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace signet::cli {

// At most `limit` bytes of the regular file at `path` (the caller passes its
// size limit + 1 to tell "too large" apart). Error(no_input) naming the file and
// `what` ("the license file") when it cannot be opened (missing, unreadable, a
// link loop) or is not a regular file; Error(io) when reading fails.
std::string read_input_file(const std::filesystem::path& path, std::size_t limit, std::string_view what);

// Error(no_input) as read_input_file() gives it, unless `path` opens as a regular file.
void require_input_file(const std::filesystem::path& path, std::string_view what);

// The checkpoint a held file gives --checkpoint: what `signet audit checkpoint
// --out` wrote (the checkpoint, or an object holding it as "checkpoint"), or
// the last line of an export (a checkpoint entry: its record).
Json held_checkpoint(Json file);

}  // namespace signet::cli
