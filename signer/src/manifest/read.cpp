// Reading manifest files: bounded sizes, strict JSON, detached desk signatures.
#include "signet/signer/manifest.hpp"

#include "signet/core/bytes.hpp"

#include <algorithm>
#include <deque>
#include <fstream>
#include <future>
#include <sstream>
#include <utility>

namespace signet {

namespace {

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
// When a signature was checked, *verified holds the bytes it covers, and those
// are the bytes that are read as orders (not a second read of the file).
std::string check_signature(const std::filesystem::path& file, const ReadOptions& options,
                            std::optional<std::string>& verified) {
  verified.reset();
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
  auto content = read_bounded(file, manifest_extension(file) == ".jsonl" ? kMaxBatchFileBytes : kMaxManifestFileBytes, why);
  if (!content) return why;
  for (const auto& key : options.desk_keys) {
    if (key.verify(as_bytes(*content), sig)) {
      verified = std::move(content);
      return "";
    }
  }
  return "signature " + sig_path.string() + " does not verify with any trusted order-desk key";
}

// One unit of parsing: a line of a .jsonl file or a whole .json file.
struct Item {
  std::string source;
  std::string text;
  bool line = false;      // a .jsonl line: a trailing CR is dropped, a blank line is skipped
  bool too_long = false;  // a .jsonl line over the limit: refused unread
};

using Outcome = std::variant<std::monostate, Order, std::vector<ManifestProblem>>;

Outcome parse_item(Item& item, const Policy& policy) {
  if (item.too_long)
    return std::vector<ManifestProblem>{
        {item.source, std::nullopt, "", "line longer than " + std::to_string(kMaxManifestLineBytes) + " bytes"}};
  auto& text = item.text;
  if (item.line) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; })) return std::monostate{};
  }
  std::string why;
  std::string pointer;
  const auto json = parse_strict_json(text, why, &pointer);
  if (!json) {
    // A repeated key is named by its pointer, and the order by its id when the
    // text reads without the strict rules and the id itself is not the repeated key.
    std::optional<std::string> order;
    if (!pointer.empty() && pointer != "/order_id") order = named_order_id(Json::parse(text, nullptr, false));
    return std::vector<ManifestProblem>{{item.source, std::move(order), std::move(pointer), why}};
  }
  auto result = validate_manifest(*json, item.source, policy);
  if (auto* order = std::get_if<Order>(&result)) return std::move(*order);
  return std::move(std::get<std::vector<ManifestProblem>>(result));
}

// Parses and checks items in batches on worker threads, handing the outcomes
// over in input order on the caller's thread. At most `threads` batches are in
// flight, so memory stays bounded however long the input.
class OrderedParser {
 public:
  OrderedParser(const ReadOptions& options, const std::function<void(Order&&)>& on_order,
                const std::function<void(ManifestProblem&&)>& on_problem)
      : m_options(options), m_on_order(on_order), m_on_problem(on_problem) {}
  OrderedParser(const OrderedParser&) = delete;  // owns batches in flight
  OrderedParser& operator=(const OrderedParser&) = delete;
  ~OrderedParser() noexcept = default;  // futures of std::async wait for their batches

  void add(Item&& item) {
    m_bytes += item.text.size();
    m_batch.push_back(std::move(item));
    if (m_batch.size() >= kBatchItems || m_bytes >= kBatchBytes) submit();
  }

  // Hands over everything added so far.
  void flush() {
    submit();
    while (!m_pending.empty()) deliver_front();
  }

  // Hands a problem over in order with the outcomes before it.
  void problem(ManifestProblem&& p) {
    flush();
    m_on_problem(std::move(p));
  }

 private:
  static constexpr std::size_t kBatchItems = 256;
  static constexpr std::size_t kBatchBytes = 1U << 20U;

  static std::vector<Outcome> run(std::vector<Item> batch, const Policy& policy) {
    std::vector<Outcome> out;
    out.reserve(batch.size());
    for (auto& item : batch) out.push_back(parse_item(item, policy));
    return out;
  }

  void submit() {
    if (m_batch.empty()) return;
    auto batch = std::exchange(m_batch, {});
    m_bytes = 0;
    if (m_options.threads <= 1) {
      deliver(run(std::move(batch), m_options.policy));
      return;
    }
    if (m_pending.size() >= m_options.threads) deliver_front();
    m_pending.push_back(std::async(std::launch::async, &OrderedParser::run, std::move(batch), std::cref(m_options.policy)));
  }

  void deliver_front() {
    auto outcomes = m_pending.front().get();
    m_pending.pop_front();
    deliver(std::move(outcomes));
  }

  void deliver(std::vector<Outcome> outcomes) {
    for (auto& o : outcomes) {
      if (auto* order = std::get_if<Order>(&o)) m_on_order(std::move(*order));
      else if (auto* problems = std::get_if<std::vector<ManifestProblem>>(&o))
        for (auto& p : *problems) m_on_problem(std::move(p));
    }
  }

  const ReadOptions& m_options;
  const std::function<void(Order&&)>& m_on_order;
  const std::function<void(ManifestProblem&&)>& m_on_problem;
  std::vector<Item> m_batch;
  std::size_t m_bytes = 0;
  std::deque<std::future<std::vector<Outcome>>> m_pending;
};

// Splits JSON Lines into items; lines over the limit are refused without being held.
class LineSplitter {
 public:
  LineSplitter(const std::filesystem::path& file, OrderedParser& parser) : m_file(file.string()), m_parser(parser) {}

  void feed(std::string_view data) {
    std::size_t start = 0;
    for (auto nl = data.find('\n'); nl != std::string_view::npos; nl = data.find('\n', start)) {
      if (!m_too_long) m_pending.append(data.data() + start, nl - start);
      finish_line();
      start = nl + 1;
    }
    if (!m_too_long) m_pending.append(data.data() + start, data.size() - start);
    if (m_pending.size() > kMaxManifestLineBytes) {
      m_too_long = true;
      m_pending.clear();
      m_pending.shrink_to_fit();
    }
  }

  void end() {
    if (!m_pending.empty() || m_too_long) finish_line();
  }

 private:
  void finish_line() {
    ++m_line_no;
    Item item{.source = m_file + ":" + std::to_string(m_line_no), .text = {}, .line = true,
              .too_long = m_too_long || m_pending.size() > kMaxManifestLineBytes};
    if (!item.too_long) item.text = m_pending;
    m_pending.clear();
    m_too_long = false;
    m_parser.add(std::move(item));
  }

  std::string m_file;
  OrderedParser& m_parser;
  std::string m_pending;
  std::size_t m_line_no = 0;
  bool m_too_long = false;
};

void read_jsonl(const std::filesystem::path& file, OrderedParser& parser) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    parser.problem({file.string(), std::nullopt, "", "cannot read"});
    return;
  }
  LineSplitter lines(file, parser);
  std::vector<char> buf(1U << 16U);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    lines.feed(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
  }
  lines.end();
}

}  // namespace

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
        if (!manifest_extension(it->path()).empty()) found.push_back(it->path());
      }
      if (ec) throw Error(ErrorKind::no_input, input.string() + ": cannot list: " + ec.message());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      if (manifest_extension(input).empty())
        throw Error(ErrorKind::bad_data, input.string() + ": a manifest file must end in .json or .jsonl");
      files.push_back(input);
    }
  }
  return files;
}

void read_orders(const std::vector<std::filesystem::path>& files, const ReadOptions& options,
                 const std::function<void(Order&&)>& on_order,
                 const std::function<void(ManifestProblem&&)>& on_problem) {
  OrderedParser parser(options, on_order, on_problem);
  for (const auto& file : files) {
    std::optional<std::string> verified;
    if (const auto why = check_signature(file, options, verified); !why.empty()) {
      parser.problem({file.string(), std::nullopt, "", why});
      continue;
    }
    if (manifest_extension(file) == ".jsonl") {
      if (verified) {
        LineSplitter lines(file, parser);
        lines.feed(*verified);
        lines.end();
        continue;
      }
      std::error_code ec;
      const auto size = std::filesystem::file_size(file, ec);
      if (ec || size > kMaxBatchFileBytes) {
        parser.problem({file.string(), std::nullopt, "",
                        ec ? "cannot read: " + ec.message()
                           : "file is " + std::to_string(size) + " bytes, more than the " +
                                 std::to_string(kMaxBatchFileBytes) + " allowed"});
        continue;
      }
      read_jsonl(file, parser);
      continue;
    }
    std::string why;
    auto text = verified ? std::move(verified) : read_bounded(file, kMaxManifestFileBytes, why);
    if (!text) {
      parser.problem({file.string(), std::nullopt, "", why});
      continue;
    }
    parser.add(Item{.source = file.string(), .text = std::move(*text), .line = false, .too_long = false});
  }
  parser.flush();
}

}  // namespace signet
