#include "common/audit_hash.h"

#include "common/encoding.h"

namespace hostca {
namespace {

void PutBe(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

void PutField(std::string& out, std::string_view s) {
  PutBe(out, s.size(), 4);
  out.append(s);
}

}  // namespace

std::string AuditEntryHash(std::string_view prev_hash, uint64_t seq, int64_t time,
                           std::string_view actor, std::string_view action,
                           std::string_view detail) {
  std::string buf(prev_hash);
  PutBe(buf, seq, 8);
  PutBe(buf, static_cast<uint64_t>(time), 8);
  PutField(buf, actor);
  PutField(buf, action);
  PutField(buf, detail);
  return Sha256(buf);
}

}  // namespace hostca
