// The on-disk store: one RocksDB database per device home, with a column
// family per kind of data. Internal to the engine.
//
// Column families:
//   meta      device identity, spaces, rosters, sealed space keys, layout version
//   oplog     op log segments (signed runs of ops), key = space | device | 'g' | last seq
//   versions  head of each device's log per space, key = space | device
//   records   materialised records, sealed with the local records key
//   index     index tokens (keyed hashes), no plaintext
//   applied   per log (space | device), the last op whose effect the
//             records and index hold
//
// meta, oplog and versions are the truth and go through the write-ahead
// log. records, index and applied are derived from the op log and are
// written without it (WriteUnlogged): a crash can lose their latest
// writes, and the engine replays the ops after `applied` when it opens.
#ifndef KINDRED_ENGINE_STORE_STORE_H_
#define KINDRED_ENGINE_STORE_STORE_H_

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kindred/result.h"
#include "kindred/status.h"

namespace kindred::store {

enum class Cf : int { kMeta = 0, kOplog, kVersions, kRecords, kIndex, kApplied, kCount };

// The layout this code writes and reads. Bump on any incompatible change.
inline constexpr char kLayoutVersion[] = "kindred-store/2";

// A set of writes applied atomically by Store::Write. Made by
// Store::NewBatch and valid while that Store lives. Not thread-safe.
class Batch {
 public:
  void Put(Cf cf, std::string_view key, std::string_view value);
  void Delete(Cf cf, std::string_view key);
  size_t Count() const { return static_cast<size_t>(batch_.Count()); }
  size_t ByteSize() const { return batch_.GetDataSize(); }
  // Bytes the batch holds before its buffer must grow.
  size_t Capacity() const { return batch_.Data().capacity(); }

 private:
  friend class Store;
  Batch(const std::vector<rocksdb::ColumnFamilyHandle*>* handles, size_t reserve_bytes)
      : batch_(reserve_bytes), handles_(handles) {}
  rocksdb::WriteBatch batch_;
  const std::vector<rocksdb::ColumnFamilyHandle*>* handles_;  // not owned
};

// An ordered cursor over one column family. Not thread-safe.
class Cursor {
 public:
  explicit Cursor(std::unique_ptr<rocksdb::Iterator> it) : it_(std::move(it)) {}
  void Seek(std::string_view key) { it_->Seek(rocksdb::Slice(key.data(), key.size())); }
  void SeekToFirst() { it_->SeekToFirst(); }
  void SeekToLast() { it_->SeekToLast(); }
  void Next() { it_->Next(); }
  void Prev() { it_->Prev(); }
  bool Valid() const { return it_->Valid(); }
  // True while Valid() and the key starts with `prefix`.
  bool ValidWithPrefix(std::string_view prefix) const;
  std::string_view key() const { return {it_->key().data(), it_->key().size()}; }
  std::string_view value() const { return {it_->value().data(), it_->value().size()}; }
  // Any I/O error met while iterating.
  Status status() const;

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
};

// The open database. Thread-safe (RocksDB is).
class Store {
 public:
  struct Options {
    bool create_if_missing = false;
  };
  // Opens (or creates) the database in `path`. A database held by another
  // process is Busy; a damaged one is Corruption; a missing one (without
  // create_if_missing) is NotFound. Never re-initialises silently.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, const Options& options);
  ~Store();

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // An empty batch for this store, with room for about `reserve_bytes`.
  Batch NewBatch(size_t reserve_bytes = 0) const { return Batch(&handles_, reserve_bytes); }
  // As NewBatch, but in the buffer of a batch given back through Recycle
  // when one has room for `reserve_bytes` (the smallest such). A sync
  // writes batches of several MB one after another: fresh memory for each
  // costs a page fault every 4 KB, reused memory none. Thread-safe.
  Batch NewReusedBatch(size_t reserve_bytes);
  // Keeps `batch`'s buffer (emptied) for NewReusedBatch: at most
  // kSpareBatches of them (the roomiest), none over kMaxSpareBytes; others
  // are freed. Thread-safe.
  void Recycle(Batch batch);
  static constexpr size_t kSpareBatches = 4;
  static constexpr size_t kMaxSpareBytes = 32 << 20;
  // NotFound when absent.
  [[nodiscard]] Status Get(Cf cf, std::string_view key, std::string* value) const;
  // The greatest key of `cf` that starts with `prefix`, into *key (one
  // seek, however many keys share the prefix). NotFound when there is none.
  [[nodiscard]] Status LastKeyWithPrefix(Cf cf, std::string_view prefix, std::string* key) const;
  // Applies `batch` atomically; `sync` waits for the WAL to reach the disk.
  [[nodiscard]] Status Write(Batch& batch, bool sync);
  // Applies `batch` atomically without the write-ahead log: cheaper, but a
  // crash loses it unless a flush came first. Only for data that can be
  // rebuilt (records, index, applied).
  [[nodiscard]] Status WriteUnlogged(Batch& batch);
  std::unique_ptr<Cursor> NewCursor(Cf cf) const;
  // Flushes memtables and compacts everything, so that overwritten or deleted
  // values (e.g. purged ciphertext) leave the files on disk.
  [[nodiscard]] Status CompactAll();

  // For tests that tamper with stored bytes.
  rocksdb::DB* RawForTest() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* HandleForTest(Cf cf) { return handles_[static_cast<int>(cf)]; }

 private:
  Store() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // owned by db_, released in ~Store
  std::mutex spare_mu_;
  std::vector<Batch> spare_;  // GUARDED_BY(spare_mu_): emptied batches, for reuse
};

// Converts a RocksDB status, naming `what`.
Status FromRocks(const rocksdb::Status& s, std::string_view what);

}  // namespace kindred::store

#endif  // KINDRED_ENGINE_STORE_STORE_H_
