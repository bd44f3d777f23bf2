#include "server/backup.h"

#include <botan/aead.h>
#include <botan/exceptn.h>
#include <botan/hash.h>
#include <botan/mac.h>
#include <botan/pwdhash.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/encoding.h"
#include "common/file.h"

namespace hostca::server {
namespace {

constexpr char kMagic[] = "HOSTCABK";  // 8 bytes, no NUL in the file
constexpr size_t kMagicLen = 8;
constexpr size_t kDigestLen = 32;
constexpr size_t kTagLen = 16;
constexpr size_t kSaltLen = 16;
constexpr size_t kNoncePrefixLen = 4;
constexpr size_t kKeyLen = 32;
constexpr uint32_t kChunkSize = 1 << 20;  // 1 MiB: bounded memory, small per-chunk overhead
constexpr size_t kMaxHeaderBody = 1024;
constexpr uint8_t kFinalFlag = 1;
// Limits on what a header may ask of the reader (a hostile file must not
// make restore allocate gigabytes or spin for hours).
constexpr uint32_t kMaxMemoryKib = 4u << 20;  // 4 GiB
constexpr uint32_t kMaxIterations = 64;
constexpr uint32_t kMaxParallelism = 64;
constexpr uint32_t kMaxChunkSize = 16u << 20;

Status ErrnoStatus(const std::string& what, const std::string& path) {
  return Unavailable(what + " " + path + ": " + std::strerror(errno));
}

void PutU16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v));
}
void PutU32(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    s->push_back(static_cast<char>(v >> shift));
  }
}
void PutU64(std::string* s, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    s->push_back(static_cast<char>(v >> shift));
  }
}
void PutBytes8(std::string* s, std::string_view b) {
  s->push_back(static_cast<char>(b.size()));
  s->append(b);
}

// Reads big-endian fields from a byte string; any overrun sets failed().
class Cursor {
 public:
  explicit Cursor(std::string_view data) : data_(data) {}
  uint64_t Uint(size_t bytes) {
    if (data_.size() - pos_ < bytes) {
      failed_ = true;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) {
      v = (v << 8) | static_cast<uint8_t>(data_[pos_++]);
    }
    return v;
  }
  std::string Bytes8() {
    const size_t n = Uint(1);
    if (failed_ || data_.size() - pos_ < n) {
      failed_ = true;
      return {};
    }
    std::string out(data_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  bool done() const { return !failed_ && pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Reads up to n bytes; fewer only at the end of the file.
Result<size_t> ReadUpTo(int fd, char* buf, size_t n, const std::string& path) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      return ErrnoStatus("cannot read", path);
    }
    if (r == 0) {
      break;
    }
    got += static_cast<size_t>(r);
  }
  return got;
}

Status WriteAllFd(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w < 0) {
      return errno == ENOSPC ? ResourceExhausted("the disk is full writing " + path, "disk_full")
                             : ErrnoStatus("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(w));
  }
  return Status::Ok();
}

// The header as written: everything up to and including its SHA-256.
struct EncodedHeader {
  BackupHeader fields;
  std::string salt, nonce_prefix, key_check;
  std::string bytes;   // magic .. digest
  std::string digest;  // SHA-256 of bytes before it; the chunks' AAD starts with it
};

std::string Sha256(std::string_view data) {
  auto hash = Botan::HashFunction::create_or_throw("SHA-256");
  hash->update(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  const auto out = hash->final();
  return std::string(out.begin(), out.end());
}

std::string HmacSha256(const Botan::secure_vector<uint8_t>& key, std::string_view label) {
  auto mac = Botan::MessageAuthenticationCode::create_or_throw("HMAC(SHA-256)");
  mac->set_key(key);
  mac->update(reinterpret_cast<const uint8_t*>(label.data()), label.size());
  const auto out = mac->final();
  return std::string(out.begin(), out.end());
}

// Argon2id(passphrase, salt) -> master; AES key and key check from it.
struct Keys {
  Botan::secure_vector<uint8_t> aes;
  std::string key_check;
};
Keys DeriveKeys(std::string_view passphrase, const std::string& salt, const KdfParams& p) {
  auto family = Botan::PasswordHashFamily::create_or_throw(kBackupKdf);
  auto kdf = family->from_params(p.memory_kib, p.iterations, p.parallelism);
  Botan::secure_vector<uint8_t> master(kKeyLen);
  kdf->derive_key(master.data(), master.size(), passphrase.data(), passphrase.size(),
                  reinterpret_cast<const uint8_t*>(salt.data()), salt.size());
  Keys keys;
  const std::string aes = HmacSha256(master, "hostca-backup v1 encryption key");
  keys.aes.assign(aes.begin(), aes.end());
  keys.key_check = HmacSha256(master, "hostca-backup v1 key check");
  return keys;
}

std::string EncodeHeaderBytes(const EncodedHeader& h) {
  std::string body;
  PutBytes8(&body, h.fields.kdf);
  PutU32(&body, h.fields.kdf_params.memory_kib);
  PutU32(&body, h.fields.kdf_params.iterations);
  PutU32(&body, h.fields.kdf_params.parallelism);
  PutBytes8(&body, h.salt);
  PutBytes8(&body, h.nonce_prefix);
  PutU32(&body, h.fields.chunk_size);
  PutU64(&body, static_cast<uint64_t>(h.fields.created_at));
  PutBytes8(&body, h.key_check);
  std::string out(kMagic, kMagicLen);
  PutU16(&out, h.fields.version);
  PutU16(&out, static_cast<uint16_t>(body.size()));
  return out + body;
}

Status HeaderDamaged(const std::string& path, const std::string& why) {
  return InvalidArgument(
      path + ": the backup's header is damaged (" + why + "); nothing can be restored from it",
      "backup_header_damaged");
}

// Reads the header from `fd` (positioned at the start).
Result<EncodedHeader> ReadHeader(int fd, const std::string& path) {
  std::string fixed(kMagicLen + 4, '\0');
  HOSTCA_ASSIGN_OR_RETURN(size_t got, ReadUpTo(fd, fixed.data(), fixed.size(), path));
  if (got < kMagicLen || fixed.compare(0, kMagicLen, kMagic, kMagicLen) != 0) {
    return InvalidArgument(path + " is not a hostca backup file (no HOSTCABK magic)",
                           "not_a_backup");
  }
  if (got < fixed.size()) {
    return HeaderDamaged(path, "cut short");
  }
  Cursor c(std::string_view(fixed).substr(kMagicLen));
  const auto version = static_cast<uint16_t>(c.Uint(2));
  const auto body_len = static_cast<size_t>(c.Uint(2));
  if (body_len > kMaxHeaderBody) {
    return HeaderDamaged(path, "impossible header length");
  }
  std::string rest(body_len + kDigestLen, '\0');
  HOSTCA_ASSIGN_OR_RETURN(got, ReadUpTo(fd, rest.data(), rest.size(), path));
  if (got < rest.size()) {
    return HeaderDamaged(path, "cut short");
  }
  EncodedHeader h;
  h.bytes = fixed + rest.substr(0, body_len);
  h.digest = Sha256(h.bytes);
  if (h.digest != rest.substr(body_len)) {
    return HeaderDamaged(path, "its checksum does not match");
  }
  h.bytes += h.digest;
  if (version != kBackupFormatVersion) {
    return InvalidArgument(path + " has backup format version " + std::to_string(version) +
                               "; this hostca reads version " +
                               std::to_string(kBackupFormatVersion),
                           "backup_version");
  }
  Cursor b(std::string_view(rest).substr(0, body_len));
  h.fields.version = version;
  h.fields.kdf = b.Bytes8();
  h.fields.kdf_params.memory_kib = static_cast<uint32_t>(b.Uint(4));
  h.fields.kdf_params.iterations = static_cast<uint32_t>(b.Uint(4));
  h.fields.kdf_params.parallelism = static_cast<uint32_t>(b.Uint(4));
  h.salt = b.Bytes8();
  h.nonce_prefix = b.Bytes8();
  h.fields.chunk_size = static_cast<uint32_t>(b.Uint(4));
  h.fields.created_at = static_cast<int64_t>(b.Uint(8));
  h.key_check = b.Bytes8();
  const KdfParams& p = h.fields.kdf_params;
  if (!b.done() || h.fields.kdf != kBackupKdf || h.salt.size() != kSaltLen ||
      h.nonce_prefix.size() != kNoncePrefixLen || h.key_check.size() != kDigestLen ||
      p.memory_kib < 8 * p.parallelism || p.memory_kib > kMaxMemoryKib || p.iterations < 1 ||
      p.iterations > kMaxIterations || p.parallelism < 1 || p.parallelism > kMaxParallelism ||
      h.fields.chunk_size < 1 || h.fields.chunk_size > kMaxChunkSize) {
    return HeaderDamaged(path, "a field is out of range");
  }
  return h;
}

std::string Nonce(const std::string& prefix, uint64_t index) {
  std::string n = prefix;
  PutU64(&n, index);
  return n;
}

std::string ChunkAad(const std::string& header_digest, uint64_t index, uint8_t flags) {
  std::string aad = header_digest;
  PutU64(&aad, index);
  aad.push_back(static_cast<char>(flags));
  return aad;
}

// Botan throws; hostca returns Status (STYLE.md rule 4). One adapter.
template <typename F>
Status BotanCall(const char* what, F&& f) {
  try {
    f();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Internal(std::string(what) + ": " + e.what());
  }
}

}  // namespace

Result<std::string> ReadPassphraseFile(const std::string& path) {
  auto pass = ReadSecretFile(path);
  if (!pass.ok()) {
    return pass.status().WithContext("cannot read the backup passphrase file");
  }
  if (pass->empty()) {
    return InvalidArgument("the backup passphrase file " + path + " is empty");
  }
  return pass;
}

Result<BackupHeader> ReadBackupHeader(const std::string& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return ErrnoStatus("cannot open", path);
  }
  HOSTCA_ASSIGN_OR_RETURN(EncodedHeader h, ReadHeader(fd.get(), path));
  return h.fields;
}

// ---------------------------------------------------------------- writer

class BackupWriter::Impl {
 public:
  std::string path, tmp_path;
  int fd = -1;
  bool finished = false;
  EncodedHeader header;
  Keys keys;
  std::unique_ptr<Botan::AEAD_Mode> aead;
  std::string pending;  // plaintext of the chunk being filled
  uint64_t index = 0;

  ~Impl() {
    if (fd >= 0) {
      ::close(fd);
    }
    if (!finished && !tmp_path.empty()) {
      ::unlink(tmp_path.c_str());
    }
  }

  // Encrypts `plain` as chunk `index` and appends it to the file.
  Result<size_t> WriteChunk(std::string_view plain, uint8_t flags) {
    Botan::secure_vector<uint8_t> buf(plain.begin(), plain.end());
    const std::string nonce = Nonce(header.nonce_prefix, index);
    const std::string aad = ChunkAad(header.digest, index, flags);
    HOSTCA_RETURN_IF_ERROR(BotanCall("cannot encrypt a backup chunk", [&] {
      aead->set_associated_data(reinterpret_cast<const uint8_t*>(aad.data()), aad.size());
      aead->start(reinterpret_cast<const uint8_t*>(nonce.data()), nonce.size());
      aead->finish(buf);
    }));
    std::string record;
    record.reserve(5 + buf.size());
    record.push_back(static_cast<char>(flags));
    PutU32(&record, static_cast<uint32_t>(plain.size()));
    record.append(reinterpret_cast<const char*>(buf.data()), buf.size());
    HOSTCA_RETURN_IF_ERROR(WriteAllFd(fd, record, tmp_path));
    ++index;
    return record.size();
  }
};

BackupWriter::BackupWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BackupWriter::~BackupWriter() = default;

Result<std::unique_ptr<BackupWriter>> BackupWriter::Create(const std::string& path,
                                                           std::string_view passphrase,
                                                           int64_t created_at,
                                                           const KdfParams& kdf) {
  if (passphrase.empty()) {
    return InvalidArgument("the backup passphrase is empty");
  }
  if (FileExists(path)) {
    return AlreadyExists(path + " exists; a backup never overwrites a file");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  EncodedHeader& h = impl->header;
  h.fields.version = kBackupFormatVersion;
  h.fields.kdf = kBackupKdf;
  h.fields.kdf_params = kdf;
  h.fields.chunk_size = kChunkSize;
  h.fields.created_at = created_at;
  h.salt = RandomBytes(kSaltLen);
  h.nonce_prefix = RandomBytes(kNoncePrefixLen);
  HOSTCA_RETURN_IF_ERROR(BotanCall("cannot derive the backup key", [&] {
    impl->keys = DeriveKeys(passphrase, h.salt, kdf);
    impl->aead = Botan::AEAD_Mode::create_or_throw("AES-256/GCM", Botan::ENCRYPTION);
    impl->aead->set_key(impl->keys.aes);
  }));
  h.key_check = impl->keys.key_check;
  h.bytes = EncodeHeaderBytes(h);
  h.digest = Sha256(h.bytes);
  h.bytes += h.digest;

  impl->tmp_path = path + ".tmp-" + HexEncode(RandomBytes(6));
  impl->fd = ::open(impl->tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (impl->fd < 0) {
    const Status st = ErrnoStatus("cannot create", impl->tmp_path);
    impl->tmp_path.clear();
    return st;
  }
  HOSTCA_RETURN_IF_ERROR(WriteAllFd(impl->fd, h.bytes, impl->tmp_path));
  std::unique_ptr<BackupWriter> writer(new BackupWriter(std::move(impl)));
  writer->bytes_written_ = writer->impl_->header.bytes.size();
  return writer;
}

Status BackupWriter::Write(std::string_view data) {
  Impl& w = *impl_;
  if (w.finished) {
    return Internal("write after Finish");
  }
  while (!data.empty()) {
    const size_t room = kChunkSize - w.pending.size();
    const size_t n = std::min(room, data.size());
    w.pending.append(data.substr(0, n));
    data.remove_prefix(n);
    if (w.pending.size() == kChunkSize) {
      HOSTCA_ASSIGN_OR_RETURN(const size_t written, w.WriteChunk(w.pending, 0));
      bytes_written_ += written;
      w.pending.clear();
    }
  }
  return Status::Ok();
}

Status BackupWriter::Finish() {
  Impl& w = *impl_;
  HOSTCA_ASSIGN_OR_RETURN(const size_t written, w.WriteChunk(w.pending, kFinalFlag));
  bytes_written_ += written;
  w.pending.clear();
  if (::fsync(w.fd) != 0) {
    return ErrnoStatus("cannot fsync", w.tmp_path);
  }
  ::close(w.fd);
  w.fd = -1;
  // link(2), not rename(2): an existing file at `path` is never replaced.
  if (::link(w.tmp_path.c_str(), w.path.c_str()) != 0) {
    return errno == EEXIST ? AlreadyExists(w.path + " exists; a backup never overwrites a file")
                           : ErrnoStatus("cannot create", w.path);
  }
  ::unlink(w.tmp_path.c_str());
  w.finished = true;
  const std::string dir = std::filesystem::path(w.path).parent_path().string();
  const Fd dfd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) {
    ::fsync(dfd.get());
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- reader

class BackupReader::Impl {
 public:
  std::string path;
  Fd fd;
  EncodedHeader header;
  std::unique_ptr<Botan::AEAD_Mode> aead;
  uint64_t index = 0;
  bool done = false;

  explicit Impl(int raw_fd) : fd(raw_fd) {}

  Status Damaged(const std::string& why) const {
    return InvalidArgument(path + ": chunk " + std::to_string(index) + " of the backup " + why +
                               ": the file was altered or damaged; nothing was restored",
                           "backup_damaged");
  }
  Status Truncated() const {
    return InvalidArgument(path + ": the backup ends before its last chunk (chunk " +
                               std::to_string(index) +
                               "): the file is truncated; nothing was restored",
                           "backup_truncated");
  }
};

BackupReader::BackupReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BackupReader::~BackupReader() = default;

const BackupHeader& BackupReader::header() const { return impl_->header.fields; }

Result<std::unique_ptr<BackupReader>> BackupReader::Open(const std::string& path,
                                                         std::string_view passphrase) {
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    return ErrnoStatus("cannot open", path);
  }
  auto impl = std::make_unique<Impl>(raw);
  impl->path = path;
  HOSTCA_ASSIGN_OR_RETURN(impl->header, ReadHeader(raw, path));
  Keys keys;
  HOSTCA_RETURN_IF_ERROR(BotanCall("cannot derive the backup key", [&] {
    keys = DeriveKeys(passphrase, impl->header.salt, impl->header.fields.kdf_params);
    impl->aead = Botan::AEAD_Mode::create_or_throw("AES-256/GCM", Botan::DECRYPTION);
    impl->aead->set_key(keys.aes);
  }));
  if (keys.key_check != impl->header.key_check) {
    return PermissionDenied(path +
                                ": wrong passphrase for this backup (its key check does not "
                                "match); nothing was restored",
                            "wrong_passphrase");
  }
  return std::unique_ptr<BackupReader>(new BackupReader(std::move(impl)));
}

Result<bool> BackupReader::Next(std::string* out) {
  Impl& r = *impl_;
  out->clear();
  if (r.done) {
    return false;
  }
  char head[5];
  HOSTCA_ASSIGN_OR_RETURN(size_t got, ReadUpTo(r.fd.get(), head, sizeof(head), r.path));
  if (got < sizeof(head)) {
    return r.Truncated();
  }
  Cursor c(std::string_view(head, sizeof(head)));
  const auto flags = static_cast<uint8_t>(c.Uint(1));
  const auto len = static_cast<size_t>(c.Uint(4));
  if ((flags & ~kFinalFlag) != 0 || len > r.header.fields.chunk_size) {
    return r.Damaged("has an impossible length or flags");
  }
  Botan::secure_vector<uint8_t> buf(len + kTagLen);
  HOSTCA_ASSIGN_OR_RETURN(
      got, ReadUpTo(r.fd.get(), reinterpret_cast<char*>(buf.data()), buf.size(), r.path));
  if (got < buf.size()) {
    return r.Truncated();
  }
  const std::string nonce = Nonce(r.header.nonce_prefix, r.index);
  const std::string aad = ChunkAad(r.header.digest, r.index, flags);
  try {
    r.aead->set_associated_data(reinterpret_cast<const uint8_t*>(aad.data()), aad.size());
    r.aead->start(reinterpret_cast<const uint8_t*>(nonce.data()), nonce.size());
    r.aead->finish(buf);
  } catch (const Botan::Invalid_Authentication_Tag&) {
    return r.Damaged("fails authentication");
  } catch (const std::exception& e) {
    return Internal(std::string("cannot decrypt a backup chunk: ") + e.what());
  }
  out->assign(reinterpret_cast<const char*>(buf.data()), buf.size());
  ++r.index;
  if ((flags & kFinalFlag) != 0) {
    char extra;
    HOSTCA_ASSIGN_OR_RETURN(got, ReadUpTo(r.fd.get(), &extra, 1, r.path));
    if (got != 0) {
      out->clear();
      return InvalidArgument(r.path +
                                 ": bytes follow the backup's final chunk: the file was "
                                 "altered; nothing was restored",
                             "backup_trailing_data");
    }
    r.done = true;
  }
  return true;
}

}  // namespace hostca::server
