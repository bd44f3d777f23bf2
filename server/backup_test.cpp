// The backup file format (server/backup.h) and the data-directory archive
// (server/backup_archive.h): round trips, and every kind of damage refused
// with its own error and nothing written.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/file.h"
#include "server/backup.h"
#include "server/backup_archive.h"
#include "storage/storage.h"
#include "tests/testutil.h"

namespace hostca::server {
namespace {

using hostca::testing::TempDir;
namespace fs = std::filesystem;

// Cheap Argon2id for tests; the format is the same.
constexpr KdfParams kFastKdf{64, 1, 1};
constexpr char kPass[] = "correct horse battery staple";

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1103515245 + 12345;
    s[i] = static_cast<char>(seed >> 16);
  }
  return s;
}

std::string WriteBackupFile(const std::string& path, const std::string& plain) {
  auto w = BackupWriter::Create(path, kPass, 1'800'000'000, kFastKdf);
  REQUIRE(w.ok());
  // Uneven pieces, so chunk boundaries fall inside writes.
  for (size_t pos = 0; pos < plain.size(); pos += 300'007) {
    REQUIRE((*w)->Write(std::string_view(plain).substr(pos, 300'007)).ok());
  }
  REQUIRE((*w)->Finish().ok());
  return path;
}

// The whole plaintext, or the first error.
Result<std::string> ReadAll(const std::string& path, const std::string& pass = kPass) {
  HOSTCA_ASSIGN_OR_RETURN(auto r, BackupReader::Open(path, pass));
  std::string all, chunk;
  while (true) {
    HOSTCA_ASSIGN_OR_RETURN(const bool more, r->Next(&chunk));
    if (!more) {
      return all;
    }
    all += chunk;
  }
}

std::string Bytes(const std::string& path) { return *ReadFile(path); }
void Put(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

TEST_CASE("backup format: round trip of empty, small and multi-chunk streams") {
  TempDir tmp;
  for (const size_t size : {size_t{0}, size_t{1}, size_t{1} << 20, (size_t{3} << 20) + 17}) {
    INFO(size);
    const std::string plain = Pattern(size, static_cast<uint32_t>(size));
    const std::string path = WriteBackupFile(tmp.Sub("b" + std::to_string(size)), plain);
    REQUIRE(*FileMode(path) == 0600);
    auto back = ReadAll(path);
    INFO(back.status().ToString());
    REQUIRE(back.ok());
    REQUIRE(*back == plain);
    auto header = ReadBackupHeader(path);
    REQUIRE(header.ok());
    REQUIRE(header->version == kBackupFormatVersion);
    REQUIRE(header->kdf == "Argon2id");
    REQUIRE(header->kdf_params.memory_kib == 64);
    REQUIRE(header->created_at == 1'800'000'000);
    // Nothing of the plaintext shows in the file.
    if (size >= 64) {
      REQUIRE(Bytes(path).find(plain.substr(0, 64)) == std::string::npos);
    }
  }
  // No temporary file is left, and an existing file is never replaced.
  REQUIRE(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 4);
  auto again = BackupWriter::Create(tmp.Sub("b0"), kPass, 0, kFastKdf);
  REQUIRE(again.status().code() == Code::kAlreadyExists);
  REQUIRE(BackupWriter::Create(tmp.Sub("x"), "", 0, kFastKdf).status().code() ==
          Code::kInvalidArgument);
}

TEST_CASE("backup format: each kind of damage gets its own error") {
  TempDir tmp;
  const std::string plain = Pattern((3u << 20) + 5, 7);  // chunks 0..2 full, 3 final
  const std::string path = WriteBackupFile(tmp.Sub("good"), plain);
  const std::string good = Bytes(path);
  const std::string bad = tmp.Sub("bad");
  auto reason = [&](const std::string& data, const std::string& pass = kPass) {
    Put(bad, data);
    auto r = ReadAll(bad, pass);
    REQUIRE_FALSE(r.ok());
    INFO(r.status().ToString());
    return r.status().reason();
  };
  const size_t header_len = 8 + 4 + (good[10] << 8 | static_cast<uint8_t>(good[11])) + 32;
  const size_t record = 5 + (1u << 20) + 16;

  SECTION("wrong passphrase") { REQUIRE(reason(good, "wrong horse") == "wrong_passphrase"); }
  SECTION("a flipped byte in the header (salt, KDF cost, checksum)") {
    for (const size_t at : {size_t{30}, size_t{16}, header_len - 1}) {
      std::string d = good;
      d[at] ^= 0x01;
      REQUIRE(reason(d) == "backup_header_damaged");
    }
  }
  SECTION("a flipped byte in the middle, or in a chunk's flags or length") {
    for (const size_t at : {good.size() / 2, header_len + record + 10, header_len,
                            header_len + 3 * record + 2, good.size() - 1}) {
      std::string d = good;
      d[at] ^= 0x40;
      REQUIRE(reason(d) == "backup_damaged");
    }
  }
  SECTION("truncated inside a chunk, at a chunk boundary, or to the header") {
    for (const size_t len :
         {good.size() - 1, header_len + record, header_len + 2 * record + 3, header_len}) {
      REQUIRE(reason(good.substr(0, len)) == "backup_truncated");
    }
    REQUIRE(reason(good.substr(0, 20)) == "backup_header_damaged");
  }
  SECTION("chunks swapped or dropped") {
    std::string swapped = good;
    swapped.replace(header_len, record, good.substr(header_len + record, record));
    swapped.replace(header_len + record, record, good.substr(header_len, record));
    REQUIRE(reason(swapped) == "backup_damaged");
    std::string dropped = good;
    dropped.erase(header_len + record, record);
    REQUIRE(reason(dropped) == "backup_damaged");
  }
  SECTION("bytes after the final chunk") { REQUIRE(reason(good + "x") == "backup_trailing_data"); }
  SECTION("not a backup, or a format this hostca does not read") {
    REQUIRE(reason("PK\x03\x04 something else entirely") == "not_a_backup");
    REQUIRE(reason("") == "not_a_backup");
  }
}

// A data directory like init makes, with a real store holding one record.
struct DataDir {
  explicit DataDir(const TempDir& tmp) : dir(tmp.Sub("data")) {
    REQUIRE(MakeDirs(dir + "/tls", 0700).ok());
    REQUIRE(WriteFileAtomic(dir + "/ca.crt", "CERT", 0644).ok());
    REQUIRE(WriteFileAtomic(dir + "/ca.key", "KEY", 0600).ok());
    REQUIRE(WriteFileAtomic(dir + "/ca.pass", "PASS\n", 0600).ok());
    REQUIRE(WriteFileAtomic(dir + "/admin.token", "TOKEN\n", 0600).ok());
    REQUIRE(WriteFileAtomic(dir + "/tls/server.crt", "TLSCERT", 0644).ok());
    REQUIRE(WriteFileAtomic(dir + "/tls/server.key", "TLSKEY", 0600).ok());
    REQUIRE(WriteFileAtomic(dir + "/ca.key.tmp-abc", "half-written", 0600).ok());
    auto opened = storage::OpenLmdbStorage({.path = dir + "/db", .durable = false});
    REQUIRE(opened.ok());
    store = std::move(*opened);
    storage::CertRecord rec;
    rec.serial = std::string(16, '\x07');
    rec.host_id = "5b0e4c1e-8f38-4e57-9a51-0f3c7c2f6b10";
    rec.names = {"web1.example.org"};
    rec.not_after = 1'900'000'000;
    rec.der = Pattern(200'000, 3);  // a store of a few MiB, several chunks
    for (int i = 0; i < 20; ++i) {
      rec.serial[0] = static_cast<char>(i + 1);
      REQUIRE(store->Update([&](storage::WriteTxn& txn) { return txn.InsertCert(rec); }).ok());
    }
  }
  BackupSource Source() {
    BackupSource src;
    src.data_dir = dir;
    src.copy_store = [this](int fd) { return store->CopyCompactTo(fd); };
    return src;
  }
  std::string dir;
  std::unique_ptr<storage::Storage> store;
};

// Pages of the file at `path` in the page cache (mincore over a map of it),
// or nullopt on tmpfs, whose files live in the cache.
std::optional<size_t> CachedPages(const std::string& path) {
  struct statfs fs_info;
  REQUIRE(::statfs(path.c_str(), &fs_info) == 0);
  if (fs_info.f_type == TMPFS_MAGIC) {
    return std::nullopt;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const size_t size = static_cast<size_t>(::lseek(fd, 0, SEEK_END));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  REQUIRE(map != MAP_FAILED);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  REQUIRE(::mincore(map, size, resident.data()) == 0);
  ::munmap(map, size);
  return static_cast<size_t>(
      std::count_if(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; }));
}

TEST_CASE("backup archive: a data directory and its store come back whole") {
  TempDir tmp;
  DataDir data(tmp);
  const std::string file = tmp.Sub("ca.hcbak");
  auto report = CreateBackup(data.Source(), file, kPass, 1'800'000'000, kFastKdf);
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  REQUIRE(report->store_bytes > 4'000'000);

  const std::string restored = tmp.Sub("new/data");
  auto back = RestoreBackup(file, restored, kPass);
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  REQUIRE(back->created_at == 1'800'000'000);
  REQUIRE_FALSE(back->config_restored);
  for (const char* name :
       {"ca.crt", "ca.key", "ca.pass", "admin.token", "tls/server.crt", "tls/server.key"}) {
    INFO(name);
    REQUIRE(*ReadFile(restored + "/" + name) == *ReadFile(data.dir + "/" + name));
    REQUIRE(*FileMode(restored + "/" + name) == *FileMode(data.dir + "/" + name));
  }
  REQUIRE(*FileMode(restored + "/tls") == 0700);
  REQUIRE_FALSE(FileExists(restored + "/ca.key.tmp-abc"));
  REQUIRE_FALSE(FileExists(restored + "/db/lock.mdb"));
  // The restored store is on disk and out of the page cache (bench/README.md:
  // large folios make the server's commits cost more).
  if (const auto cached = CachedPages(restored + "/db/data.mdb")) {
    REQUIRE(*cached == 0);
  }
  auto store = storage::OpenLmdbStorage({.path = restored + "/db"});
  REQUIRE(store.ok());
  REQUIRE((*store)
              ->View([](storage::ReadTxn& txn) -> Status {
                HOSTCA_ASSIGN_OR_RETURN(const uint64_t n, txn.CountCerts());
                HOSTCA_ASSIGN_OR_RETURN(const auto rec, txn.GetCert(std::string(16, '\x07')));
                return n == 20 && rec.der == Pattern(200'000, 3) ? Status::Ok()
                                                                 : Internal("lost records");
              })
              .ok());

  // Into a directory that holds something: refused, untouched.
  auto again = RestoreBackup(file, restored, kPass);
  REQUIRE(again.status().reason() == "restore_target_exists");
  // Into an empty directory: allowed.
  REQUIRE(MakeDirs(tmp.Sub("empty"), 0700).ok());
  REQUIRE(RestoreBackup(file, tmp.Sub("empty"), kPass).ok());
}

TEST_CASE("backup archive: a damaged file or a wrong passphrase restores nothing") {
  TempDir tmp;
  DataDir data(tmp);
  const std::string file = tmp.Sub("ca.hcbak");
  REQUIRE(CreateBackup(data.Source(), file, kPass, 1'800'000'000, kFastKdf).ok());
  const std::string good = Bytes(file);
  const std::string parent = tmp.Sub("restore");
  REQUIRE(MakeDirs(parent, 0700).ok());
  auto refused = [&](const std::string& bytes, const std::string& pass) {
    Put(tmp.Sub("bad.hcbak"), bytes);
    auto r = RestoreBackup(tmp.Sub("bad.hcbak"), parent + "/data", pass);
    REQUIRE_FALSE(r.ok());
    // Neither the target nor a temporary directory is left.
    REQUIRE(fs::is_empty(parent));
    return r.status().reason();
  };
  std::string flipped_header = good, flipped_middle = good;
  flipped_header[40] ^= 1;
  flipped_middle[good.size() * 2 / 3] ^= 1;
  REQUIRE(refused(good, "not the passphrase") == "wrong_passphrase");
  REQUIRE(refused(flipped_header, kPass) == "backup_header_damaged");
  REQUIRE(refused(flipped_middle, kPass) == "backup_damaged");
  REQUIRE(refused(good.substr(0, good.size() - 100), kPass) == "backup_truncated");
  REQUIRE(refused(good.substr(0, good.size() / 2), kPass) == "backup_truncated");
}

TEST_CASE("backup archive: a cancelled backup leaves no file") {
  TempDir tmp;
  DataDir data(tmp);
  std::atomic<bool> cancel{true};
  BackupSource src = data.Source();
  src.cancel = &cancel;
  auto r = CreateBackup(src, tmp.Sub("c.hcbak"), kPass, 0, kFastKdf);
  REQUIRE(r.status().reason() == "cancelled");
  REQUIRE_FALSE(FileExists(tmp.Sub("c.hcbak")));
  REQUIRE(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 1);
}

}  // namespace
}  // namespace hostca::server
