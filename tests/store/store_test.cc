// The store's own behaviour: batches whose buffers are reused, and the
// last key under a prefix.
#include "engine/store/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace kindred::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "kindred-store-test-XXXXXX").string();
    dir_ = mkdtemp(pattern.data());
    Store::Options options;
    options.create_if_missing = true;
    auto opened = Store::Open(dir_ + "/db", options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string Read(Cf cf, const std::string& key) {
    std::string value;
    Status s = store_->Get(cf, key, &value);
    return s.ok() ? value : "<" + s.ToString() + ">";
  }
  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, ARecycledBatchComesBackEmptyAndWritesOnlyWhatIsPutAfter) {
  Batch first = store_->NewReusedBatch(1 << 20);
  first.Put(Cf::kRecords, "a", std::string(1000, 'x'));
  ASSERT_TRUE(store_->Write(first, false).ok());
  store_->Recycle(std::move(first));

  Batch second = store_->NewReusedBatch(1 << 20);
  EXPECT_EQ(second.Count(), 0u);
  second.Put(Cf::kRecords, "b", "second");
  ASSERT_TRUE(store_->WriteUnlogged(second).ok());
  EXPECT_EQ(second.Count(), 1u);
  EXPECT_EQ(Read(Cf::kRecords, "a"), std::string(1000, 'x'));
  EXPECT_EQ(Read(Cf::kRecords, "b"), "second");
}

TEST_F(StoreTest, ABatchIsReusedOnlyWhenItHasRoomEnough) {
  Batch small = store_->NewBatch(4 << 10);
  const size_t empty_size = small.ByteSize();  // the header alone
  const size_t small_room = small.Capacity();
  ASSERT_GE(small_room, size_t{4} << 10);
  small.Put(Cf::kMeta, "k", "v");
  store_->Recycle(std::move(small));
  // Too small for 1 MB: a new batch; the small one stays for later.
  Batch big = store_->NewReusedBatch(1 << 20);
  big.Put(Cf::kMeta, "k2", std::string(1 << 20, 'y'));
  ASSERT_TRUE(store_->Write(big, false).ok());
  const size_t big_room = big.Capacity();
  ASSERT_GT(big_room, small_room);
  store_->Recycle(std::move(big));
  // Both are kept; a request that fits the small one gets it (best fit),
  // one that needs the big one gets that, emptied but with its room.
  Batch again_small = store_->NewReusedBatch(1 << 10);
  Batch again_big = store_->NewReusedBatch(1 << 20);
  EXPECT_EQ(again_small.Capacity(), small_room);
  EXPECT_EQ(again_big.Capacity(), big_room);
  EXPECT_EQ(again_small.Count(), 0u);
  EXPECT_EQ(again_big.Count(), 0u);
  EXPECT_EQ(again_small.ByteSize(), empty_size);
  EXPECT_EQ(again_big.ByteSize(), empty_size);
  again_big.Put(Cf::kMeta, "k3", "z");
  ASSERT_TRUE(store_->Write(again_big, false).ok());
  EXPECT_EQ(Read(Cf::kMeta, "k3"), "z");
  EXPECT_EQ(Read(Cf::kMeta, "k2").size(), size_t{1} << 20);
}

TEST_F(StoreTest, SparesAreBoundedInNumberAndSize) {
  // Over the size limit: freed, not kept.
  Batch huge = store_->NewBatch(Store::kMaxSpareBytes + 1);
  store_->Recycle(std::move(huge));
  EXPECT_LT(store_->NewReusedBatch(0).Capacity(), Store::kMaxSpareBytes);
  // More than kSpareBatches given back: the roomiest are kept.
  for (size_t i = 0; i <= Store::kSpareBatches; ++i) {
    store_->Recycle(store_->NewBatch((i + 1) << 16));
  }
  std::vector<Batch> taken;
  for (size_t i = 0; i < Store::kSpareBatches; ++i) taken.push_back(store_->NewReusedBatch(0));
  for (const Batch& b : taken) EXPECT_GE(b.Capacity(), size_t{2} << 16);
  // The spares are used up: the next one is new.
  EXPECT_LT(store_->NewReusedBatch(0).Capacity(), size_t{1} << 16);
}

TEST_F(StoreTest, TheLastKeyWithAPrefixIsFoundInOneSeek) {
  const std::string high = "b\xff\xff";  // no successor of its own length
  Batch batch = store_->NewBatch();
  for (const std::string& key :
       {std::string("ab"), std::string("ab1"), std::string("ab9"), std::string("ab9z"),
        std::string("ac"), high, high + "1", std::string("c")}) {
    batch.Put(Cf::kRecords, key, "v");
  }
  batch.Put(Cf::kIndex, "ab99", "other column family");
  ASSERT_TRUE(store_->Write(batch, false).ok());
  std::string last;
  ASSERT_TRUE(store_->LastKeyWithPrefix(Cf::kRecords, "ab", &last).ok());
  EXPECT_EQ(last, "ab9z");
  ASSERT_TRUE(store_->LastKeyWithPrefix(Cf::kRecords, "ab1", &last).ok());
  EXPECT_EQ(last, "ab1");
  // A prefix that ends in 0xff: the seek starts from "c".
  ASSERT_TRUE(store_->LastKeyWithPrefix(Cf::kRecords, "b\xff", &last).ok());
  EXPECT_EQ(last, high + "1");
  // The greatest key of all, and the whole column family.
  ASSERT_TRUE(store_->LastKeyWithPrefix(Cf::kRecords, "c", &last).ok());
  EXPECT_EQ(last, "c");
  ASSERT_TRUE(store_->LastKeyWithPrefix(Cf::kRecords, "", &last).ok());
  EXPECT_EQ(last, "c");
  // No key with the prefix, before, between and after the keys there are.
  last = "unchanged";
  EXPECT_EQ(store_->LastKeyWithPrefix(Cf::kRecords, "aa", &last).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->LastKeyWithPrefix(Cf::kRecords, "ab0", &last).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->LastKeyWithPrefix(Cf::kRecords, "d", &last).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->LastKeyWithPrefix(Cf::kApplied, "", &last).code(), StatusCode::kNotFound);
  EXPECT_EQ(last, "unchanged");
}

}  // namespace
}  // namespace kindred::store
