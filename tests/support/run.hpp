// Runs the real signet binary (SIGNET_BIN) as a user would: arguments, extra
// environment, standard input, working folder; captures stdout, stderr, exit code.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace signet::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

struct RunOptions {
  std::filesystem::path cwd;
  std::map<std::string, std::string> env;  // added to (or overriding) the inherited environment
  std::string input;                        // written to standard input, then closed
  std::vector<std::pair<int, std::string>> extra_fds;  // (fd number, content) readable pipes
};

// The path of the signet binary under test (from $SIGNET_BIN).
std::filesystem::path signet_binary();
// Runs a program with arguments (no shell).
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});
// Runs signet with arguments.
RunResult signet(const std::vector<std::string>& args, const RunOptions& options = {});
// Runs a shell command line through /bin/sh -c.
RunResult shell(const std::string& command, const RunOptions& options = {});

}  // namespace signet::test
