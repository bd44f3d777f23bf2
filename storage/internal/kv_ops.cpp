#include "storage/internal/kv_ops.h"

#include <cstdint>

#include "storage/internal/codec.h"

namespace hostca::storage::internal {
namespace {

constexpr char kPut = 'P', kDel = 'D', kAppend = 'A';

void Record(std::string* ops, char op, Table t, std::string_view key, std::string_view value) {
  ops->push_back(op);
  ops->push_back(static_cast<char>(t));
  AppendBigEndian(ops, key.size(), 2);
  ops->append(key);
  if (op != kDel) {
    AppendBigEndian(ops, value.size(), 4);
    ops->append(value);
  }
}

Status Corrupt() { return Internal("corrupt redo record", "corrupt_record"); }

// Reads `bytes` big-endian bytes at *at; false past the end.
bool Take(std::string_view in, size_t* at, int bytes, uint64_t* v) {
  if (in.size() - *at < static_cast<size_t>(bytes)) {
    return false;
  }
  *v = ReadBigEndian(in.substr(*at), static_cast<size_t>(bytes));
  *at += bytes;
  return true;
}

bool TakeBytes(std::string_view in, size_t* at, uint64_t n, std::string_view* out) {
  if (in.size() - *at < n) {
    return false;
  }
  *out = in.substr(*at, n);
  *at += n;
  return true;
}

}  // namespace

Status RecordingKv::Put(Table t, std::string_view key, std::string_view value) {
  HOSTCA_RETURN_IF_ERROR(inner_.Put(t, key, value));
  Record(ops_, kPut, t, key, value);
  return Status::Ok();
}

Status RecordingKv::Del(Table t, std::string_view key) {
  HOSTCA_RETURN_IF_ERROR(inner_.Del(t, key));
  Record(ops_, kDel, t, key, {});
  return Status::Ok();
}

Status RecordingKv::Append(Table t, std::string_view key, std::string_view value) {
  HOSTCA_RETURN_IF_ERROR(inner_.Append(t, key, value));
  Record(ops_, kAppend, t, key, value);
  return Status::Ok();
}

Status ReplayOps(std::string_view ops, KvWrite& w) {
  size_t at = 0;
  while (at < ops.size()) {
    const char op = ops[at++];
    uint64_t table = 0, key_len = 0, value_len = 0;
    std::string_view key, value;
    if ((op != kPut && op != kDel && op != kAppend) || !Take(ops, &at, 1, &table) ||
        table >= kNumTables || !Take(ops, &at, 2, &key_len) ||
        !TakeBytes(ops, &at, key_len, &key)) {
      return Corrupt();
    }
    if (op != kDel && (!Take(ops, &at, 4, &value_len) || !TakeBytes(ops, &at, value_len, &value))) {
      return Corrupt();
    }
    const Table t = static_cast<Table>(table);
    if (op == kPut) {
      HOSTCA_RETURN_IF_ERROR(w.Put(t, key, value));
    } else if (op == kDel) {
      HOSTCA_RETURN_IF_ERROR(w.Del(t, key));
    } else {
      HOSTCA_RETURN_IF_ERROR(w.Append(t, key, value));
    }
  }
  return Status::Ok();
}

}  // namespace hostca::storage::internal
