// Reading manifest files: bounded sizes, strict JSON, detached desk signatures.
#include "signet/signer/manifest.hpp"

#include "signet/core/bytes.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace signet {

namespace {

constexpr int kMaxDepth = 32;

// Nesting depth outside strings, counted before parsing so that a hostile file
// cannot make the parser (or the destructor of its result) recurse deeply.
bool nesting_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

std::optional<std::string> read_bounded(const std::filesystem::path& path, std::uintmax_t max, std::string& why) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    why = "cannot read: " + ec.message();
    return std::nullopt;
  }
  if (size > max) {
    why = "file is " + std::to_string(size) + " bytes, more than the " + std::to_string(max) + " allowed";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read";
    return std::nullopt;
  }
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) {
    why = "short read";
    return std::nullopt;
  }
  return text;
}

// "" when the file's detached signature holds (or none is needed), else why not.
std::string check_signature(const std::filesystem::path& file, const ReadOptions& options) {
  const auto sig_path = std::filesystem::path(file.string() + ".sig");
  const bool present = std::filesystem::exists(sig_path);
  if (!present) return options.require_signature ? "unsigned: " + sig_path.string() + " is missing (require_signed_manifests)" : "";
  if (options.desk_keys.empty())
    return options.require_signature ? "no order-desk key is trusted (signet key trust-desk PEM)" : "";
  std::string why;
  const auto sig_text = read_bounded(sig_path, 1024, why);
  if (!sig_text) return sig_path.string() + ": " + why;
  Bytes sig;
  if (sig_text->size() == keystore::kEd25519SignatureBytes) {
    sig.assign(sig_text->begin(), sig_text->end());
  } else {
    std::string trimmed = *sig_text;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) trimmed.pop_back();
    const auto decoded = base64_decode(trimmed);
    if (!decoded || decoded->size() != keystore::kEd25519SignatureBytes)
      return sig_path.string() + ": not a 64-byte Ed25519 signature (raw or base64)";
    sig = *decoded;
  }
  const auto content = read_bounded(file, kMaxBatchFileBytes, why);
  if (!content) return why;
  for (const auto& key : options.desk_keys) {
    if (key.verify(as_bytes(*content), sig)) return "";
  }
  return "signature " + sig_path.string() + " does not verify with any trusted order-desk key";
}

void read_jsonl(const std::filesystem::path& file, const ReadOptions& options,
                const std::function<void(Order&&)>& on_order,
                const std::function<void(ManifestProblem&&)>& on_problem) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    on_problem({file.string(), std::nullopt, "", "cannot read"});
    return;
  }
  std::string line;
  std::size_t line_no = 0;
  std::vector<char> buf(1U << 16U);
  bool too_long = false;
  std::string pending;
  auto finish_line = [&](std::string& text) {
    ++line_no;
    const auto source = file.string() + ":" + std::to_string(line_no);
    if (too_long || text.size() > kMaxManifestLineBytes) {
      on_problem({source, std::nullopt, "", "line longer than " + std::to_string(kMaxManifestLineBytes) + " bytes"});
      too_long = false;
      return;
    }
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; })) return;
    std::string why;
    const auto json = parse_strict_json(text, why);
    if (!json) {
      on_problem({source, std::nullopt, "", why});
      return;
    }
    auto result = validate_manifest(*json, source, options.policy);
    if (auto* order = std::get_if<Order>(&result)) on_order(std::move(*order));
    else for (auto& p : std::get<std::vector<ManifestProblem>>(result)) on_problem(std::move(p));
  };
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    std::size_t start = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') continue;
      if (!too_long) pending.append(buf.data() + start, i - start);
      finish_line(pending);
      pending.clear();
      start = i + 1;
    }
    if (!too_long) pending.append(buf.data() + start, n - start);
    if (pending.size() > kMaxManifestLineBytes) {
      too_long = true;
      pending.clear();
      pending.shrink_to_fit();
    }
  }
  if (!pending.empty() || too_long) finish_line(pending);
}

}  // namespace

std::optional<Json> parse_strict_json(std::string_view text, std::string& why) {
  if (!nesting_within(text, kMaxDepth)) {
    why = "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels";
    return std::nullopt;
  }
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  const Json::parser_callback_t cb = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: keys.emplace_back(); break;
      case Json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
          duplicate = parsed.get<std::string>();
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      default: break;
    }
    return true;
  };
  try {
    auto j = Json::parse(text, cb, true);
    if (!duplicate.empty()) {
      why = "duplicate key \"" + duplicate + "\" (a repeated field must not silently override the first)";
      return std::nullopt;
    }
    return j;
  } catch (const Json::parse_error& e) {
    why = std::string("not valid JSON: ") + e.what();
    const auto pos = why.find("parse error");
    if (pos != std::string::npos) why = "not valid JSON: " + why.substr(pos);
    return std::nullopt;
  } catch (const Json::exception&) {
    // e.g. out_of_range 406: a number too large for a double (1e400).
    why = "not valid JSON: a number is out of range";
    return std::nullopt;
  }
}

std::vector<std::filesystem::path> manifest_files(const std::vector<std::filesystem::path>& inputs) {
  std::vector<std::filesystem::path> files;
  for (const auto& input : inputs) {
    std::error_code ec;
    const auto status = std::filesystem::status(input, ec);
    if (ec || !std::filesystem::exists(status)) throw Error(ErrorKind::no_input, input.string() + ": no such file or folder");
    if (std::filesystem::is_directory(status)) {
      std::vector<std::filesystem::path> found;
      for (auto it = std::filesystem::recursive_directory_iterator(input, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        const auto ext = it->path().extension();
        if (ext == ".json" || ext == ".jsonl") found.push_back(it->path());
      }
      if (ec) throw Error(ErrorKind::no_input, input.string() + ": cannot list: " + ec.message());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      const auto ext = input.extension();
      if (ext != ".json" && ext != ".jsonl")
        throw Error(ErrorKind::bad_data, input.string() + ": a manifest file must end in .json or .jsonl");
      files.push_back(input);
    }
  }
  return files;
}

void read_orders(const std::vector<std::filesystem::path>& files, const ReadOptions& options,
                 const std::function<void(Order&&)>& on_order,
                 const std::function<void(ManifestProblem&&)>& on_problem) {
  for (const auto& file : files) {
    if (const auto why = check_signature(file, options); !why.empty()) {
      on_problem({file.string(), std::nullopt, "", why});
      continue;
    }
    if (file.extension() == ".jsonl") {
      std::error_code ec;
      const auto size = std::filesystem::file_size(file, ec);
      if (ec || size > kMaxBatchFileBytes) {
        on_problem({file.string(), std::nullopt, "",
                    ec ? "cannot read: " + ec.message()
                       : "file is " + std::to_string(size) + " bytes, more than the " +
                             std::to_string(kMaxBatchFileBytes) + " allowed"});
        continue;
      }
      read_jsonl(file, options, on_order, on_problem);
      continue;
    }
    std::string why;
    const auto text = read_bounded(file, kMaxManifestFileBytes, why);
    if (!text) {
      on_problem({file.string(), std::nullopt, "", why});
      continue;
    }
    const auto json = parse_strict_json(*text, why);
    if (!json) {
      on_problem({file.string(), std::nullopt, "", why});
      continue;
    }
    auto result = validate_manifest(*json, file.string(), options.policy);
    if (auto* order = std::get_if<Order>(&result)) on_order(std::move(*order));
    else for (auto& p : std::get<std::vector<ManifestProblem>>(result)) on_problem(std::move(p));
  }
}

}  // namespace signet
