// The part of Signet's own work per license that one durable license file and
// one audit entry per license need, whatever else Signet does: a batch that
// `signet sign` finished is written again, its license files with Signet's
// OutputFolder (unnamed files, one syncfs per chunk, then linkat) into a new
// folder, and its issued entries with Signet's Log (64 rows per INSERT, the
// append-only triggers, one commit per chunk) into a new audit log. Neither
// part signs anything, checks the log's head against the token, or writes a
// checkpoint, so the figures are a floor under what those two parts cost in a
// real batch, measured on the same file system in the same run.
//   bench_floor LICENSE_DIR DB ORDER_GLOB WORK_DIR [CHUNK]
// prints "n=… files_cpu_us=… files_wall_us=… log_cpu_us=… log_wall_us=…"
// (per license, process CPU time user + system, and wall time).
#include "issue/output.hpp"

#include "signet/audit/log.hpp"
#include "signet/core/sqlite.hpp"
#include "signet/signer/database.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

using namespace signet;

namespace {

struct Clock {
  double cpu_s, wall_s;
};

Clock now() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  const auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now().time_since_epoch();
  return {tv(r.ru_utime) + tv(r.ru_stime), wall.count()};
}

std::vector<issue::OutputFile> read_licenses(const std::filesystem::path& dir) {
  std::vector<issue::OutputFile> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".license") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files.push_back({entry.path().filename().string(),
                     std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())});
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return files;
}

int run(const std::filesystem::path& licenses, const std::filesystem::path& db_path, const std::string& order_glob,
        const std::filesystem::path& work, std::size_t chunk) {
  const auto files = read_licenses(licenses);
  std::vector<audit::NewEntry> entries;
  {
    auto db = Database::open(db_path, Database::Mode::read_only);
    audit::read_entries(
        db,
        [&](const audit::Entry& e) {
          entries.push_back({.kind = e.kind, .order_id = e.order_id, .license_id = e.license_id, .key_id = e.key_id,
                             .record = Json::object(), .record_text = e.record});
        },
        "kind = 'issued' AND order_id GLOB ?", {order_glob});
  }
  if (files.empty() || entries.empty()) throw std::runtime_error("no license files or no issued entries to write again");

  std::filesystem::create_directories(work);
  issue::OutputFolder out(work / "files");
  const auto f0 = now();
  for (std::size_t i = 0; i < files.size(); i += chunk) {
    const std::vector<issue::OutputFile> part(files.begin() + static_cast<std::ptrdiff_t>(i),
                                              files.begin() + static_cast<std::ptrdiff_t>(std::min(files.size(), i + chunk)));
    out.write_all(part);
  }
  const auto f1 = now();

  // A new log made as `signet init` makes one.
  auto db = create_appliance_database(work / "floor.db");
  audit::Log log(db);
  audit::AppendOptions options;
  options.actor = "bench";
  options.clock_margin = std::chrono::minutes(1 << 20);
  const auto l0 = now();
  for (std::size_t i = 0; i < entries.size(); i += chunk) {
    std::vector<audit::NewEntry> part(entries.begin() + static_cast<std::ptrdiff_t>(i),
                                      entries.begin() + static_cast<std::ptrdiff_t>(std::min(entries.size(), i + chunk)));
    log.append(std::move(part), options);
  }
  const auto l1 = now();
  const auto per = [](double s, std::size_t n) { return s / static_cast<double>(n) * 1e6; };
  std::printf("n=%zu entries=%zu files_cpu_us=%.1f files_wall_us=%.1f log_cpu_us=%.1f log_wall_us=%.1f\n", files.size(),
              entries.size(), per(f1.cpu_s - f0.cpu_s, files.size()), per(f1.wall_s - f0.wall_s, files.size()),
              per(l1.cpu_s - l0.cpu_s, entries.size()), per(l1.wall_s - l0.wall_s, entries.size()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: bench_floor LICENSE_DIR DB ORDER_GLOB WORK_DIR [CHUNK]\n");
    return 64;
  }
  try {
    return run(argv[1], argv[2], argv[3], argv[4], argc == 6 ? std::stoul(argv[5]) : 500);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_floor: %s\n", e.what());
    return 1;
  }
}
