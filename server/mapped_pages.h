// When the server drops its mappings of store pages (Storage::
// ReleaseMappedPages): every second, and sooner when the file pages mapped
// into the process exceed storage.mapped_mib. Under load at ten million
// stored certificates every random B-tree page read maps 64 KB (the kernel's
// fault-around), about 600 MiB a second, all of it page cache that VmRSS
// counts; the budget keeps VmRSS near it. Thread safety: free functions,
// safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace hostca::server {

// How often the maintenance thread looks at the mapped pages. What the
// server maps between two looks comes on top of the budget: at 10M stored
// certificates, issuing at 8 connections, the loaded server's peak VmRSS
// (VmHWM) was 492 and 592 MiB with a look every 100 ms, 244 and 266 MiB
// every 20 ms, and 220 and 225 MiB every 10 ms, at the same rate (issue 5
// asks for under 256 MiB; bench/results/scale-2026-12-03-mapped-check-*).
// A look reads /proc/self/statm: about 15 us, 0.15% of a core. With looks
// spaced by the room left under the budget (up to 125 ms apart when idle)
// the peak reached 364 MiB (bench/results/scale-2026-12-03-paced-looks-ab-
// 10m), most likely in a burst from idle such as the inventory queries, which
// map pages faster than the growth such a pacer can assume; so the interval
// is fixed.
inline constexpr std::chrono::milliseconds kMappedPagesCheckEvery{10};
// The longest the mappings are kept whatever their size.
inline constexpr std::chrono::seconds kMappedPagesKeptAtMost{1};

// Bytes of file-backed pages mapped into this process: the third field of
// /proc/self/statm (RssFile + RssShmem), 0 when it cannot be read.
uint64_t MappedFileBytes();

// True when the mappings are to be dropped now: they exceed `budget_bytes`,
// or `since_last_release` reached kMappedPagesKeptAtMost.
bool ShouldReleaseMappedPages(uint64_t mapped_bytes, uint64_t budget_bytes,
                              std::chrono::steady_clock::duration since_last_release);

}  // namespace hostca::server
