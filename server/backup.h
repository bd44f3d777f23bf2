// The hostca backup file (.hcbak): one file, encrypted and authenticated,
// written and read as a stream so a store of any size passes through a
// bounded amount of memory (DESIGN.md section 8: backup, restore).
//
// Layout (integers big-endian):
//
//   header   "HOSTCABK"  magic
//            u16 format version (kBackupFormatVersion)
//            u16 length of the header body, then the body:
//              u8 length + KDF name ("Argon2id")
//              u32 memory (KiB), u32 iterations, u32 parallelism
//              u8 length + salt (16 random bytes)
//              u8 length + nonce prefix (4 random bytes)
//              u32 chunk size (plaintext bytes per chunk)
//              i64 creation time (Unix seconds)
//              u8 length + key check (32 bytes, below)
//            SHA-256 of everything above (32 bytes)
//   chunks   u8 flags (1 = final chunk), u32 plaintext length,
//            ciphertext, 16-byte GCM tag; the last chunk has the final flag
//            and nothing may follow it.
//
// Why these choices:
// - Argon2id (RFC 9106) derives the key: memory-hard, so a stolen backup
//   resists passphrase guessing on GPUs; its parameters are in the header
//   so they can be raised later without breaking old files.
// - The Argon2id output is a master secret; HMAC-SHA256 splits it into the
//   AES key and a key check. The key check tells a wrong passphrase apart
//   from a damaged file before any chunk is tried. It gives an attacker
//   nothing a trial decryption of the first chunk would not: each guess
//   still costs one Argon2id.
// - AES-256-GCM per chunk: every chunk has its own nonce (the random prefix
//   and the chunk index: unique under a key that is itself unique to the
//   file, since the salt is) and its own tag, so a reader verifies each
//   chunk before it hands out a byte of it, and memory stays bounded.
// - The AAD of each chunk is the header's SHA-256, the chunk index and the
//   final flag: the header cannot be altered (it would fail every chunk),
//   chunks cannot be reordered or dropped (index), and a file cut after a
//   whole chunk is detected (no final flag before the end).
// - The header's own SHA-256 is not a security measure (anyone can
//   recompute it); it makes an accidental change of the header read as
//   "header damaged" rather than as a wrong passphrase.
//
// Thread safety: a BackupWriter or BackupReader belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hostca::server {

inline constexpr uint16_t kBackupFormatVersion = 1;
inline constexpr char kBackupKdf[] = "Argon2id";

// Argon2id cost. The default is RFC 9106's second recommended setting
// (64 MiB, 3 passes, 4 lanes): about a third of a second here, once per
// backup or restore. Tests lower it.
struct KdfParams {
  uint32_t memory_kib = 64 * 1024;
  uint32_t iterations = 3;
  uint32_t parallelism = 4;
};

// What the header of a backup file says (readable without the passphrase).
struct BackupHeader {
  uint16_t version = 0;
  std::string kdf;
  KdfParams kdf_params;
  uint32_t chunk_size = 0;
  int64_t created_at = 0;
};

// Reads and checks the header of the backup file at `path`. Errors:
// invalid_argument "not_a_backup" (no magic), "backup_header_damaged" (its
// checksum fails or a field is out of range), "backup_version" (a format
// this hostca cannot read), unavailable when the file cannot be read.
Result<BackupHeader> ReadBackupHeader(const std::string& path);

// Writes a backup file: Create, Write any number of times, Finish. The
// file appears at `path` only when Finish succeeds (a temporary file in the
// same directory, mode 0600, fsync, then link into place, which refuses to
// replace an existing file); otherwise nothing is left behind.
class BackupWriter {
 public:
  // Errors: invalid_argument for an empty passphrase; already_exists when
  // `path` exists; unavailable when the directory cannot be written.
  static Result<std::unique_ptr<BackupWriter>> Create(const std::string& path,
                                                      std::string_view passphrase,
                                                      int64_t created_at,
                                                      const KdfParams& kdf = {});
  ~BackupWriter();
  BackupWriter(const BackupWriter&) = delete;
  BackupWriter& operator=(const BackupWriter&) = delete;

  // Encrypts and writes each full chunk as soon as it is complete.
  Status Write(std::string_view data);
  // Writes the final chunk, syncs and moves the file into place.
  Status Finish();
  // Bytes written to the file so far.
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  class Impl;
  explicit BackupWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  uint64_t bytes_written_ = 0;
};

// Reads a backup file chunk by chunk; every chunk is authenticated before
// it is returned. Open checks the header and the passphrase.
class BackupReader {
 public:
  // Errors: those of ReadBackupHeader, and permission_denied
  // "wrong_passphrase" when the key check does not match.
  static Result<std::unique_ptr<BackupReader>> Open(const std::string& path,
                                                    std::string_view passphrase);
  ~BackupReader();
  BackupReader(const BackupReader&) = delete;
  BackupReader& operator=(const BackupReader&) = delete;

  const BackupHeader& header() const;
  // The next verified chunk into `out` (may be empty); false after the
  // final chunk. Errors: invalid_argument "backup_damaged" (a chunk fails
  // authentication: altered, reordered or damaged), "backup_truncated" (the
  // file ends before its final chunk), "backup_trailing_data" (bytes after
  // the final chunk); unavailable on a read error.
  Result<bool> Next(std::string* out);

 private:
  class Impl;
  explicit BackupReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The backup passphrase in a file: its content less trailing newlines.
// invalid_argument when the file is empty; unavailable when unreadable.
Result<std::string> ReadPassphraseFile(const std::string& path);

}  // namespace hostca::server
