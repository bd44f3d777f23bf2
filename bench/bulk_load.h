// The bulk loader of scale_bench (bench/README.md): fills a hostca store
// (DATA/db, LMDB, through hostca_storage) with N certificate records and a
// host for each, as a CA that has issued for a year would hold them:
// 16-byte random serials, a host with a UUID v4 host ID and a hostname per
// certificate, one real certificate's DER in every record, notAfter spread
// uniformly over the next 365 days (issued 365 days before), and about 1%
// revoked. Writes go through Storage::Update, many records per call from a
// few threads at once, without fsync (MDB_NOSYNC); the file is synced once
// at the end, then compacted (BulkLoadOptions::compact). Thread safety: BulkLoad starts and joins
// its own threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace hostca::bench {

struct BulkLoadOptions {
  std::string db_path;      // DATA/db of a CA made by `hostca-server init`, not in use
  size_t certificates = 0;  // records to add (and as many hosts)
  std::string der;          // the certificate stored in every record
  int64_t now = 0;          // unix seconds; notAfter lies in [now, now + 365 days)
  double revoked_fraction = 0.01;
  size_t per_update = 2000;  // records (certificate + host) per Update call
  int writers = 4;           // threads generating records and calling Update
  bool progress = true;      // a line on stderr every 2 s
  // Then replace data.mdb with a compacted copy, cached 4 KB per page
  // (bulk_load.cpp, CompactStore): what a store grown by issuance, or
  // restored from a backup, looks like to the server.
  bool compact = true;
};

struct BulkLoadStats {
  size_t certificates = 0, hosts = 0, revoked = 0;
  size_t updates = 0;       // Update calls
  uint64_t commits = 0;     // group commits (StorageStats)
  double seconds = 0;       // Updates, from the first to the last commit
  double sync_seconds = 0;  // closing the store and fdatasync of data.mdb
  uint64_t map_resizes = 0;
  uint64_t loaded_bytes = 0, compacted_bytes = 0;  // data.mdb before and after (compact)
  double compact_seconds = 0;                      // the copy and reading it back
  double CertsPerSecond() const { return seconds > 0 ? certificates / seconds : 0; }
};

// Adds options.certificates records to the store in options.db_path.
Result<BulkLoadStats> BulkLoad(const BulkLoadOptions& options);

// Reads the file at `path` into the page cache 4 KB at a time (no
// read-ahead, 16 threads), as the server's reads would cache it: one small
// folio per page. CompactStore does it to its copy; scale_bench --reuse
// to the kept loaded store, whose pages the machine may have dropped since
// (on 2026-12-06, 4.9 GB of the 16 GB of a kept 10M store were still
// cached an hour after its load, with 18 GB of memory free). Returns the
// file's size.
Result<uint64_t> CacheInSmallFolios(const std::string& path);

}  // namespace hostca::bench
