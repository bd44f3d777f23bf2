#include "storage/internal/single_page_faults.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// Debian 12's kernel headers (6.1) predate these; the kernel checks them.
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

namespace hostca::storage::internal {

SinglePageFaults::~SinglePageFaults() {
  if (fd_ >= 0) {
    ::close(fd_);  // unregisters every range
  }
}

bool SinglePageFaults::Arm(const std::vector<std::pair<uintptr_t, uintptr_t>>& ranges) {
  armed_ = false;
  if (refused_ || ranges.empty()) {
    return false;
  }
  if (fd_ < 0) {
    // User-mode faults only: allowed without privileges whatever
    // vm.unprivileged_userfaultfd says, and no fault is reported anyway.
    const long fd = ::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) {
      refused_ = true;
      return false;
    }
    fd_ = static_cast<int>(fd);
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC;  // a kernel without it refuses the handshake
    if (::ioctl(fd_, UFFDIO_API, &api) != 0) {
      ::close(fd_);
      fd_ = -1;
      refused_ = true;
      return false;
    }
  }
  for (const auto& [begin, end] : ranges) {
    uffdio_register reg{};
    reg.range.start = begin;
    reg.range.len = end - begin;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(fd_, UFFDIO_REGISTER, &reg) != 0) {
      refused_ = true;
      return false;
    }
  }
  armed_ = true;
  return true;
}

}  // namespace hostca::storage::internal
