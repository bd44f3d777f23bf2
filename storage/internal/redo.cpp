#include "storage/internal/redo.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/encoding.h"
#include "storage/internal/codec.h"
#include "storage/internal/kv_ops.h"

namespace hostca::storage::internal {
namespace {

std::atomic<void (*)(uint64_t)> g_replay_hook{nullptr};

constexpr char kCkptMagic[4] = {'H', 'C', 'K', '1'};
constexpr size_t kSlotBytes = 4 + 5 * 8 + kMetaBytes + 8;
constexpr off_t kSlotOffset[2] = {0, 4096};

Status CorruptStore(const std::string& what) { return Internal(what, "corrupt_store"); }

uint64_t MetaTxnid(std::string_view meta) {
  uint64_t id = 0;
  std::memcpy(&id, meta.data() + kMetaTxnidOffset, sizeof(id));  // host order, as LMDB
  return id;
}

template <typename T>
T HostOrderAt(std::string_view bytes, size_t at) {
  T v{};
  std::memcpy(&v, bytes.data() + at, sizeof(v));
  return v;
}

std::string LogPath(const std::string& dir, int which) {
  return dir + "/redo-" + std::to_string(which) + ".log";
}

}  // namespace

Status CheckMetaLayout(std::string_view meta, const std::string& where) {
  int major = 0;
  int minor = 0;
  int patch = 0;
  const char* version = mdb_version(&major, &minor, &patch);
  const std::string fix = ": the redo log knows LMDB 0.9's meta pages only";
  if (major != 0 || minor != 9) {
    return Internal(std::string("this hostca links ") + version + fix, "lmdb_layout");
  }
  constexpr uint16_t kPageMeta = 0x08;  // P_META, in the page header at offset 10
  constexpr uint32_t kMagic = 0xBEEFC0DE;
  constexpr uint32_t kDataVersion = 1;
  if (meta.size() < kMetaBytes || (HostOrderAt<uint16_t>(meta, 10) & kPageMeta) == 0 ||
      HostOrderAt<uint32_t>(meta, 16) != kMagic ||
      HostOrderAt<uint32_t>(meta, 20) != kDataVersion) {
    return Internal(where + " is not an LMDB 0.9 meta page" + fix, "lmdb_layout");
  }
  return Status::Ok();
}

Result<std::optional<Redo::Ckpt>> Redo::ReadCkpt(int fd, const std::string& path) {
  std::optional<Ckpt> best;
  for (const off_t at : kSlotOffset) {
    std::string slot(kSlotBytes, '\0');
    HOSTCA_ASSIGN_OR_RETURN(const bool whole,
                            PreadAll(fd, slot.data(), slot.size(), at, "cannot read " + path));
    if (!whole || std::memcmp(slot.data(), kCkptMagic, 4) != 0 ||
        Sha256(std::string_view(slot).substr(0, kSlotBytes - 8)).substr(0, 8) !=
            std::string_view(slot).substr(kSlotBytes - 8)) {
      continue;  // never written, or torn
    }
    Ckpt c;
    const std::string_view s(slot);
    c.active = ReadBigEndian64(s.substr(4)) != 0;
    c.seq = ReadBigEndian64(s.substr(12));
    c.gen = ReadBigEndian64(s.substr(20));
    c.txnid = ReadBigEndian64(s.substr(28));
    c.page_size = static_cast<uint32_t>(ReadBigEndian64(s.substr(36)));
    c.meta = std::string(s.substr(44, kMetaBytes));
    if (c.active && (c.page_size < 4096 || c.page_size > 65536 || MetaTxnid(c.meta) != c.txnid)) {
      return CorruptStore(path + " holds a checkpoint that does not describe an LMDB meta page");
    }
    if (c.active) {  // recovery would write it over data.mdb's meta pages
      HOSTCA_RETURN_IF_ERROR(CheckMetaLayout(c.meta, "the checkpoint in " + path));
    }
    if (!best || c.seq > best->seq) {
      best = c;
    }
  }
  return best;
}

Result<std::unique_ptr<Redo>> Redo::Acquire(const std::string& dir, RedoOptions options) {
  const std::string path = dir + "/redo.ckpt";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return IoError("cannot open " + path);
  }
  std::unique_ptr<Redo> redo(new Redo(dir, options, fd));
  const auto lock = [&](int how) -> Status {
    if (::flock(fd, how | LOCK_NB) == 0) {
      return Status::Ok();
    }
    if (errno == EWOULDBLOCK) {
      return Unavailable("the store in " + dir + " is open for writing in another process",
                         "store_in_use");
    }
    return IoError("cannot lock " + path);
  };
  // One writing process at a time, with or without the log: the map's
  // growth assumes no other process writes (storage.h), and a logging
  // owner's commits must all be in its log. Readers in other processes
  // (CopyLmdbStoreTo, CheckLmdbStore) take no lock.
  HOSTCA_RETURN_IF_ERROR(lock(LOCK_EX));
  HOSTCA_ASSIGN_OR_RETURN(const std::optional<Ckpt> ckpt, ReadCkpt(fd, path));
  if (ckpt) {
    redo->ckpt_ = *ckpt;
  }
  return redo;
}

Redo::~Redo() {
  StopThread();
  Abandon();
  if (data_fd_ >= 0) {
    ::close(data_fd_);
  }
  if (ckpt_fd_ >= 0) {
    ::close(ckpt_fd_);  // releases the flock
  }
}

Status Redo::OpenDataFd() {
  if (data_fd_ >= 0) {
    return Status::Ok();
  }
  const std::string path = dir_ + "/data.mdb";
  data_fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  return data_fd_ >= 0 ? Status::Ok() : IoError("cannot open " + path);
}

Status Redo::OpenLogs() {
  for (int i = 0; i < 2; ++i) {
    if (!logs_[i]) {
      HOSTCA_ASSIGN_OR_RETURN(logs_[i], RedoLog::Open(LogPath(dir_, i)));
    }
  }
  return Status::Ok();
}

Status Redo::SyncData() {
  HOSTCA_RETURN_IF_ERROR(OpenDataFd());
  return ::fdatasync(data_fd_) == 0 ? Status::Ok() : IoError("cannot sync " + dir_ + "/data.mdb");
}

Status Redo::WriteCkpt(const Ckpt& c) {
  std::string slot(kCkptMagic, 4);
  slot += BigEndian64(c.active ? 1 : 0);
  slot += BigEndian64(c.seq);
  slot += BigEndian64(c.gen);
  slot += BigEndian64(c.txnid);
  slot += BigEndian64(c.page_size);
  std::string meta = c.meta;
  meta.resize(kMetaBytes, '\0');
  slot += meta;
  slot += Sha256(slot).substr(0, 8);
  const std::string path = dir_ + "/redo.ckpt";
  HOSTCA_RETURN_IF_ERROR(PwriteAll(ckpt_fd_, slot.data(), slot.size(),
                                   static_cast<uint64_t>(kSlotOffset[c.seq & 1]),
                                   "cannot write " + path));
  return ::fdatasync(ckpt_fd_) == 0 ? Status::Ok() : IoError("cannot sync " + path);
}

Status Redo::RestoreMetaPages() {
  if (!ckpt_.active) {
    return Status::Ok();
  }
  HOSTCA_RETURN_IF_ERROR(OpenDataFd());
  for (uint64_t slot = 0; slot < 2; ++slot) {
    std::string page = ckpt_.meta;
    std::memcpy(page.data(), &slot, sizeof(slot));  // the page header's page number (mp_pgno)
    HOSTCA_RETURN_IF_ERROR(PwriteAll(data_fd_, page.data(), page.size(), slot * ckpt_.page_size,
                                     "cannot restore the meta pages of " + dir_ + "/data.mdb"));
  }
  return SyncData();
}

Status Redo::Replay(MDB_env* env, const Dbis& dbis) {
  if (!ckpt_.active) {
    return Status::Ok();
  }
  HOSTCA_RETURN_IF_ERROR(OpenLogs());
  // The replay's commits free pages of the checkpoint's snapshot, which
  // LMDB would reuse (and the sync below make durable) while the
  // checkpoint file still names it: pinned until a new checkpoint, or the
  // mark that none is needed, is durable (Start, MarkClean).
  HOSTCA_ASSIGN_OR_RETURN(TxnHandle pin,
                          BeginTxn(env, nullptr, MDB_RDONLY, "cannot pin the checkpoint"));
  if (mdb_txn_id(pin.get()) != ckpt_.txnid) {
    return CorruptStore("the store in " + dir_ + " opened at transaction " +
                        std::to_string(mdb_txn_id(pin.get())) + ", not at its checkpoint's " +
                        std::to_string(ckpt_.txnid));
  }
  pin_ = pin.Release();
  uint64_t last = ckpt_.txnid;
  for (uint64_t gen = ckpt_.gen; gen <= ckpt_.gen + 1; ++gen) {
    HOSTCA_RETURN_IF_ERROR(logs_[gen & 1]->Scan([&](uint64_t txnid, std::string_view payload) {
      if (payload.size() < 8 || ReadBigEndian64(payload) != gen || txnid <= last) {
        return Status::Ok();  // another generation's, or already in the checkpoint
      }
      if (txnid != last + 1) {
        return CorruptStore("the redo log in " + dir_ + " skips from transaction " +
                            std::to_string(last) + " to " + std::to_string(txnid));
      }
      while (true) {
        HOSTCA_ASSIGN_OR_RETURN(TxnHandle txn, BeginTxn(env, nullptr, 0, "cannot replay the log"));
        if (mdb_txn_id(txn.get()) != txnid) {
          return CorruptStore("the store in " + dir_ + " is at transaction " +
                              std::to_string(mdb_txn_id(txn.get()) - 1) +
                              " where its redo log continues from " + std::to_string(last));
        }
        LmdbKv kv(txn.get(), dbis);
        Status st = ReplayOps(payload.substr(8), kv);
        if (st.ok()) {
          st = txn.Commit("cannot commit a replayed transaction");
        }
        if (kv.map_full() || st.reason() == kMapFullReason) {
          txn.Abort();
          MDB_envinfo info;
          mdb_env_info(env, &info);
          if (const int rc = mdb_env_set_mapsize(env, info.me_mapsize * 2); rc != 0) {
            return LmdbError("cannot grow the store to replay its log", rc);
          }
          continue;
        }
        HOSTCA_RETURN_IF_ERROR(st);
        break;
      }
      last = txnid;
      uint64_t replayed = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        replayed = ++stats_.replayed;
      }
      if (auto* hook = g_replay_hook.load(); hook != nullptr) {
        hook(replayed);
      }
      return Status::Ok();
    }));
  }
  return Status::Ok();  // Start or MarkClean, which follow, sync before their checkpoint write
}

Status Redo::MarkClean() {
  if (!ckpt_.active) {
    return Status::Ok();
  }
  HOSTCA_RETURN_IF_ERROR(SyncData());
  Ckpt c = ckpt_;
  c.active = false;
  ++c.seq;
  HOSTCA_RETURN_IF_ERROR(WriteCkpt(c));
  ckpt_ = c;
  Abandon();  // the replay's pin
  return Status::Ok();
}

Status Redo::PinLatest(MDB_env* env, MDB_txn** pin, Ckpt* c) {
  HOSTCA_ASSIGN_OR_RETURN(TxnHandle txn, BeginTxn(env, nullptr, MDB_RDONLY, "cannot pin"));
  MDB_stat st;
  if (const int rc = mdb_env_stat(env, &st); rc != 0) {
    return LmdbError("cannot read the store's page size", rc);
  }
  HOSTCA_RETURN_IF_ERROR(OpenDataFd());
  c->txnid = mdb_txn_id(txn.get());
  c->page_size = st.ms_psize;
  c->meta.assign(kMetaBytes, '\0');
  // LMDB writes transaction T's meta page to slot T & 1.
  const std::string what = "cannot read the meta page of " + dir_ + "/data.mdb";
  HOSTCA_ASSIGN_OR_RETURN(const bool whole, PreadAll(data_fd_, c->meta.data(), kMetaBytes,
                                                     (c->txnid & 1) * st.ms_psize, what));
  if (!whole) {
    return Unavailable(what + ": the file ends before it", "storage_io");
  }
  HOSTCA_RETURN_IF_ERROR(CheckMetaLayout(c->meta, "the meta page of " + dir_ + "/data.mdb"));
  if (MetaTxnid(c->meta) != c->txnid) {
    return Internal("the meta page of transaction " + std::to_string(c->txnid) +
                    " was overwritten before the checkpoint read it");
  }
  *pin = txn.Release();
  return Status::Ok();
}

Status Redo::Start(MDB_env* env) {
  HOSTCA_RETURN_IF_ERROR(OpenLogs());
  HOSTCA_RETURN_IF_ERROR(SyncData());
  Ckpt c;
  MDB_txn* pin = nullptr;
  HOSTCA_RETURN_IF_ERROR(PinLatest(env, &pin, &c));
  c.active = true;
  c.seq = ckpt_.seq + 1;
  c.gen = ckpt_.gen + 2;  // past both generations the files may hold
  Status st = WriteCkpt(c);
  if (st.ok()) {
    // Only now: until the checkpoint above was durable, an earlier one
    // could have named this file's records.
    st = logs_[c.gen & 1]->Reset();
  }
  if (!st.ok()) {
    mdb_txn_abort(pin);
    return st;
  }
  ckpt_ = c;
  gen_ = c.gen;
  Abandon();  // the replay's pin, if any
  pin_ = pin;
  last_start_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { CheckpointLoop(); });
  return Status::Ok();
}

Status Redo::Log(uint64_t txnid, std::string_view ops) {
  HOSTCA_RETURN_IF_ERROR(failed());
  std::string payload = BigEndian64(gen_);
  payload.append(ops);
  const auto start = std::chrono::steady_clock::now();
  Status st = logs_[gen_ & 1]->Append(txnid, payload);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.log_appends;
    stats_.log_seconds += seconds;
    wake = std::exchange(waiting_for_commit_, false);
  }
  if (wake) {  // once per pause in the commits, not per commit
    cv_.notify_all();
  }
  if (!st.ok()) {
    // After a failed write or fdatasync what reached the disk is unknown.
    Stop(LogFailed(st));
  }
  return st;
}

Status Redo::DropLast() {
  Status st = logs_[gen_ & 1]->DropLast();
  if (!st.ok() && failed().ok()) {
    Stop(
        Unavailable("the store stopped writing: a failed commit could not be taken out of "
                    "its redo log (" +
                        st.message() + "); restart the server",
                    "storage_io"));
  }
  return st;
}

void Redo::CollectDone() {
  std::optional<Status> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!done_) {
      return;
    }
    done = std::move(done_);
    done_.reset();
  }
  if (!done->ok()) {
    if (failed().ok()) {
      Stop(CheckpointFailed(*done));
    }
    return;  // both pins stay: the last durable checkpoint is still ckpt_
  }
  mdb_txn_abort(pin_);
  pin_ = next_pin_;
  next_pin_ = nullptr;
}

void Redo::MaybeCheckpoint(MDB_env* env) {
  if (!thread_.joinable()) {
    return;
  }
  CollectDone();
  if (!failed().ok()) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_ || done_.has_value()) {
      return;  // a checkpoint that just ended is collected first: its pins move
    }
  }
  const auto now = std::chrono::steady_clock::now();
  if (logs_[gen_ & 1]->end() < options_.checkpoint_bytes &&
      now - last_start_ < options_.checkpoint_interval) {
    return;
  }
  Ckpt c;
  MDB_txn* pin = nullptr;
  if (!PinLatest(env, &pin, &c).ok()) {
    return;  // tried again after the next batch
  }
  if (c.txnid == ckpt_.txnid) {
    mdb_txn_abort(pin);  // nothing committed since
    last_start_ = now;
    return;
  }
  c.active = true;
  c.seq = ckpt_.seq + 1;
  c.gen = gen_ + 1;
  // The new generation's file holds records no later than ckpt_.txnid
  // (the generation before gen_), which the durable checkpoint covers.
  if (Status st = logs_[c.gen & 1]->Reset(); !st.ok()) {
    mdb_txn_abort(pin);
    // As a failed append: what reached the log file is unknown.
    Stop(LogFailed(st));
    return;
  }
  gen_ = c.gen;
  next_pin_ = pin;
  last_start_ = now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = Job{c, now};
    in_flight_ = true;
  }
  cv_.notify_one();
}

void Redo::WaitForJob(std::unique_lock<std::mutex>& lock) {
  const auto interval = options_.writeback_interval;
  uint64_t written_back = stats_.log_appends;
  while (!job_ && !stop_) {
    if (interval.count() <= 0 || writeback_refused_) {
      // No writebacks between checkpoints: sleep until the next job, and
      // ask no commit to wake this thread for nothing.
      cv_.wait(lock, [this] { return job_.has_value() || stop_; });
      return;
    }
    if (stats_.log_appends == written_back) {
      // Nothing committed since the last writeback: sleep until a commit.
      waiting_for_commit_ = true;
      cv_.wait(lock,
               [&] { return job_.has_value() || stop_ || stats_.log_appends != written_back; });
      waiting_for_commit_ = false;
      continue;
    }
    // Commits came: let more gather for `interval`, then start their
    // writeback. A job that comes meanwhile goes first.
    if (cv_.wait_for(lock, interval, [this] { return job_.has_value() || stop_; })) {
      return;
    }
    written_back = stats_.log_appends;
    lock.unlock();
    StartWriteback();
    lock.lock();
  }
}

// Starts the writeback of every dirty page of data.mdb and returns without
// waiting for it (SYNC_FILE_RANGE_WRITE alone). Only an optimization: where
// the call fails (a file system without it) the checkpoints write them as
// before, and an I/O error would show at the next checkpoint's fdatasync.
void Redo::StartWriteback() {
  const bool started =
      OpenDataFd().ok() && ::sync_file_range(data_fd_, 0, 0, SYNC_FILE_RANGE_WRITE) == 0;
  std::lock_guard<std::mutex> lock(mu_);
  if (started) {
    ++stats_.writebacks;
  } else {
    writeback_refused_ = true;
  }
}

void Redo::CheckpointLoop() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      WaitForJob(lock);
      if (!job_) {
        return;
      }
      job = std::move(*job_);
      job_.reset();
    }
    Status st = SyncData();
    if (st.ok()) {
      st = WriteCkpt(job.ckpt);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - job.started).count();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (st.ok()) {
        ckpt_ = job.ckpt;  // read by the writer only after done_ is collected
        ++stats_.checkpoints;
        stats_.checkpoint_seconds += seconds;
      }
      done_ = st;
      in_flight_ = false;
    }
    cv_.notify_all();
  }
}

void Redo::StopThread() {
  if (!thread_.joinable()) {
    return;
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !in_flight_; });
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status Redo::Finish() {
  if (!thread_.joinable()) {
    Abandon();  // not started: at most the replay's pin
    return Status::Ok();
  }
  StopThread();
  CollectDone();
  if (Status stopped = failed(); !stopped.ok()) {
    Abandon();
    return stopped;
  }
  Status st = SyncData();
  if (st.ok()) {
    Ckpt c = ckpt_;
    c.active = false;
    ++c.seq;
    c.gen = gen_;
    st = WriteCkpt(c);
    if (st.ok()) {
      ckpt_ = c;
    }
  }
  Abandon();
  return st;
}

void Redo::Abandon() {
  if (next_pin_ != nullptr) {
    mdb_txn_abort(next_pin_);
    next_pin_ = nullptr;
  }
  if (pin_ != nullptr) {
    mdb_txn_abort(pin_);
    pin_ = nullptr;
  }
}

Status Redo::LogFailed(const Status& why) {
  return Unavailable("the store stopped writing: " + why.message() +
                         "; restart the server, which recovers from the redo log",
                     "storage_io");
}

Status Redo::CheckpointFailed(const Status& why) {
  return Unavailable("the store stopped writing: a checkpoint failed (" + why.message() +
                         "); restart the server, which recovers from the redo log",
                     "storage_io");
}

void Redo::Stop(Status st) {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = std::move(st);
}

Status Redo::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

Status Redo::Health() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_.ok() && done_.has_value() && !done_->ok()) {
    return CheckpointFailed(*done_);
  }
  return stopped_;
}

RedoStats Redo::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Result<bool> RedoRecoveryPending(const std::string& dir) {
  const std::string path = dir + "/redo.ckpt";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;  // never opened with the log
  }
  // A writer holds it exclusively: alive, its page cache holds every
  // commit (a writer without the log recovered the store at its open).
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  auto ckpt = Redo::ReadCkpt(fd, path);
  ::close(fd);
  HOSTCA_RETURN_IF_ERROR(ckpt.status());
  return ckpt->has_value() && (*ckpt)->active;
}

void SetReplayHookForTest(void (*hook)(uint64_t replayed)) { g_replay_hook.store(hook); }

}  // namespace hostca::storage::internal
