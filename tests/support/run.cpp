#include "run.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace signet::test {

namespace {

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  }
  ~Pipe() {
    for (const int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_end(int i) {
    if (fds[i] >= 0) ::close(fds[i]);
    fds[i] = -1;
  }
};

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the child closed its end; what it read is what it got
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

std::filesystem::path signet_binary() {
  const char* bin = std::getenv("SIGNET_BIN");
  return bin != nullptr && *bin != '\0' ? std::filesystem::path(bin) : std::filesystem::path(SIGNET_DEFAULT_BIN);
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  Pipe in;
  Pipe out;
  Pipe err;
  std::vector<std::unique_ptr<Pipe>> extras;
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, in.fds[0], 0);
  ::posix_spawn_file_actions_adddup2(&actions, out.fds[1], 1);
  ::posix_spawn_file_actions_adddup2(&actions, err.fds[1], 2);
  for (const auto& [fd, content] : options.extra_fds) {
    extras.push_back(std::make_unique<Pipe>());
    ::posix_spawn_file_actions_adddup2(&actions, extras.back()->fds[0], fd);
  }
  // The child gets 0-2 and the descriptors asked for, nothing else: one this
  // test process inherited (from CI, a shell) would otherwise be open in the
  // child too, and a test of "descriptor N is not passed in" would not hold.
  int highest = 2;
  for (const auto& [fd, content] : options.extra_fds) highest = std::max(highest, fd);
  for (int fd = 3; fd < highest; ++fd) {
    bool wanted = false;
    for (const auto& extra : options.extra_fds) wanted = wanted || extra.first == fd;
    if (!wanted) ::posix_spawn_file_actions_addclose(&actions, fd);
  }
  ::posix_spawn_file_actions_addclosefrom_np(&actions, highest + 1);
  if (!options.cwd.empty()) ::posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) env_map[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : options.env) env_map[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_map) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
  in.close_end(0);
  out.close_end(1);
  err.close_end(1);
  for (std::size_t i = 0; i < extras.size(); ++i) {
    extras[i]->close_end(0);
    write_all(extras[i]->fds[1], options.extra_fds[i].second);
    extras[i]->close_end(1);
  }
  write_all(in.fds[1], options.input);
  in.close_end(1);

  RunResult result;
  std::array<pollfd, 2> fds{{{out.fds[0], POLLIN, 0}, {err.fds[0], POLLIN, 0}}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      std::array<char, 65536> buf{};
      const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
      if (n > 0) {
        sinks[i]->append(buf.data(), static_cast<std::size_t>(n));
      } else {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

RunResult signet(const std::vector<std::string>& args, const RunOptions& options) {
  std::vector<std::string> argv{signet_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, options);
}

RunResult shell(const std::string& command, const RunOptions& options) {
  return run({"/bin/sh", "-c", command}, options);
}

}  // namespace signet::test
