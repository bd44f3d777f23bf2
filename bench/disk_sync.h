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

}  // namespace hostca::bench
