// deny_uring: runs a command with io_uring denied the way container runtimes deny it (Docker's
// and containerd's default seccomp profiles since 2023): io_uring_setup, io_uring_enter and
// io_uring_register fail with EPERM, everything else is allowed. The filter is installed with
// libseccomp and inherited across execve and by every thread and child of the command.
//
// Usage: deny_uring COMMAND [ARG...]   (exit 127 if the filter or exec fails)
#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: deny_uring COMMAND [ARG...]\n");
    return 2;
  }
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
  if (filter == nullptr) {
    std::fprintf(stderr, "deny_uring: seccomp_init failed\n");
    return 127;
  }
  const char* denied[] = {"io_uring_setup", "io_uring_enter", "io_uring_register"};
  for (const char* name : denied) {
    const int syscall_number = seccomp_syscall_resolve_name(name);
    int result = syscall_number == __NR_SCMP_ERROR
                     ? -EINVAL
                     : seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), syscall_number, 0);
    if (result < 0) {
      std::fprintf(stderr, "deny_uring: cannot deny %s: %s\n", name, std::strerror(-result));
      return 127;
    }
  }
  const int loaded = seccomp_load(filter);  // sets no_new_privs first (SCMP_FLTATR_CTL_NNP)
  seccomp_release(filter);
  if (loaded < 0) {
    std::fprintf(stderr, "deny_uring: seccomp_load: %s\n", std::strerror(-loaded));
    return 127;
  }
  execvp(argv[1], argv + 1);
  std::fprintf(stderr, "deny_uring: %s: %s\n", argv[1], std::strerror(errno));
  return 127;
}
