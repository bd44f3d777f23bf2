#include "bench/disk_sync.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "common/file.h"

namespace hostca::bench {
namespace {

constexpr size_t kPage = 4096;

Status Errno(const std::string& what) { return Internal(what + ": " + std::strerror(errno)); }

// Rewrites each page with its own bytes, then times one fdatasync.
Result<double> RewriteAndSync(int fd, const std::vector<uint64_t>& pages) {
  std::vector<char> buf(kPage);
  for (const uint64_t page : pages) {
    const off_t at = static_cast<off_t>(page * kPage);
    if (::pread(fd, buf.data(), kPage, at) != static_cast<ssize_t>(kPage) ||
        ::pwrite(fd, buf.data(), kPage, at) != static_cast<ssize_t>(kPage)) {
      return Errno("cannot rewrite a page");
    }
  }
  const auto start = std::chrono::steady_clock::now();
  if (::fdatasync(fd) != 0) {
    return Errno("fdatasync");
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The file's allocated bytes, not its size: LMDB's shaped tail is a hole
// (and rewriting a hole would allocate it).
Result<uint64_t> AllocatedSpan(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Errno("cannot stat " + path);
  }
  return std::min<uint64_t>(static_cast<uint64_t>(st.st_size),
                            static_cast<uint64_t>(st.st_blocks) * 512);
}

double MedianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

Result<SyncTiming> TimePageSyncs(const std::string& path, size_t pages, size_t samples) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) {
    return Errno("cannot open " + path);
  }
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t span, AllocatedSpan(fd.get(), path));
  const uint64_t span_pages = span / kPage;
  pages = std::max<size_t>(1, pages);
  if (span_pages < 2 * pages) {
    return InvalidArgument(path + " is too small to time " + std::to_string(pages) + " pages");
  }
  std::mt19937_64 rng(0x5eed);  // the same offsets in every run
  std::uniform_int_distribution<uint64_t> any_page(0, span_pages - 1);
  std::uniform_int_distribution<uint64_t> run_start(0, span_pages - pages);
  SyncTiming out;
  out.pages = pages;
  out.span_bytes = static_cast<double>(span);
  std::vector<double> scattered, contiguous;
  for (size_t s = 0; s <= samples; ++s) {  // the first of each is a warm-up
    std::vector<uint64_t> offsets(pages);
    for (uint64_t& p : offsets) {
      p = any_page(rng);
    }
    std::sort(offsets.begin(), offsets.end());  // as LMDB writes a commit's pages
    HOSTCA_ASSIGN_OR_RETURN(const double t1, RewriteAndSync(fd.get(), offsets));
    const uint64_t first = run_start(rng);
    for (size_t i = 0; i < pages; ++i) {
      offsets[i] = first + i;
    }
    HOSTCA_ASSIGN_OR_RETURN(const double t2, RewriteAndSync(fd.get(), offsets));
    if (s > 0) {
      scattered.push_back(t1);
      contiguous.push_back(t2);
    }
  }
  out.scattered_seconds = MedianOf(scattered);
  out.contiguous_seconds = MedianOf(contiguous);
  return out;
}

Result<ReadTiming> TimePageReads(const std::string& path, size_t pages) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return Errno("cannot open " + path);
  }
  HOSTCA_ASSIGN_OR_RETURN(const uint64_t span, AllocatedSpan(fd.get(), path));
  // One page in each of distinct 64 KB windows: a read fault maps the
  // cached pages of its window too (fault-around), which a later touch
  // would then find mapped.
  constexpr uint64_t kWindow = 16;
  const uint64_t windows = span / (kWindow * kPage);
  const size_t n = std::min<size_t>(pages, windows / 3);
  if (n < 20) {
    return InvalidArgument(path + " is too small to read 20 random pages of it");
  }
  std::mt19937_64 rng(0x5eed);
  std::vector<uint64_t> offsets(windows);
  for (uint64_t w = 0; w < windows; ++w) {
    offsets[w] = w * kWindow;
  }
  std::shuffle(offsets.begin(), offsets.end(), rng);
  std::uniform_int_distribution<uint64_t> in_window(0, kWindow - 1);
  for (size_t i = 0; i < 3 * n; ++i) {
    offsets[i] += in_window(rng);
  }
  void* map = ::mmap(nullptr, span, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) {
    return Errno("cannot map " + path);
  }
  const auto* bytes = static_cast<const volatile char*>(map);
  char sum = 0;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    sum = static_cast<char>(sum + bytes[offsets[i] * kPage]);
  }
  const double faults =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The third set, mapped ahead page by page, then touched.
  double populates = 0;
  double touches = 0;
  char* base = static_cast<char*>(map);
  start = std::chrono::steady_clock::now();
  bool populated = true;
  for (size_t i = 2 * n; i < 3 * n && populated; ++i) {
    populated = ::madvise(base + offsets[i] * kPage, kPage, MADV_POPULATE_READ) == 0;
  }
  if (populated) {
    populates = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    start = std::chrono::steady_clock::now();
    for (size_t i = 2 * n; i < 3 * n; ++i) {
      sum = static_cast<char>(sum + bytes[offsets[i] * kPage]);
    }
    touches = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } else if (errno != EINVAL) {
    const Status st = Errno("cannot map a page of " + path + " ahead");
    ::munmap(map, span);
    return st;
  }
  ::munmap(map, span);
  std::vector<char> buf(kPage);
  start = std::chrono::steady_clock::now();
  for (size_t i = n; i < 2 * n; ++i) {
    if (::pread(fd.get(), buf.data(), kPage, static_cast<off_t>(offsets[i] * kPage)) !=
        static_cast<ssize_t>(kPage)) {
      return Errno("cannot read a page of " + path);
    }
    sum = static_cast<char>(sum + buf[0]);
  }
  const double preads =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (void)sum;
  ReadTiming out;
  out.pages = n;
  out.span_bytes = static_cast<double>(span);
  out.fault_seconds = faults / static_cast<double>(n);
  out.pread_seconds = preads / static_cast<double>(n);
  out.populate_seconds = populates / static_cast<double>(n);
  out.touch_populated_seconds = touches / static_cast<double>(n);
  return out;
}

}  // namespace hostca::bench
