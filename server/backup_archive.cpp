#include "server/backup_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "common/file.h"

namespace hostca::server {
namespace {

namespace fs = std::filesystem;

constexpr char kArchiveMagic[] = "HCARCH01";
constexpr size_t kArchiveMagicLen = 8;
constexpr size_t kSegment = 1 << 20;
constexpr size_t kMaxPath = 4096;
constexpr uint8_t kEnd = 0, kFile = 1, kDir = 2;
constexpr char kStoreEntry[] = "db/data.mdb";
constexpr char kConfigEntry[] = "hostca.toml";

Status ErrnoStatus(const std::string& what, const std::string& path) {
  return Unavailable(what + " " + path + ": " + std::strerror(errno));
}

void PutUint(std::string* s, uint64_t v, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    s->push_back(static_cast<char>(v >> shift));
  }
}

Status Cancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load() ? Unavailable("the backup was cancelled", "cancelled")
                                             : Status::Ok();
}

// The archive over a BackupWriter.
class ArchiveWriter {
 public:
  ArchiveWriter(BackupWriter& out, const std::atomic<bool>* cancel) : out_(out), cancel_(cancel) {}
  Status Begin() { return out_.Write(std::string_view(kArchiveMagic, kArchiveMagicLen)); }
  Status Dir(const std::string& path) {
    ++entries_;
    return out_.Write(EntryHead(kDir, path));
  }
  Status FileBegin(const std::string& path, uint32_t mode) {
    ++entries_;
    std::string head = EntryHead(kFile, path);
    PutUint(&head, mode, 4);
    return out_.Write(head);
  }
  Status Segment(std::string_view data) {
    HOSTCA_RETURN_IF_ERROR(Cancelled(cancel_));
    std::string len;
    PutUint(&len, data.size(), 4);
    HOSTCA_RETURN_IF_ERROR(out_.Write(len));
    return out_.Write(data);
  }
  Status FileEnd() { return out_.Write(std::string(4, '\0')); }
  Status End() {
    std::string end(1, static_cast<char>(kEnd));
    PutUint(&end, entries_, 8);
    return out_.Write(end);
  }
  uint64_t entries() const { return entries_; }

 private:
  static std::string EntryHead(uint8_t type, const std::string& path) {
    std::string head(1, static_cast<char>(type));
    PutUint(&head, path.size(), 2);
    return head + path;
  }
  BackupWriter& out_;
  const std::atomic<bool>* cancel_;
  uint64_t entries_ = 0;
};

Status AddFile(ArchiveWriter& w, const std::string& source, const std::string& name) {
  const int fd = ::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus("cannot read", source);
  }
  struct stat st {};
  ::fstat(fd, &st);
  Status result = w.FileBegin(name, st.st_mode & 0777);
  std::vector<char> buf(kSegment);
  while (result.ok()) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      result = ErrnoStatus("cannot read", source);
    } else if (n == 0) {
      break;
    } else {
      result = w.Segment(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
  }
  ::close(fd);
  return result.ok() ? w.FileEnd() : result;
}

// The store: copy_store writes into a pipe on its own thread while this one
// encrypts what comes out, so the copy never lands on disk unencrypted and
// memory stays at one segment. On an error the read end is closed early:
// LMDB's copy then fails with EPIPE (its copy thread blocks SIGPIPE, and
// hostca-server ignores it) and the thread is joined.
Status AddStore(ArchiveWriter& w, const BackupSource& src, uint64_t* store_bytes) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return ErrnoStatus("cannot create a pipe for", "the store copy");
  }
  Status copy_status;
  std::thread copier([&] {
    copy_status = src.copy_store(fds[1]);
    ::close(fds[1]);
  });
  Status st = w.FileBegin(kStoreEntry, 0600);
  std::vector<char> buf(kSegment);
  while (st.ok()) {
    const ssize_t n = ::read(fds[0], buf.data(), buf.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      st = ErrnoStatus("cannot read", "the store copy");
    } else if (n == 0) {
      break;
    } else {
      *store_bytes += static_cast<uint64_t>(n);
      st = w.Segment(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
  }
  ::close(fds[0]);
  copier.join();
  HOSTCA_RETURN_IF_ERROR(st);
  HOSTCA_RETURN_IF_ERROR(copy_status.WithContext("cannot copy the store"));
  if (*store_bytes == 0) {
    return Internal("the store copy is empty");
  }
  return w.FileEnd();
}

bool Skipped(const fs::path& rel, const fs::path& abs, const BackupSource& src) {
  const std::string name = rel.filename().string();
  const std::string first = rel.begin()->string();
  // serve.json describes the running server, not the CA (running_server.h).
  if (first == "db" || rel == "serve.json" || name.find(".tmp-") != std::string::npos ||
      (name.size() > 6 && name.compare(name.size() - 6, 6, ".hcbak") == 0)) {
    return true;
  }
  if (!src.config_path.empty() && rel == kConfigEntry) {
    return true;
  }
  if (!src.exclude_dir.empty()) {
    std::error_code ec;
    if (fs::equivalent(abs, src.exclude_dir, ec)) {
      return true;
    }
  }
  return false;
}

// The data directory's files and directories (relative paths, sorted so
// each directory comes before what it holds).
Result<std::vector<std::pair<std::string, bool>>> ListDataDir(const BackupSource& src) {
  std::vector<std::pair<std::string, bool>> out;  // path, is directory
  std::error_code ec;
  const fs::path root(src.data_dir);
  fs::recursive_directory_iterator it(root, ec), end;
  if (ec) {
    return Unavailable("cannot read the data directory " + src.data_dir + ": " + ec.message());
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      return Unavailable("cannot read the data directory " + src.data_dir + ": " + ec.message());
    }
    const fs::path rel = it->path().lexically_relative(root);
    if (Skipped(rel, it->path(), src)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (it->is_symlink(ec)) {
      continue;
    }
    if (it->is_directory(ec)) {
      out.emplace_back(rel.string(), true);
    } else if (it->is_regular_file(ec)) {
      out.emplace_back(rel.string(), false);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<BackupReport> CreateBackup(const BackupSource& src, const std::string& out_path,
                                  std::string_view passphrase, int64_t now, const KdfParams& kdf) {
  if (!FileExists(src.data_dir + "/ca.crt")) {
    return InvalidArgument(src.data_dir + " holds no CA (no ca.crt): nothing to back up",
                           "incomplete_data_dir");
  }
  HOSTCA_ASSIGN_OR_RETURN(const auto listing, ListDataDir(src));
  HOSTCA_ASSIGN_OR_RETURN(auto writer, BackupWriter::Create(out_path, passphrase, now, kdf));
  ArchiveWriter w(*writer, src.cancel);
  BackupReport report;
  HOSTCA_RETURN_IF_ERROR(w.Begin());
  for (const auto& [rel, is_dir] : listing) {
    HOSTCA_RETURN_IF_ERROR(is_dir ? w.Dir(rel) : AddFile(w, src.data_dir + "/" + rel, rel));
  }
  if (!src.config_path.empty()) {
    HOSTCA_RETURN_IF_ERROR(AddFile(w, src.config_path, kConfigEntry));
  }
  HOSTCA_RETURN_IF_ERROR(w.Dir("db"));
  HOSTCA_RETURN_IF_ERROR(AddStore(w, src, &report.store_bytes));
  HOSTCA_RETURN_IF_ERROR(w.End());
  HOSTCA_RETURN_IF_ERROR(Cancelled(src.cancel));
  HOSTCA_RETURN_IF_ERROR(writer->Finish());
  report.file_bytes = writer->bytes_written();
  report.entries = w.entries();
  return report;
}

namespace {

// The plaintext of a backup as a byte stream over its verified chunks.
class PlainStream {
 public:
  explicit PlainStream(BackupReader& r) : r_(r) {}
  // Exactly n bytes; a stream that ends first is a broken archive.
  Result<std::string> Read(size_t n) {
    std::string out;
    while (out.size() < n) {
      if (pos_ == buf_.size()) {
        HOSTCA_ASSIGN_OR_RETURN(const bool more, r_.Next(&buf_));
        pos_ = 0;
        if (!more) {
          return Broken("it ends inside an entry");
        }
        continue;
      }
      const size_t take = std::min(n - out.size(), buf_.size() - pos_);
      out.append(buf_, pos_, take);
      pos_ += take;
    }
    return out;
  }
  Result<uint64_t> Uint(int bytes) {
    HOSTCA_ASSIGN_OR_RETURN(const std::string b, Read(static_cast<size_t>(bytes)));
    uint64_t v = 0;
    for (char c : b) {
      v = (v << 8) | static_cast<uint8_t>(c);
    }
    return v;
  }
  // True when nothing follows (verifies the rest of the file).
  Result<bool> AtEnd() {
    while (pos_ == buf_.size()) {
      HOSTCA_ASSIGN_OR_RETURN(const bool more, r_.Next(&buf_));
      pos_ = 0;
      if (!more) {
        return true;
      }
    }
    return false;
  }
  static Status Broken(const std::string& why) {
    return InvalidArgument(
        "the archive inside the backup is malformed (" + why + "); nothing was restored",
        "backup_damaged");
  }

 private:
  BackupReader& r_;
  std::string buf_;
  size_t pos_ = 0;
};

// A relative path with no empty, "." or ".." component.
bool SafePath(const std::string& p) {
  if (p.empty() || p.size() > kMaxPath || p.front() == '/' || p.find('\0') != std::string::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= p.size()) {
    const size_t slash = std::min(p.find('/', start), p.size());
    const std::string part = p.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") {
      return false;
    }
    start = slash + 1;
  }
  return true;
}

Status RestoreFile(PlainStream& in, const std::string& path, uint32_t mode, uint64_t* bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        static_cast<mode_t>(mode & 0644));
  if (fd < 0) {
    return ErrnoStatus("cannot create", path);
  }
  // The recorded mode exactly, whatever the umask (keys 0600, certificates 0644).
  Status st;
  if (::fchmod(fd, static_cast<mode_t>(mode & 0644)) != 0) {
    st = ErrnoStatus("cannot chmod", path);
  }
  while (st.ok()) {
    auto len = in.Uint(4);
    if (!len.ok()) {
      st = len.status();
      break;
    }
    if (*len == 0) {
      break;
    }
    if (*len > kSegment) {
      st = PlainStream::Broken("a segment is too long");
      break;
    }
    auto data = in.Read(*len);
    if (!data.ok()) {
      st = data.status();
      break;
    }
    *bytes += data->size();
    for (std::string_view rest = *data; st.ok() && !rest.empty();) {
      const ssize_t w = ::write(fd, rest.data(), rest.size());
      if (w < 0 && errno != EINTR) {
        st = ErrnoStatus("cannot write", path);
      } else if (w > 0) {
        rest.remove_prefix(static_cast<size_t>(w));
      }
    }
  }
  if (st.ok() && ::fsync(fd) != 0) {
    st = ErrnoStatus("cannot fsync", path);
  }
  if (st.ok()) {
    // Out of the page cache, now that it is on disk. Written in long runs,
    // the file sits there in large folios, and the store (data.mdb) would
    // pay for that in every commit: LMDB rewrites scattered 4 KB pages, and
    // a write into a large folio, and its writeback, walk all its blocks
    // (about twice the server's CPU per certificate at 1M certificates,
    // bench/README.md). The server's reads bring pages back one at a time
    // (its map is MADV_RANDOM). Advice only: nothing to report if ignored.
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  }
  ::close(fd);
  return st;
}

void SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Decrypts and unpacks the whole backup into `tmp` (which exists, empty).
Status Unpack(BackupReader& reader, const std::string& tmp, RestoreReport* report) {
  PlainStream in(reader);
  HOSTCA_ASSIGN_OR_RETURN(const std::string magic, in.Read(kArchiveMagicLen));
  if (magic != std::string(kArchiveMagic, kArchiveMagicLen)) {
    return PlainStream::Broken("no archive magic");
  }
  std::set<std::string> seen, dirs;
  while (true) {
    HOSTCA_ASSIGN_OR_RETURN(const uint64_t type, in.Uint(1));
    if (type == kEnd) {
      HOSTCA_ASSIGN_OR_RETURN(const uint64_t count, in.Uint(8));
      if (count != report->entries) {
        return PlainStream::Broken("the entry count does not match");
      }
      break;
    }
    HOSTCA_ASSIGN_OR_RETURN(const uint64_t len, in.Uint(2));
    HOSTCA_ASSIGN_OR_RETURN(const std::string rel, in.Read(len));
    if ((type != kFile && type != kDir) || !SafePath(rel) || !seen.insert(rel).second) {
      return PlainStream::Broken("a bad or repeated entry");
    }
    const std::string parent = fs::path(rel).parent_path().string();
    if (!parent.empty() && dirs.count(parent) == 0) {
      return PlainStream::Broken("an entry before its directory");
    }
    ++report->entries;
    const std::string path = tmp + "/" + rel;
    if (type == kDir) {
      dirs.insert(rel);
      if (::mkdir(path.c_str(), 0700) != 0) {
        return ErrnoStatus("cannot create", path);
      }
      continue;
    }
    HOSTCA_ASSIGN_OR_RETURN(const uint64_t mode, in.Uint(4));
    HOSTCA_RETURN_IF_ERROR(RestoreFile(in, path, static_cast<uint32_t>(mode), &report->bytes));
    report->config_restored |= rel == kConfigEntry;
  }
  HOSTCA_ASSIGN_OR_RETURN(const bool at_end, in.AtEnd());
  if (!at_end) {
    return PlainStream::Broken("data after its end");
  }
  if (seen.count("ca.crt") == 0 || seen.count(kStoreEntry) == 0) {
    return PlainStream::Broken("it holds no ca.crt or no store");
  }
  for (const std::string& d : dirs) {
    SyncDir(tmp + "/" + d);
  }
  SyncDir(tmp);
  return Status::Ok();
}

}  // namespace

Result<RestoreReport> RestoreBackup(const std::string& in_path, const std::string& data_dir,
                                    std::string_view passphrase) {
  const fs::path target = fs::path(data_dir).lexically_normal();
  std::error_code ec;
  if (fs::exists(target, ec) && !(fs::is_directory(target, ec) && fs::is_empty(target, ec))) {
    return AlreadyExists(data_dir + " exists and is not empty; restore only into a new directory",
                         "restore_target_exists");
  }
  // Header and passphrase first: a wrong one creates nothing at all.
  HOSTCA_ASSIGN_OR_RETURN(auto reader, BackupReader::Open(in_path, passphrase));
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  HOSTCA_RETURN_IF_ERROR(MakeDirs(parent.string(), 0700));
  const std::string tmp =
      (parent / ("." + target.filename().string() + ".restore-" + HexEncode(RandomBytes(6))))
          .string();
  if (::mkdir(tmp.c_str(), 0700) != 0) {
    return ErrnoStatus("cannot create", tmp);
  }
  RestoreReport report;
  report.created_at = reader->header().created_at;
  Status st = Unpack(*reader, tmp, &report);
  // rename(2) replaces an empty directory, and only an empty one.
  if (st.ok() && ::rename(tmp.c_str(), target.c_str()) != 0) {
    st = ErrnoStatus("cannot move the restored directory to", data_dir);
  }
  if (!st.ok()) {
    fs::remove_all(tmp, ec);
    return st;
  }
  SyncDir(parent.string());
  return report;
}

}  // namespace hostca::server
