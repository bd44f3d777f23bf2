#include "bench/bulk_load.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "storage/storage.h"

namespace hostca::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int64_t kValiditySeconds = 365 * 86400;         // the server's default
constexpr size_t kRandomPerRecord = 16 + 16 + 8 + 8 + 8;  // serial, UUID, expiry, revocation

// Host names as an organisation's fleet has them: role, number, site.
constexpr const char* kRoles[] = {"web", "db", "app", "cache", "build", "k8s-node", "mq", "lb"};
constexpr const char* kSites[] = {"par1", "ams2", "fra1", "lon3", "nyc2"};

uint64_t Uint64(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

std::string UuidV4(const char* random16) {
  std::string b(random16, 16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  const std::string hex = HexEncode(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

struct Chunk {
  std::vector<storage::CertRecord> certs;
  std::vector<storage::HostRecord> hosts;
  size_t revoked = 0;
};

// Records [first, first + count): the index makes host names unique.
Chunk MakeChunk(const BulkLoadOptions& o, size_t first, size_t count) {
  Chunk c;
  c.certs.reserve(count);
  c.hosts.reserve(count);
  const std::string random = RandomBytes(count * kRandomPerRecord);
  // revoked_fraction of the records, by a threshold on 64 random bits.
  const double scaled = o.revoked_fraction * 18446744073709551616.0;
  const uint64_t revoke_below =
      scaled >= 18446744073709551615.0 ? UINT64_MAX : static_cast<uint64_t>(scaled);
  for (size_t i = 0; i < count; ++i) {
    const char* r = random.data() + i * kRandomPerRecord;
    const size_t n = first + i;
    storage::HostRecord host;
    host.host_id = UuidV4(r + 16);
    host.primary_name = std::string(kRoles[n % std::size(kRoles)]) + "-" + std::to_string(n) + "." +
                        kSites[(n / 7) % std::size(kSites)] + ".corp.example";
    storage::CertRecord cert;
    cert.serial.assign(r, 16);  // positive and without a leading zero byte, as ca::NewSerial
    cert.serial[0] = static_cast<char>(cert.serial[0] & 0x7f);
    if (cert.serial[0] == 0) {
      cert.serial[0] = 0x01;
    }
    cert.host_id = host.host_id;
    cert.names = {host.primary_name};
    cert.not_after = o.now + static_cast<int64_t>(Uint64(r + 32) % kValiditySeconds);
    cert.issued_at = cert.not_after - kValiditySeconds;
    cert.not_before = cert.issued_at - 300;
    cert.der = o.der;
    if (Uint64(r + 40) < revoke_below) {
      static constexpr int kReasons[] = {1, 4, 5};  // keyCompromise, superseded, cessation
      const uint64_t x = Uint64(r + 48);
      cert.status = storage::CertStatus::kRevoked;
      cert.revocation_reason = kReasons[x % std::size(kReasons)];
      const int64_t since = std::max<int64_t>(o.now - cert.issued_at, 1);
      cert.revoked_at = cert.issued_at + static_cast<int64_t>((x >> 8) % since);
      ++c.revoked;
    }
    host.created_at = cert.issued_at;
    c.hosts.push_back(std::move(host));
    c.certs.push_back(std::move(cert));
  }
  return c;
}

Status SyncFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Unavailable("cannot open " + path + ": " + std::strerror(errno));
  }
  const int rc = fdatasync(fd);
  const int err = errno;
  close(fd);
  return rc == 0 ? Status::Ok()
                 : Unavailable("fdatasync " + path + ": " + std::string(std::strerror(err)));
}

// Replaces DB/data.mdb with a compacted copy of it, as `restore` writes one
// (mdb_env_copyfd2, MDB_CP_COMPACT), and leaves the copy in the page cache
// as the server would have read it: one 4 KB folio per page.
//
// Why: the load's large commits (thousands of random-key inserts each) free
// tens of thousands of pages at a time, and LMDB reuses free pages oldest
// first, as many as a commit needs. A store left that way keeps that many
// free pages for good, so every later commit writes its new pages on pages
// freed some 600 commits before, which the server has long unmapped: about
// 8 more page faults per certificate at 1M and writes spread over the file
// (bench/README.md). A store filled by issuance (a few certificates per
// commit) reuses what the commit before freed, as the empty store does.
Result<uint64_t> CompactStore(const std::string& db) {
  const std::string path = db + "/data.mdb";
  const std::string tmp = path + ".compact";
  const int out = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    return Unavailable("cannot create " + tmp + ": " + std::strerror(errno));
  }
  Status st = storage::CopyLmdbStoreTo(db, out);
  if (st.ok() && fdatasync(out) != 0) {
    st = Unavailable("fdatasync " + tmp + ": " + std::strerror(errno));
  }
  // Written in long runs, the copy sits in large folios: drop it (it is on
  // disk now) and read it back below.
  posix_fadvise(out, 0, 0, POSIX_FADV_DONTNEED);
  close(out);
  if (st.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    st = Unavailable("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  return CacheInSmallFolios(path);
}

}  // namespace

// Reads `path` 4 KB at a time (bulk_load.h).
Result<uint64_t> CacheInSmallFolios(const std::string& path) {
  const int in = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    return Unavailable("cannot open " + path + ": " + std::strerror(errno));
  }
  // POSIX_FADV_RANDOM: no readahead, so each 4 KB read caches one page.
  // Each read waits for the disk: 16 threads keep it busy (one thread read
  // 1.5 GB in 35 s).
  posix_fadvise(in, 0, 0, POSIX_FADV_RANDOM);
  const off_t size = lseek(in, 0, SEEK_END);
  constexpr off_t kPage = 4096, kStripe = 64 * kPage;
  constexpr int kReaders = 16;
  std::atomic<int> read_error{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      char byte = 0;
      for (off_t stripe = r * kStripe; stripe < size; stripe += kReaders * kStripe) {
        for (off_t off = stripe; off < std::min(stripe + kStripe, size); off += kPage) {
          if (pread(in, &byte, 1, off) < 0) {
            read_error = errno;
            return;
          }
        }
      }
    });
  }
  for (std::thread& t : readers) {
    t.join();
  }
  close(in);
  if (read_error.load() != 0) {
    return Unavailable("cannot read " + path + ": " + std::strerror(read_error.load()));
  }
  return static_cast<uint64_t>(size);
}

Result<BulkLoadStats> BulkLoad(const BulkLoadOptions& o) {
  if (o.der.empty() || o.per_update == 0 || o.writers < 1) {
    return InvalidArgument("BulkLoad needs a DER, per_update > 0 and a writer");
  }
  storage::LmdbOptions lmdb;
  lmdb.path = o.db_path;
  // About 1.3 KB per certificate with its host and indices: map it all at
  // once rather than growing (each growth runs a batch again).
  lmdb.initial_map_size = (static_cast<uint64_t>(o.certificates) * 3072) + (1ull << 30);
  lmdb.max_batch = 4096;
  lmdb.durable = false;
  HOSTCA_ASSIGN_OR_RETURN(std::unique_ptr<storage::Storage> store, storage::OpenLmdbStorage(lmdb));
  const storage::StorageStats before = store->Stats();

  BulkLoadStats stats;
  std::atomic<size_t> next_chunk{0}, done{0}, revoked{0}, updates{0};
  std::mutex error_mu;
  Status first_error;
  std::atomic<bool> failed{false};
  const size_t chunks = (o.certificates + o.per_update - 1) / o.per_update;
  const auto start = SteadyClock::now();
  auto writer = [&] {
    while (!failed.load()) {
      const size_t k = next_chunk.fetch_add(1);
      if (k >= chunks) {
        return;
      }
      const size_t first = k * o.per_update;
      const Chunk chunk = MakeChunk(o, first, std::min(o.per_update, o.certificates - first));
      // Only through txn, and nothing accumulated: a batch may run again.
      Status st = store->Update([&chunk](storage::WriteTxn& txn) -> Status {
        for (size_t i = 0; i < chunk.certs.size(); ++i) {
          HOSTCA_RETURN_IF_ERROR(txn.PutHost(chunk.hosts[i]));
          HOSTCA_RETURN_IF_ERROR(txn.InsertCert(chunk.certs[i]));
        }
        return Status::Ok();
      });
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (first_error.ok()) {
          first_error = st.WithContext("bulk load, records from " + std::to_string(first));
        }
        failed = true;
        return;
      }
      ++updates;
      revoked += chunk.revoked;
      done += chunk.certs.size();
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < o.writers; ++i) {
    threads.emplace_back(writer);
  }
  // Progress until the writers are done.
  auto last_report = start;
  size_t last_done = 0;
  while (done.load() < o.certificates && !failed.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto now = SteadyClock::now();
    if (o.progress && now - last_report >= std::chrono::seconds(2)) {
      const size_t d = done.load();
      const double total = std::chrono::duration<double>(now - start).count();
      const double recent = std::chrono::duration<double>(now - last_report).count();
      std::fprintf(stderr,
                   "   loaded %zu / %zu certificates (%.0f%%), %.0f/s now, %.0f/s overall\n", d,
                   o.certificates, 100.0 * static_cast<double>(d) / o.certificates,
                   static_cast<double>(d - last_done) / recent, static_cast<double>(d) / total);
      last_report = now;
      last_done = d;
    }
  }
  for (std::thread& t : threads) {
    t.join();
  }
  stats.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (!first_error.ok()) {
    store->Close();
    return first_error;
  }
  const storage::StorageStats after = store->Stats();
  stats.certificates = done.load();
  stats.hosts = stats.certificates;
  stats.revoked = revoked.load();
  stats.updates = updates.load();
  stats.commits = after.commits - before.commits;
  stats.map_resizes = after.map_resizes;
  // Without fsync the pages are only in the page cache: write them out now,
  // or the server's first durable commit would pay for all of them.
  const auto sync_start = SteadyClock::now();
  store->Close();
  HOSTCA_RETURN_IF_ERROR(SyncFile(o.db_path + "/data.mdb"));
  stats.sync_seconds = std::chrono::duration<double>(SteadyClock::now() - sync_start).count();
  if (o.compact) {
    const auto compact_start = SteadyClock::now();
    struct stat before {};
    if (stat((o.db_path + "/data.mdb").c_str(), &before) == 0) {
      stats.loaded_bytes = static_cast<uint64_t>(before.st_size);
    }
    HOSTCA_ASSIGN_OR_RETURN(stats.compacted_bytes, CompactStore(o.db_path));
    stats.compact_seconds =
        std::chrono::duration<double>(SteadyClock::now() - compact_start).count();
  }
  if (o.progress) {
    std::fprintf(stderr,
                 "   loaded %zu certificates and hosts (%zu revoked) in %.1f s: %.0f/s, %zu "
                 "Updates in %llu commits; close and fdatasync %.1f s\n",
                 stats.certificates, stats.revoked, stats.seconds, stats.CertsPerSecond(),
                 stats.updates, static_cast<unsigned long long>(stats.commits), stats.sync_seconds);
    if (o.compact) {
      std::fprintf(stderr,
                   "   compacted data.mdb from %.0f to %.0f MiB and read it back 4 KB at a time "
                   "in %.1f s\n",
                   static_cast<double>(stats.loaded_bytes) / (1 << 20),
                   static_cast<double>(stats.compacted_bytes) / (1 << 20), stats.compact_seconds);
    }
  }
  return stats;
}

}  // namespace hostca::bench
