#include "engine/store/store.h"

#include <algorithm>

#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

namespace kindred::store {
namespace {

const char* const kCfNames[] = {"default", "oplog", "versions",
                                "records", "index", "applied"};
// Keys of records and index entries begin with the 16-byte space id.
constexpr size_t kSpacePrefixBytes = 16;

}  // namespace

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsIOError()) {
    // RocksDB reports a held LOCK file as an IOError mentioning the lock.
    const std::string text = s.ToString();
    if (text.find("lock") != std::string::npos || text.find("LOCK") != std::string::npos) {
      return Status::Busy(std::string(what) + ": another process has this store open");
    }
    return Status::IOError(msg);
  }
  if (s.IsBusy() || s.IsTryAgain()) return Status::Busy(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::IOError(msg);
}

void Batch::Put(Cf cf, std::string_view key, std::string_view value) {
  // A WriteBatch only fails here on absurd sizes (over 4 GiB); Store::Write
  // caps batches far below that.
  batch_.Put((*handles_)[static_cast<int>(cf)], rocksdb::Slice(key.data(), key.size()),
             rocksdb::Slice(value.data(), value.size()))
      .PermitUncheckedError();
}
void Batch::Delete(Cf cf, std::string_view key) {
  batch_.Delete((*handles_)[static_cast<int>(cf)], rocksdb::Slice(key.data(), key.size()))
      .PermitUncheckedError();
}

bool Cursor::ValidWithPrefix(std::string_view prefix) const {
  if (!it_->Valid()) return false;
  auto k = it_->key();
  return k.size() >= prefix.size() && std::string_view(k.data(), prefix.size()) == prefix;
}

Status Cursor::status() const { return FromRocks(it_->status(), "reading the store"); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const Options& options) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = options.create_if_missing;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 2;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.recycle_log_file_num = 0;  // old WAL files are deleted, not reused
  // A damaged write-ahead log is corruption to report, not an end of log to
  // stop at quietly: committed entries must never vanish. The one exception
  // is a last record cut short: a process killed (kill -9) in the middle of
  // a large write (a sync batch of thousands of ops takes several write
  // calls) leaves one. It can only be a write that never returned, so
  // nothing in it was acknowledged, and it is dropped. A checksum mismatch
  // anywhere, the tail included, is still refused.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.track_and_verify_wals_in_manifest = true;
  // Records, index and applied marks are written without the write-ahead
  // log (WriteUnlogged). Flushing every column family together keeps them
  // consistent with each other on disk, whatever a crash loses.
  db_options.atomic_flush = true;

  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = 64 << 20;
  // Every value is ciphertext or a keyed hash: compression would only burn CPU.
  cf_options.compression = rocksdb::kNoCompression;
  cf_options.bottommost_compression = rocksdb::kNoCompression;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (int i = 0; i < static_cast<int>(Cf::kCount); ++i) {
    descriptors.emplace_back(kCfNames[i], cf_options);
  }
  // Records and index entries start with their space id. A commit puts them
  // in key order, so the memtable can start each insert where the previous
  // one of that space ended instead of searching from the top.
  for (Cf cf : {Cf::kRecords, Cf::kIndex}) {
    descriptors[static_cast<int>(cf)].options.memtable_insert_with_hint_prefix_extractor.reset(
        rocksdb::NewFixedPrefixTransform(kSpacePrefixBytes));
  }
  // A merge looks up every record an op touches, and most ops (creates)
  // touch a record that is not there yet: whole-key Bloom filters, in the
  // memtable and in the files, answer those misses without a search.
  {
    rocksdb::ColumnFamilyOptions& records = descriptors[static_cast<int>(Cf::kRecords)].options;
    records.memtable_whole_key_filtering = true;
    records.memtable_prefix_bloom_size_ratio = 0.02;
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    records.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  }
  if (!options.create_if_missing) {
    // A store made by an older layout lacks column families this one has:
    // say so, rather than RocksDB's "column family not found".
    std::vector<std::string> existing;
    if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok()) {
      for (const char* name : kCfNames) {
        if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
          return Status::Corruption("the store at " + path + " has an older layout (no '" + name +
                                    "' column family), but this version reads '" +
                                    kLayoutVersion + "'");
        }
      }
    }
  }
  std::unique_ptr<Store> store(new Store());  // private constructor
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) {
    if (s.IsInvalidArgument() && s.ToString().find("does not exist") != std::string::npos) {
      return Status::NotFound("no store at " + path);
    }
    return FromRocks(s, "opening the store at " + path);
  }
  store->db_.reset(raw);
  store->handles_ = std::move(handles);
  return store;
}

Store::~Store() {
  if (db_) {
    // RocksDB retires a log only through a flush, so a session that wrote
    // nothing would leave its empty log behind: mark the close, then flush.
    db_->Put(rocksdb::WriteOptions(), handles_[static_cast<int>(Cf::kMeta)], "closed", "1")
        .PermitUncheckedError();
    rocksdb::FlushOptions fo;
    fo.wait = true;
    db_->Flush(fo, handles_).PermitUncheckedError();
    // Each short process adds small level-0 files; merge them before they
    // pile up (a long-lived process's background compaction does the same).
    for (auto* h : handles_) {
      uint64_t level0 = 0;
      if (db_->GetIntProperty(h, "rocksdb.num-files-at-level0", &level0) && level0 >= 8) {
        db_->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr).PermitUncheckedError();
      }
    }
  }
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  handles_.clear();
  if (db_) db_->Close().PermitUncheckedError();
}

Batch Store::NewReusedBatch(size_t reserve_bytes) {
  {
    std::lock_guard<std::mutex> lock(spare_mu_);
    // The smallest spare that is big enough, if any.
    auto best = spare_.end();
    for (auto it = spare_.begin(); it != spare_.end(); ++it) {
      if (it->Capacity() >= reserve_bytes &&
          (best == spare_.end() || it->Capacity() < best->Capacity())) {
        best = it;
      }
    }
    if (best != spare_.end()) {
      Batch batch = std::move(*best);
      spare_.erase(best);
      return batch;
    }
  }
  return NewBatch(reserve_bytes);
}

void Store::Recycle(Batch batch) {
  if (batch.Capacity() > kMaxSpareBytes) return;
  batch.batch_.Clear();  // keeps the buffer
  std::lock_guard<std::mutex> lock(spare_mu_);
  if (spare_.size() < kSpareBatches) {
    spare_.push_back(std::move(batch));
    return;
  }
  // Full: keep the roomier of this one and the smallest spare.
  auto smallest =
      std::min_element(spare_.begin(), spare_.end(),
                       [](const Batch& a, const Batch& b) { return a.Capacity() < b.Capacity(); });
  if (smallest->Capacity() < batch.Capacity()) *smallest = std::move(batch);
}

Status Store::Get(Cf cf, std::string_view key, std::string* value) const {
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[static_cast<int>(cf)],
                               rocksdb::Slice(key.data(), key.size()), value);
  if (s.IsNotFound()) return Status::NotFound("key not found");
  return FromRocks(s, "reading the store");
}

Status Store::LastKeyWithPrefix(Cf cf, std::string_view prefix, std::string* key) const {
  Cursor cursor(std::unique_ptr<rocksdb::Iterator>(
      db_->NewIterator(rocksdb::ReadOptions(), handles_[static_cast<int>(cf)])));
  // Every key with the prefix sorts below the prefix's successor: the
  // prefix without its trailing 0xff bytes, its last byte incremented.
  std::string after(prefix);
  while (!after.empty() && static_cast<uint8_t>(after.back()) == 0xff) after.pop_back();
  if (after.empty()) {
    cursor.SeekToLast();
  } else {
    after.back() = static_cast<char>(static_cast<uint8_t>(after.back()) + 1);
    cursor.Seek(after);
    if (cursor.Valid()) {
      cursor.Prev();
    } else {
      cursor.SeekToLast();
    }
  }
  KINDRED_RETURN_IF_ERROR(cursor.status());
  if (!cursor.ValidWithPrefix(prefix)) return Status::NotFound("no key with that prefix");
  key->assign(cursor.key());
  return Status::Ok();
}

Status Store::Write(Batch& batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return FromRocks(db_->Write(wo, &batch.batch_), "writing to the store");
}

Status Store::WriteUnlogged(Batch& batch) {
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;
  return FromRocks(db_->Write(wo, &batch.batch_), "writing to the store");
}

std::unique_ptr<Cursor> Store::NewCursor(Cf cf) const {
  return std::make_unique<Cursor>(
      std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(rocksdb::ReadOptions(),
                                                          handles_[static_cast<int>(cf)])));
}

Status Store::CompactAll() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  KINDRED_RETURN_IF_ERROR(FromRocks(db_->Flush(fo, handles_), "flushing the store"));
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto* h : handles_) {
    KINDRED_RETURN_IF_ERROR(FromRocks(db_->CompactRange(co, h, nullptr, nullptr), "compacting"));
  }
  return FromRocks(db_->FlushWAL(true), "syncing the log");
}

}  // namespace kindred::store
