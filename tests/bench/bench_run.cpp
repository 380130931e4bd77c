// Runs a command and reports its wall time and peak resident set size:
//   bench_run CMD ARGS...  ->  stderr: "wall_s=1.234 user_s=1.5 sys_s=0.2 maxrss_kib=5678 status=0"
// (user and system CPU time of the child and everything it waited for).
// The child's own output goes where this program's goes.
#include <chrono>
#include <cstdio>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_run CMD [ARGS...]\n");
    return 64;
  }
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) return 71;
  if (pid == 0) {
    ::execvp(argv[1], argv + 1);
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  if (::wait4(pid, &status, 0, &usage) < 0) return 71;
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - start;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  std::fprintf(stderr, "wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kib=%ld status=%d\n", wall.count(),
               seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_maxrss, code);
  return code;
}
