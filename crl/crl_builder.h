// CRL v2 building and signing (RFC 5280 section 5).
//
// A CRL is (entries, CRL number, thisUpdate, nextUpdate) -> signed DER, as
// in Botan's X509_CA. hostca keeps every entry's DER encoding from the moment
// it is revoked (CrlEntrySet), so a republish only concatenates the kept
// encodings and signs once: no per-publish re-encoding of a million entries.
// That is why the CRL is assembled here from DER pieces rather than through
// OpenSSL's X509_CRL objects, which would rebuild, sort and re-encode every
// X509_REVOKED on every publish (seconds at a million entries). OpenSSL still
// provides the signature and the algorithm identifier, and the tests parse
// every CRL with OpenSSL, GnuTLS and Botan.
//
// Thread safety: CrlSigner is immutable after Create and thread-safe.
// CrlEntrySet is not thread-safe; its owner (Publisher) serialises access.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ca/issuer.h"
#include "common/huge_pages.h"
#include "common/status.h"

namespace hostca::crl {

struct CrlEntry {
  std::string serial;  // raw INTEGER content octets, as stored
  int64_t revoked_at = 0;
  int reason = 0;         // RFC 5280 CRLReason; 0 (unspecified) is left out of the entry
  int64_t not_after = 0;  // the entry leaves the CRL once the certificate expired
};

// The kept encodings of a CRL's entries, by serial.
//
// Each entry is one record in one arena: {notAfter, serial length,
// DER length with a removed flag, serial, DER}, about 80 bytes for a 16-byte
// serial. The index is an open-addressing table (linear probing) of 8-byte
// slots, each the record's offset and 24 bits of its serial's hash, filled
// to at most three quarters and rebuilt half full: 10 to 32 bytes per
// entry, and a lookup compares a serial in the arena only when those bits
// match. This is our own rather than a standard
// container because of what the node-based ones cost at a million entries: an
// unordered_map<std::string, std::string> kept about 200 bytes and three
// heap blocks per entry (1M revoked certificates: 200 MB, 1.6 s to load, on
// a machine where a first touch of fresh memory costs about 16 us a page),
// and an unordered_set of offsets still spent a third of the load in its
// bucket chains (DESIGN.md section 2 has no flat hash map). A Sign copies
// the live records' DER in arena order, one sequential pass.
//
// Removed records stay in the arena, flagged, until they make up half of
// it; then the arena is rewritten with the live ones and the index rebuilt.
class CrlEntrySet {
 public:
  CrlEntrySet() = default;
  CrlEntrySet(const CrlEntrySet&) = delete;
  CrlEntrySet& operator=(const CrlEntrySet&) = delete;

  // Adds the entry, replacing one of the same serial.
  void Put(const CrlEntry& entry);
  // Many entries at once, as Put of each in turn (a serial given again
  // replaces its entry): `produce` hands each to `add`. For a start-up load
  // of a million, where Put's lookup of each serial and the index's
  // regrowths are half the time: the entries go to the arena as they come
  // and are indexed once, at the end. Returns what `produce` returns, with
  // every entry added before it returned kept.
  using AddEntry = std::function<void(const CrlEntry&)>;
  Status Load(const std::function<Status(const AddEntry& add)>& produce);
  void Remove(std::string_view serial);
  // Drops entries of certificates expired before `now`; returns how many.
  size_t DropExpired(int64_t now);
  size_t size() const { return live_; }
  // The DER bytes of all entries: the content of revokedCertificates.
  size_t encoded_bytes() const { return bytes_; }
  bool Contains(std::string_view serial) const;
  // Bytes the arena holds, removed records included, and the index's slots
  // (tests).
  size_t arena_bytes() const { return arena_.size(); }
  size_t index_slots() const { return slots_size_; }

 private:
  friend class CrlSigner;

  // The fixed part of a record, copied in and out with memcpy (records are
  // not aligned).
  struct Head {
    int64_t not_after;
    uint32_t serial_len;
    uint32_t der_len;  // kRemoved set: the record was removed
  };
  static constexpr uint32_t kRemoved = 0x80000000u;
  // A slot: 0 empty, kTombstone removed, else (hash >> 40) << 40 | (offset + 1).
  static constexpr uint64_t kTombstone = ~uint64_t{0};
  static constexpr int kOffsetBits = 40;

  static size_t RecordSize(const Head& head) {
    return sizeof(Head) + head.serial_len + (head.der_len & ~kRemoved);
  }
  static uint64_t OffsetOf(uint64_t slot) {
    return (slot & ((uint64_t{1} << kOffsetBits) - 1)) - 1;
  }
  static uint64_t SlotOf(uint64_t offset, uint64_t hash) {
    return (hash >> kOffsetBits) << kOffsetBits | (offset + 1);
  }

  Head HeadAt(uint64_t offset) const;
  std::string_view SerialAt(uint64_t offset) const;
  // Calls visit(offset, head) for each record not removed, in arena order
  // (visit may mark records removed).
  template <typename Visit>
  void ForEachLiveRecord(Visit&& visit) const {
    for (uint64_t offset = 0; offset < arena_.size();) {
      const Head head = HeadAt(offset);
      if ((head.der_len & kRemoved) == 0) {
        visit(offset, head);
      }
      offset += RecordSize(head);
    }
  }
  // The slot holding `serial`, or slots_size_ when there is none.
  size_t Find(std::string_view serial, uint64_t hash) const;
  // Puts the record at `offset` into a free slot; the table has room.
  void Insert(uint64_t offset, uint64_t hash);
  // Appends a record for `entry` to the arena (not indexed); its offset.
  uint64_t AppendRecord(const CrlEntry& entry);
  // Rebuilds the table from the arena's live records, at most half full
  // with `live` + 1 entries. Of two records of one serial the later stays,
  // the earlier is marked removed (none after Put; a Load may give some).
  void Rehash(size_t live);
  // Flags the record at `offset` removed; the caller freed its slot.
  void MarkRemoved(uint64_t offset);
  // Removes the record slot `i` holds: a tombstone, the record flagged.
  void RemoveSlot(size_t i);
  // Rewrites the arena without removed records once they are half of it.
  void MaybeCompact();
  // Appends every live entry's DER to *out, in arena order.
  void AppendEncodings(std::string* out) const;

  // The records' bytes (common/huge_pages.h: at a million entries,
  // std::string's growth, its copies and their first touches, was 40% of
  // the load).
  class Arena {
   public:
    char* data() { return buffer_.data(); }
    const char* data() const { return buffer_.data(); }
    size_t size() const { return size_; }
    // Room for `bytes` more, doubling.
    void Reserve(size_t bytes);
    void Append(std::string_view bytes);

   private:
    MappedBuffer buffer_;
    size_t size_ = 0;
  };

  Arena arena_;
  std::string scratch_;       // one entry's DER on its way into the arena
  size_t removed_bytes_ = 0;  // arena bytes of removed records
  size_t bytes_ = 0;          // DER bytes of the live records
  // The index: slots_size_ slots, a power of two (0 before the first Put).
  MappedBuffer slots_buffer_;
  uint64_t* slots_ = nullptr;
  size_t slots_size_ = 0;
  size_t live_ = 0;        // slots holding a record
  size_t tombstones_ = 0;  // slots of removed records
};

class CrlSigner {
 public:
  // Precomputes the AKI and IDP; the issuer name and signature algorithm
  // are the issuer's kept encodings.
  // `distribution_point` (the URL certificates name in their CRL
  // distribution point) goes into a critical issuingDistributionPoint, so
  // validators that match the two (Botan, OpenSSL) accept the CRL as the one
  // for those certificates; empty: no IDP.
  static Result<std::unique_ptr<CrlSigner>> Create(const ca::Issuer& issuer,
                                                   const std::string& distribution_point = "");

  // The DER of a signed CRL holding every entry of `entries`.
  Result<std::string> Sign(const CrlEntrySet& entries, uint64_t number, int64_t this_update,
                           int64_t next_update) const;

 private:
  CrlSigner(const ca::Issuer& issuer) : issuer_(issuer) {}
  const ca::Issuer& issuer_;
  std::string aki_ext_der_;  // Extension
  std::string idp_ext_der_;  // Extension, or empty
};

// Encodes one revokedCertificates element (Append: onto *out, in place).
std::string EncodeCrlEntry(const CrlEntry& entry);
void AppendCrlEntry(std::string* out, const CrlEntry& entry);

}  // namespace hostca::crl
