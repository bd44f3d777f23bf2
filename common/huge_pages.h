// A hint for large buffers written once and soon freed (a CRL of a million
// entries and its PEM, 49 and 66 MB): the kernel may back their 2 MiB-aligned
// middle with transparent huge pages when they are first touched (THP in
// "madvise" mode, Debian's default), one fault per 2 MiB instead of one per
// 4 KiB page. On the benchmark machine of 2026-12-05 a first touch cost about
// 16 us a page, and the 1M CRL's sign went from 0.39 to 0.24 s with it
// (bench/results/crl-2026-12-05-one-buffer, crl-2026-12-05). Without THP
// the call fails and nothing changes.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace hostca {

inline void AdviseHugePages(void* p, size_t n) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
  if (end > begin) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
}

}  // namespace hostca
