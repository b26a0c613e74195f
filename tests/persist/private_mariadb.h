// A private MariaDB for the persist tests (tests/support/services.py is the Python twin): the
// server at $BOXOFFICE_TEST_MARIADB_URL, or else one started with tools/mariadb.sh under a
// temporary directory on first use and stopped when the test binary ends. Tests that kill or
// stop the server need it to be private (owned()).
//
// Thread safety: test threads only; start/stop/kill from the test's main thread.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "persist/mariadb_store.h"

#ifndef BOXOFFICE_SOURCE_DIR
#error "BOXOFFICE_SOURCE_DIR must name the repository (tools/mariadb.sh)"
#endif

namespace boxoffice::persist::testing {

inline std::string run_command(const std::string& command, int* exit_status) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *exit_status = -1;
    return output;
  }
  char buffer[4096];
  size_t bytes = 0;
  while ((bytes = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, bytes);
  *exit_status = ::pclose(pipe);
  return output;
}

class MariadbServer {
 public:
  static MariadbServer& get() {
    static MariadbServer server;
    return server;
  }

  // Starts the private server on first use (unless the environment names one).
  bool ensure_started(std::string* error) {
    if (started_) return true;
    const char* url = std::getenv("BOXOFFICE_TEST_MARIADB_URL");
    if (url != nullptr && *url != '\0') {
      if (!parse_mariadb_url(url, &config_, error)) return false;
      started_ = true;
      return true;
    }
    char pattern[] = "/tmp/boxoffice-mariadb-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      *error = "mkdtemp failed";
      return false;
    }
    dir_ = pattern;
    started_ = start(error);
    return started_;
  }
  bool owned() const { return !dir_.empty(); }
  const MariadbConfig& config() const { return config_; }

  bool start(std::string* error) { return script("start", error); }  // no-op when running
  bool stop(std::string* error) { return script("stop", error); }
  bool kill(std::string* error) { return script("kill", error); }
  void stop_and_remove() {
    if (!owned()) return;
    std::string error;
    if (started_ && !script("stop", &error)) std::fprintf(stderr, "%s\n", error.c_str());
    std::filesystem::remove_all(dir_);
    dir_.clear();
    started_ = false;
  }

 private:
  bool script(const char* command, std::string* error) {
    const std::string line =
        std::string(BOXOFFICE_SOURCE_DIR "/tools/mariadb.sh ") + command + " --dir " + dir_;
    int status = 0;
    const std::string output = run_command(line, &status);
    if (status != 0) {
      *error = line + " failed (" + std::to_string(status) + "): " + output;
      return false;
    }
    if (std::string(command) != "start") return true;
    const size_t at = output.find("mariadb://");
    if (at == std::string::npos) {
      *error = line + " printed no URL: " + output;
      return false;
    }
    std::string url = output.substr(at);
    url = url.substr(0, url.find('\n'));
    return parse_mariadb_url(url, &config_, error);
  }

  MariadbConfig config_;
  std::string dir_;  // empty: not ours
  bool started_ = false;
};

class StopServer : public ::testing::Environment {
 public:
  void TearDown() override { MariadbServer::get().stop_and_remove(); }
};
inline ::testing::Environment* const stop_server =
    ::testing::AddGlobalTestEnvironment(new StopServer);

}  // namespace boxoffice::persist::testing
