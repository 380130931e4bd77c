// Runs whole commands in turn, round after round, and reports each one's
// median and 10th-percentile wall time. Interleaving puts every command
// through the same drifts of the machine's speed (this VM's drift by a fifth
// within minutes), which back-to-back loops of one command do not.
//   bench_interleave N CMD1 ARGS... -- CMD2 ARGS... [-- ...]
//   -> stdout, one line per command: "median_ms=5.123 p10_ms=4.321 runs=N cmd=CMD1"
// The commands' output goes to /dev/null; one that fails stops the run (exit 1).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

double run_ms(std::vector<char*>& argv) {
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  const std::chrono::duration<double, std::milli> wall = std::chrono::steady_clock::now() - start;
  return wall.count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_interleave N CMD ARGS... [-- CMD ARGS...]...\n");
    return 64;
  }
  const int rounds = std::atoi(argv[1]);
  if (rounds < 1) return 64;
  std::vector<std::vector<char*>> cmds(1);
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      cmds.emplace_back();
      continue;
    }
    cmds.back().push_back(argv[i]);
  }
  for (auto& c : cmds) {
    if (c.empty()) return 64;
    c.push_back(nullptr);
  }
  std::vector<std::vector<double>> times(cmds.size());
  for (int r = 0; r < rounds; ++r) {
    // Each round starts with a different command, so that none always runs first.
    for (std::size_t k = 0; k < cmds.size(); ++k) {
      const std::size_t c = (k + static_cast<std::size_t>(r)) % cmds.size();
      const double ms = run_ms(cmds[c]);
      if (ms < 0) {
        std::fprintf(stderr, "bench_interleave: %s failed\n", cmds[c][0]);
        return 1;
      }
      times[c].push_back(ms);
    }
  }
  for (std::size_t c = 0; c < cmds.size(); ++c) {
    auto& t = times[c];
    std::sort(t.begin(), t.end());
    std::printf("median_ms=%.3f p10_ms=%.3f runs=%zu cmd=%s\n", t[t.size() / 2], t[t.size() / 10], t.size(), cmds[c][0]);
  }
  return 0;
}
