// Finding the manifest files of a signing run, refusing what cannot be read as one.
#include "signet/signer/manifest.hpp"

#include "signet/core/json.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

namespace signet {

namespace {

namespace fs = std::filesystem;

// The name's last dot and what follows (".json" for "x.json" and for ".json"
// itself, which path::extension() takes for a name without an extension).
std::string name_extension(const fs::path& p) {
  const auto name = p.filename().string();
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? std::string() : name.substr(dot);
}

// Named like a manifest but for letter case (ORDER.JSON, as FAT media often show names).
bool other_case_extension(const fs::path& p) {
  auto ext = name_extension(p);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return manifest_extension(p).empty() && (ext == ".json" || ext == ".jsonl");
}

std::string not_regular(fs::file_type type) {
  switch (type) {
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}

// Whether the audit log can record the name as where its orders came from (UTF-8 text).
bool utf8_name(const fs::path& path) {
  try {
    std::string text;
    append_json_string(text, path.string());
    return true;
  } catch (const Error&) {
    return false;
  }
}

// "" when `path` (an entry named like a manifest) is a regular file, else why it is refused.
std::string refusal(const fs::path& path) {
  if (!utf8_name(path))
    return "its name is not valid UTF-8 (written in a legacy code page?): the audit log records each order's "
           "file by name, as UTF-8 text; rename it to sign it";
  std::error_code ec;
  const auto own = fs::symlink_status(path, ec).type();
  if (ec) return "cannot examine: " + ec.message();
  const auto target = fs::status(path, ec).type();
  if (target == fs::file_type::regular) return "";
  if (target == fs::file_type::not_found)
    return own == fs::file_type::symlink ? "a link that leads nowhere, not a manifest file" : "vanished while the folder was read";
  if (ec) return "cannot examine: " + ec.message();  // a link loop: ELOOP
  if (target == fs::file_type::directory) return "a link to a folder (links to folders are not followed), not a manifest file";
  return not_regular(target) + ", not a manifest file";
}

ManifestProblem problem(const fs::path& path, const std::string& rule) { return {path.string(), std::nullopt, "", rule}; }

}  // namespace

std::string manifest_extension(const fs::path& p) {
  auto ext = name_extension(p);
  return ext == ".json" || ext == ".jsonl" ? ext : std::string();
}

ManifestInputs scan_manifest_inputs(const std::vector<fs::path>& inputs) {
  ManifestInputs out;
  for (const auto& input : inputs) {
    std::error_code ec;
    const auto status = fs::status(input, ec);
    if (status.type() == fs::file_type::not_found) throw Error(ErrorKind::no_input, input.string() + ": no such file or folder");
    if (ec) throw Error(ErrorKind::no_input, input.string() + ": cannot examine: " + ec.message());
    if (!fs::is_directory(status)) {
      if (manifest_extension(input).empty())
        throw Error(ErrorKind::bad_data, input.string() + ": a manifest file must end in .json or .jsonl");
      if (const auto why = refusal(input); !why.empty()) out.problems.push_back(problem(input, why));
      else out.files.push_back(input);
      continue;
    }
    std::vector<fs::path> found;
    std::vector<ManifestProblem> refused;
    for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const auto& path = it->path();
      std::error_code dec;
      if (other_case_extension(path) && !it->is_directory(dec)) {
        // Not skipped in silence: the officer meant it as an order.
        refused.push_back(problem(path, "named " + name_extension(path) + ": manifests end in .json or .jsonl "
                                        "in lower case; rename it to sign it"));
        continue;
      }
      if (manifest_extension(path).empty()) continue;
      // A real folder named x.json is descended into, not read.
      std::error_code sec;
      if (it->symlink_status(sec).type() == fs::file_type::directory) continue;
      if (const auto why = refusal(path); !why.empty()) refused.push_back(problem(path, why));
      else found.push_back(path);
    }
    if (ec) throw Error(ErrorKind::no_input, input.string() + ": cannot list: " + ec.message());
    if (found.empty() && refused.empty())
      throw Error(ErrorKind::no_input, input.string() + ": no manifest in this folder (manifests are .json and "
                                                        ".jsonl files, in it or in its subfolders)");
    std::sort(found.begin(), found.end());
    std::sort(refused.begin(), refused.end(), [](const auto& a, const auto& b) { return a.source < b.source; });
    out.files.insert(out.files.end(), found.begin(), found.end());
    for (auto& p : refused) out.problems.push_back(std::move(p));
  }
  // One file named twice (a.jsonl a.jsonl, a folder and a file in it, a link to
  // it) holds its orders once: it is read where it first appears, and its
  // orders are not refused as order ids twice in the batch.
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<fs::path> once;
  once.reserve(out.files.size());
  for (auto& f : out.files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0 && !seen.emplace(st.st_dev, st.st_ino).second) continue;
    once.push_back(std::move(f));
  }
  out.files = std::move(once);
  return out;
}

}  // namespace signet
