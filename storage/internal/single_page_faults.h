// Read faults on the store's map that map one page, not its neighbours.
//
// On a read fault in a file mapping Linux also maps the cached pages
// around the faulting one ("fault-around": 16 pages, and since 6.x the
// whole large folio), which VmRSS counts. The store's reads are random
// B-tree pages (serials, UUIDs): the neighbours are of no use, yet they
// fill the server's mapped-pages budget (server/mapped_pages.h) sixteen
// times sooner, and each release of the budget also drops the B-tree's
// branch pages, which every later lookup maps again.
//
// Linux has no madvise for this. It skips fault-around in a range
// registered with a userfaultfd, so the map is registered in write-protect
// mode with UFFD_FEATURE_WP_ASYNC (Linux 6.7): the map is read-only (no
// MDB_WRITEMAP) and no page is ever write-protected, so nothing is ever
// reported and read faults are handled as before, one page each. Without
// it (an older kernel, CONFIG_USERFAULTFD off, a seccomp filter that
// refuses the call) the map keeps the kernel's default; nothing else
// changes.
//
// Thread safety: Arm runs where the map cannot move (the store's resize
// gate held).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace hostca::storage::internal {

class SinglePageFaults {
 public:
  SinglePageFaults() = default;
  ~SinglePageFaults();
  SinglePageFaults(const SinglePageFaults&) = delete;
  SinglePageFaults& operator=(const SinglePageFaults&) = delete;

  // Registers each [begin, end) (page-aligned mappings); again after the
  // map moved. True when every range is registered; false when the kernel
  // refuses, after which it is not asked again.
  bool Arm(const std::vector<std::pair<uintptr_t, uintptr_t>>& ranges);
  bool armed() const { return armed_; }

 private:
  int fd_ = -1;
  bool refused_ = false;
  bool armed_ = false;
};

}  // namespace hostca::storage::internal
