// The hash chain of the audit log (DESIGN.md section 10), defined once so the
// store that writes entries and the `hostca audit verify` client that checks
// them compute exactly the same thing.
//
//   hash = SHA-256(prev_hash || be64(seq) || be64(time) ||
//                  be32(len) actor || be32(len) action || be32(len) detail)
//
// prev_hash of the first entry is 32 zero bytes. All hashes are raw bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hostca {

std::string AuditEntryHash(std::string_view prev_hash, uint64_t seq, int64_t time,
                           std::string_view actor, std::string_view action,
                           std::string_view detail);

inline std::string AuditGenesisHash() { return std::string(32, '\0'); }

}  // namespace hostca
