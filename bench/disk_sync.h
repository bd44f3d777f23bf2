// How long this machine's disk takes to make a commit's pages durable, by
// where the pages lie (bench/README.md, scale_bench "The disk under the
// commits"). Thread safety: none needed (called from a benchmark's main
// thread, on files no process is writing).
#pragma once

#include <cstddef>
#include <string>

#include "common/status.h"

namespace hostca::bench {

struct SyncTiming {
  size_t pages = 0;               // 4 KB pages per sample
  double span_bytes = 0;          // the part of the file the offsets cover
  double scattered_seconds = 0;   // median fdatasync, pages at random offsets
  double contiguous_seconds = 0;  // median fdatasync, one run of pages
};

// `samples` times each: `pages` 4 KB pages of the existing file at `path`
// read and written back in place with the same bytes (the file's content
// does not change; the pages are dirtied, so fdatasync writes them), then
// one fdatasync timed. Scattered: at random page offsets over the file's
// allocated part (a trailing hole, as LMDB's shaped tail, is left out);
// contiguous: one run at a random offset. The file must not be open for
// writing elsewhere (a stopped server's store).
Result<SyncTiming> TimePageSyncs(const std::string& path, size_t pages, size_t samples);

// What reading one page of a store costs where a process has not mapped it
// yet: the server reads its store through LMDB's map, so a B-tree page it
// has not mapped (a random leaf, a page the budget dropped) is a page
// fault, even with the page cached.
struct ReadTiming {
  size_t pages = 0;          // pages read each way
  double span_bytes = 0;     // the part of the file the offsets cover
  double fault_seconds = 0;  // mean per first touch of a page in a read-only shared map
  double pread_seconds = 0;  // mean per 4 KB pread of a page
  // Mapping a page ahead instead (what bench/experiments' map-next-pages
  // did): mean per madvise(MADV_POPULATE_READ) of one page, then per first
  // touch of a page so mapped; both 0 where the kernel has no
  // MADV_POPULATE_READ (before Linux 5.14).
  double populate_seconds = 0;
  double touch_populated_seconds = 0;
};

// Up to `pages` random pages of the file's allocated part, each in a 64 KB
// window of its own, touched once each through a new read-only MAP_SHARED
// map of the file; as many others read with pread; as many others mapped
// one at a time with MADV_POPULATE_READ, then touched (fewer where the file
// has fewer than 3 x `pages` such windows; at least 20). All read what the
// page cache holds (a warm store); run on files no process is writing.
Result<ReadTiming> TimePageReads(const std::string& path, size_t pages);

}  // namespace hostca::bench
