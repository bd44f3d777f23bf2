// The in-memory backend, for unit tests: the same record logic and group
// commit as LMDB, over std::map tables. Writes apply in place under an
// exclusive lock with an undo log, so a failed nested write or an aborted
// batch is rolled back; readers hold a shared lock for their snapshot.
#include <array>
#include <map>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "storage/internal/group_commit.h"
#include "storage/internal/kv.h"
#include "storage/internal/record_txn.h"
#include "storage/storage.h"

namespace hostca::storage {
namespace internal {
namespace {

using Tables = std::array<std::map<std::string, std::string, std::less<>>, kNumTables>;

struct Undo {
  Table table;
  std::string key;
  std::optional<std::string> old_value;
};

class MemKv final : public KvWrite {
 public:
  MemKv(Tables& tables, std::vector<Undo>* undo) : t_(tables), undo_(undo) {}

  Result<std::optional<std::string>> Get(Table t, std::string_view key) override {
    auto it = t_[t].find(key);
    return it == t_[t].end() ? std::optional<std::string>() : std::optional(it->second);
  }
  Status Scan(Table t, std::string_view from,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    for (auto it = t_[t].lower_bound(from); it != t_[t].end(); ++it) {
      if (!visit(it->first, it->second)) {
        break;
      }
    }
    return Status::Ok();
  }
  Result<std::optional<std::pair<std::string, std::string>>> Last(Table t) override {
    if (t_[t].empty()) {
      return std::optional<std::pair<std::string, std::string>>();
    }
    const auto& [k, v] = *t_[t].rbegin();
    return std::optional(std::pair(k, v));
  }
  Result<uint64_t> Count(Table t) override { return static_cast<uint64_t>(t_[t].size()); }
  Status Put(Table t, std::string_view key, std::string_view value) override {
    Remember(t, key);
    t_[t].insert_or_assign(std::string(key), std::string(value));
    return Status::Ok();
  }
  Status Append(Table t, std::string_view key, std::string_view value) override {
    if (!t_[t].empty() && t_[t].rbegin()->first >= key) {
      return Internal(std::string("append out of order in ") + TableName(t));
    }
    return Put(t, key, value);
  }
  Status Del(Table t, std::string_view key) override {
    Remember(t, key);
    if (auto it = t_[t].find(key); it != t_[t].end()) {
      t_[t].erase(it);
    }
    return Status::Ok();
  }

 private:
  void Remember(Table t, std::string_view key) {
    auto it = t_[t].find(key);
    undo_->push_back(
        Undo{t, std::string(key), it == t_[t].end() ? std::nullopt : std::optional(it->second)});
  }
  Tables& t_;
  std::vector<Undo>* undo_;
};

void Rollback(Tables& tables, std::vector<Undo>& undo, size_t to) {
  while (undo.size() > to) {
    Undo& u = undo.back();
    if (u.old_value) {
      tables[u.table].insert_or_assign(u.key, *u.old_value);
    } else {
      tables[u.table].erase(u.key);
    }
    undo.pop_back();
  }
}

class MemBatch final : public BatchTxn {
 public:
  MemBatch(Tables& tables, std::shared_mutex& mu) : tables_(tables), lock_(mu) {}
  ~MemBatch() override { Abort(); }
  Status RunNested(const WriteFn& fn) override {
    const size_t mark = undo_.size();
    MemKv kv(tables_, &undo_);
    RecordTxn records(kv);
    Status st = fn(records);
    if (!st.ok()) {
      Rollback(tables_, undo_, mark);
    }
    return st;
  }
  Status RunDirect(const WriteFn& fn) override {
    MemKv kv(tables_, &undo_);
    RecordTxn records(kv);
    return fn(records);  // on failure the writer aborts the whole batch
  }
  Status Commit() override {
    undo_.clear();
    lock_.unlock();
    return Status::Ok();
  }
  void Abort() override {
    if (lock_.owns_lock()) {
      Rollback(tables_, undo_, 0);
      lock_.unlock();
    }
  }

 private:
  Tables& tables_;
  std::unique_lock<std::shared_mutex> lock_;
  std::vector<Undo> undo_;
};

class MemBackend final : public Backend {
 public:
  MemBackend() {
    std::vector<Undo> unused;
    MemKv kv(tables_, &unused);
    (void)RecordTxn(kv).InitHostCount();  // into empty maps: cannot fail
  }
  Result<std::unique_ptr<BatchTxn>> Begin() override {
    return std::unique_ptr<BatchTxn>(new MemBatch(tables_, mu_));
  }
  Status View(const std::function<Status(ReadTxn&)>& fn) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    std::vector<Undo> unused;
    MemKv kv(tables_, &unused);
    RecordTxn records(static_cast<KvRead&>(kv));
    return fn(records);
  }
  Status Grow() override { return ResourceExhausted("the in-memory store does not grow"); }
  Status CopyCompactTo(int /*fd*/) override {
    return InvalidArgument("the in-memory store has no file to copy", "no_store_file");
  }
  void Close() override {}
  void FillStats(StorageStats* s) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    s->cert_count = tables_[kCerts].size();
  }

 private:
  std::shared_mutex mu_;
  Tables tables_;  // GUARDED_BY(mu_)
};

}  // namespace
}  // namespace internal

std::unique_ptr<Storage> NewMemoryStorage() {
  return std::make_unique<internal::GroupCommitStorage>(std::make_unique<internal::MemBackend>(),
                                                        512);
}

}  // namespace hostca::storage
