#include "storage/store.h"

#include <sqlite3.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "storage/test_util.h"

namespace pekonode::storage {
namespace {

using namespace testing;

std::unique_ptr<store> open_store(const std::string& path, store_options o = {},
                                  identity id = test_id()) {
  auto d = data_dir::open(path, id);
  EXPECT_TRUE(d.ok()) << d.message();
  if (!d.ok())
    return nullptr;
  auto s = store::open(std::move(*d), o);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? std::move(*s) : nullptr;
}

result<std::unique_ptr<store>> try_open(const std::string& path,
                                        identity id = test_id(),
                                        store_options o = {}) {
  auto d = data_dir::open(path, id);
  if (!d.ok())
    return result<std::unique_ptr<store>>::failure(d.status);
  return store::open(std::move(*d), o);
}

record rec(std::string key, std::string value, uint64_t hlc,
           std::string origin = "n1", bool tomb = false, uint64_t gc = 0) {
  record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.hlc = hlc;
  r.origin = std::move(origin);
  r.tombstone = tomb;
  r.gc_after_ms = gc;
  return r;
}

std::map<std::string, record> contents(const store& s) {
  std::map<std::string, record> out;
  auto st = s.load([&](record& r) { out[r.key] = std::move(r); });
  EXPECT_TRUE(st.ok()) << st.message;
  return out;
}

TEST(Store, FirstOpenCreatesAnEmptyStoreWithBootEpochOne) {
  auto path = fresh_data_dir();
  auto s = open_store(path);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->boot_epoch(), 1u);
  EXPECT_EQ(s->hlc_high_water(), 0u);
  EXPECT_EQ(s->gc_horizon(), 0u);
  EXPECT_EQ(s->membership(), membership_snapshot{});
  EXPECT_TRUE(contents(*s).empty());
  EXPECT_TRUE(s->dir().initialised());
}

TEST(Store, BootEpochGrowsByOneAtEveryOpen) {
  auto path = fresh_data_dir();
  for (uint64_t i = 1; i <= 5; ++i) {
    auto s = open_store(path);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->boot_epoch(), i);
  }
}

TEST(Store, PutsOverwritesTombstonesAndErasesSurviveReopen) {
  auto path = fresh_data_dir();
  {
    auto s = open_store(path);
    write_batch b;
    b.put(rec("a", "1", 10));
    b.put(rec("b", std::string("\0bin\0", 5), 11, "n2"));
    b.put(rec("c", "3", 12));
    b.put(rec("empty", "", 13));
    ASSERT_TRUE(s->commit(b).ok());
    write_batch b2;
    b2.put(rec("a", "1b", 20));                      // overwrite
    b2.put(rec("c", "", 21, "n1", true, 86400021));  // tombstone with GC state
    b2.erase("b");                                   // removed outright
    b2.erase("never-there");
    ASSERT_TRUE(s->commit(b2).ok());
  }
  auto s = open_store(path);
  auto all = contents(*s);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all["a"], rec("a", "1b", 20));
  EXPECT_EQ(all["c"], rec("c", "", 21, "n1", true, 86400021));
  EXPECT_EQ(all["empty"], rec("empty", "", 13));
  EXPECT_EQ(all.count("b"), 0u);
}

TEST(Store, MetaValuesPersistAndCountersNeverGoBackwards) {
  auto path = fresh_data_dir();
  membership_snapshot m{7, {{"n2", "127.0.0.1:7002", 3, "alive"},
                            {"n3", "127.0.0.1:7003", 1, "dead"}}};
  {
    auto s = open_store(path);
    write_batch b;
    b.set_hlc_high_water(1000);
    b.set_gc_horizon(500);
    b.set_membership(m);
    ASSERT_TRUE(s->commit(b).ok());
    write_batch back;
    back.set_hlc_high_water(10);
    back.set_gc_horizon(5);
    ASSERT_TRUE(s->commit(back).ok());
    EXPECT_EQ(s->hlc_high_water(), 1000u);
    EXPECT_EQ(s->gc_horizon(), 500u);
  }
  auto s = open_store(path);
  EXPECT_EQ(s->hlc_high_water(), 1000u);
  EXPECT_EQ(s->gc_horizon(), 500u);
  EXPECT_EQ(s->membership(), m);
}

TEST(Store, AnInvalidBatchChangesNothing) {
  auto path = fresh_data_dir();
  store_options o;
  o.max_key_bytes = 8;
  o.max_value_bytes = 16;
  auto s = open_store(path, o);
  write_batch ok;
  ok.put(rec("k", "v", 1));
  ASSERT_TRUE(s->commit(ok).ok());
  for (auto bad : {rec("", "v", 2), rec("too-long-key", "v", 2),
                   rec("k", std::string(17, 'x'), 2), rec("k", "v", 2, "n1", true)}) {
    write_batch b;
    b.put(rec("other", "v", 2));
    b.set_hlc_high_water(99);
    b.put(bad);
    auto st = s->commit(b);
    EXPECT_EQ(st.code, ec::invalid_argument) << st.message;
    EXPECT_EQ(st.message.find('\n'), std::string::npos);
  }
  auto all = contents(*s);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all["k"].value, "v");
  EXPECT_EQ(s->hlc_high_water(), 0u);
}

TEST(Store, SeveralBatchesCommitAsOneTransaction) {
  auto path = fresh_data_dir();
  auto s = open_store(path);
  write_batch a, b, c;
  a.put(rec("x", "1", 1));
  b.put(rec("x", "2", 2));
  b.set_hlc_high_water(5);
  c.put(rec("y", "3", 3));
  c.set_hlc_high_water(4);
  ASSERT_TRUE(s->commit({&a, &b, &c}).ok());
  auto all = contents(*s);
  EXPECT_EQ(all["x"].value, "2"); // later batches win
  EXPECT_EQ(all["y"].value, "3");
  EXPECT_EQ(s->hlc_high_water(), 5u);
  EXPECT_EQ(s->stats().commits, 1u);
  EXPECT_EQ(s->stats().batches, 3u);
}

TEST(Store, LargeValuesRoundTrip) {
  auto path = fresh_data_dir();
  std::string big(512 * 1024, '\0');
  std::mt19937_64 rng(7);
  for (auto& ch : big)
    ch = static_cast<char>(rng());
  {
    auto s = open_store(path);
    write_batch b;
    b.put(rec("big", big, 1));
    ASSERT_TRUE(s->commit(b).ok());
  }
  auto s = open_store(path);
  EXPECT_EQ(contents(*s)["big"].value, big);
}

TEST(Store, SizeLimitFailsWritesAsFullWhileReadsContinue) {
  auto path = fresh_data_dir();
  store_options o;
  o.max_bytes = 1 << 20;
  auto s = open_store(path, o);
  std::string value(64 * 1024, 'v');
  int acked = 0;
  status last;
  for (int i = 0; i < 100; ++i) {
    write_batch b;
    b.put(rec("k" + std::to_string(i), value, i + 1));
    last = s->commit(b);
    if (!last.ok())
      break;
    ++acked;
  }
  ASSERT_EQ(last.code, ec::full) << last.message;
  EXPECT_GT(acked, 5);
  EXPECT_LT(acked, 20);
  EXPECT_NE(last.message.find("size limit"), std::string::npos) << last.message;
  EXPECT_NE(last.message.find("reads continue"), std::string::npos);
  EXPECT_EQ(s->stats().full_failures, 1u);
  // Reads work and hold exactly what was acknowledged.
  auto all = contents(*s);
  EXPECT_EQ(all.size(), static_cast<size_t>(acked));
  // Further writes keep failing the same way; freeing space lets them in.
  write_batch again;
  again.put(rec("more", value, 1000));
  EXPECT_EQ(s->commit(again).code, ec::full);
  write_batch drop;
  for (int i = 0; i < acked / 2; ++i)
    drop.erase("k" + std::to_string(i));
  ASSERT_TRUE(s->commit(drop).ok());
  EXPECT_TRUE(s->commit(again).ok());
  s.reset();
  auto reopened = open_store(path, o);
  auto after = contents(*reopened);
  EXPECT_EQ(after.size(), static_cast<size_t>(acked - acked / 2 + 1));
  EXPECT_EQ(after.count("more"), 1u);
}

TEST(Store, ExportAndImportRoundTripEverything) {
  auto src_path = fresh_data_dir();
  auto snap = make_temp_dir() + "/snap.peko";
  membership_snapshot m{9, {{"n2", "127.0.0.1:7002", 3, "alive"}}};
  std::map<std::string, record> want;
  {
    auto s = open_store(src_path);
    write_batch b;
    for (int i = 0; i < 200; ++i) {
      auto r = rec("key/" + std::to_string(i), std::string(i * 13, 'a' + i % 26), 100 + i,
                   "n" + std::to_string(i % 3), i % 10 == 0, i % 10 == 0 ? 5000 + i : 0);
      if (r.tombstone)
        r.value.clear();
      want[r.key] = r;
      b.put(r);
    }
    b.set_hlc_high_water(77777);
    b.set_gc_horizon(1234);
    b.set_membership(m);
    ASSERT_TRUE(s->commit(b).ok());
    auto info = s->export_snapshot(snap);
    ASSERT_TRUE(info.ok()) << info.message();
    EXPECT_EQ(info->records, 200u);
    EXPECT_EQ(static_cast<off_t>(info->bytes), file_size(snap));
  }
  // Into another node's fresh store of the same cluster.
  auto dst_path = fresh_data_dir();
  auto d = open_store(dst_path, {}, test_id("n9"));
  write_batch old;
  old.put(rec("stale", "x", 1));
  ASSERT_TRUE(d->commit(old).ok());
  auto info = d->import_snapshot(snap);
  ASSERT_TRUE(info.ok()) << info.message();
  EXPECT_EQ(info->records, 200u);
  EXPECT_EQ(contents(*d), want); // "stale" is gone: a restore replaces
  EXPECT_EQ(d->hlc_high_water(), 77777u);
  EXPECT_EQ(d->gc_horizon(), 1234u);
  EXPECT_EQ(d->membership(), m); // peers taken: the store had none
  EXPECT_EQ(d->boot_epoch(), 1u);
  d.reset();
  auto again = open_store(dst_path, {}, test_id("n9"));
  EXPECT_EQ(contents(*again), want);
  EXPECT_EQ(again->hlc_high_water(), 77777u);
}

TEST(Store, ImportNeverLowersTheHlcOrTheIncarnation) {
  auto a = open_store(fresh_data_dir());
  auto snap = make_temp_dir() + "/s";
  write_batch low;
  low.set_hlc_high_water(5);
  low.set_membership({2, {}});
  ASSERT_TRUE(a->commit(low).ok());
  ASSERT_TRUE(a->export_snapshot(snap).ok());
  auto b = open_store(fresh_data_dir(), {}, test_id("n2"));
  write_batch high;
  high.set_hlc_high_water(500);
  high.set_membership({20, {{"p", "127.0.0.1:1", 1, "alive"}}});
  ASSERT_TRUE(b->commit(high).ok());
  ASSERT_TRUE(b->import_snapshot(snap).ok());
  EXPECT_EQ(b->hlc_high_water(), 500u);
  EXPECT_EQ(b->membership().incarnation, 20u);
  EXPECT_EQ(b->membership().peers.size(), 1u); // own peers kept
}

TEST(Store, DamagedSnapshotsAreRefusedAndChangeNothing) {
  auto s = open_store(fresh_data_dir());
  auto dir = make_temp_dir();
  auto snap = dir + "/s";
  write_batch b;
  for (int i = 0; i < 20; ++i)
    b.put(rec("k" + std::to_string(i), std::string(100, 'a' + i), i + 1));
  ASSERT_TRUE(s->commit(b).ok());
  ASSERT_TRUE(s->export_snapshot(snap).ok());
  const auto good = read_file(snap);
  auto target = open_store(fresh_data_dir(), {}, test_id("n2"));
  write_batch mine;
  mine.put(rec("mine", "keep", 1));
  ASSERT_TRUE(target->commit(mine).ok());
  auto check_refused = [&](const std::string& bytes, const std::string& what) {
    write_file(dir + "/bad", bytes);
    auto r = target->import_snapshot(dir + "/bad");
    EXPECT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.message().rfind("snapshot " + dir + "/bad: ", 0), 0u) << r.message();
    EXPECT_EQ(r.message().find('\n'), std::string::npos);
    auto all = contents(*target);
    EXPECT_EQ(all.size(), 1u) << what;
    EXPECT_EQ(all.count("mine"), 1u) << what;
  };
  uint64_t seed = std::random_device{}();
  std::printf("seed=%llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 60; ++i) {
    auto bad = good;
    size_t at = rng() % bad.size();
    bad[at] ^= static_cast<char>(1 + rng() % 255);
    check_refused(bad, "flip at " + std::to_string(at));
  }
  for (size_t n : {size_t{0}, size_t{5}, size_t{12}, good.size() / 2, good.size() - 1})
    check_refused(good.substr(0, n), "truncated to " + std::to_string(n));
  check_refused(good + "x", "trailing byte");
  check_refused("SQLite format 3" + std::string(100, '\0'), "foreign file");
  auto r = target->import_snapshot(dir + "/missing");
  EXPECT_EQ(r.code(), ec::bad_path);
  // The good file still imports.
  write_file(dir + "/ok", good);
  EXPECT_TRUE(target->import_snapshot(dir + "/ok").ok());
  EXPECT_EQ(contents(*target).size(), 20u);
}

TEST(Store, ASnapshotOfAnotherClusterIsRefused) {
  auto s = open_store(fresh_data_dir(), {}, {"other", "n1"});
  auto snap = make_temp_dir() + "/s";
  ASSERT_TRUE(s->export_snapshot(snap).ok());
  auto t = open_store(fresh_data_dir());
  auto r = t->import_snapshot(snap);
  EXPECT_EQ(r.code(), ec::foreign);
  EXPECT_NE(r.message().find("cluster \"other\""), std::string::npos) << r.message();
}

// A writer commits batches that each set keys "a" and "b" to the same
// number; exports taken meanwhile from another thread must each see one
// committed state (a == b), never half a batch.
TEST(Store, ExportIsAConsistentPointInTimeWhileCommitsContinue) {
  auto path = fresh_data_dir();
  auto s = open_store(path);
  std::atomic<bool> stop{false};
  std::atomic<int> committed{0};
  std::thread w([&] {
    for (int i = 1; !stop; ++i) {
      write_batch b;
      b.put(rec("a", std::to_string(i), i));
      b.put(rec("filler" + std::to_string(i % 50), std::string(2000, 'f'), i));
      b.put(rec("b", std::to_string(i), i));
      b.set_hlc_high_water(i);
      ASSERT_TRUE(s->commit(b).ok());
      committed = i;
    }
  });
  auto dir = make_temp_dir();
  for (int k = 0; k < 10; ++k) {
    while (committed < (k + 1) * 3)
      std::this_thread::yield();
    auto snap = dir + "/s" + std::to_string(k);
    auto info = s->export_snapshot(snap);
    ASSERT_TRUE(info.ok()) << info.message();
    auto t = open_store(fresh_data_dir(), {}, test_id("n" + std::to_string(k + 2)));
    ASSERT_TRUE(t->import_snapshot(snap).ok());
    auto all = contents(*t);
    ASSERT_EQ(all.count("a"), 1u);
    EXPECT_EQ(all["a"].value, all["b"].value) << "export " << k;
    EXPECT_EQ(t->hlc_high_water(), std::stoull(all["a"].value)) << "export " << k;
  }
  stop = true;
  w.join();
}

TEST(Store, AForeignSqliteDatabaseIsRefused) {
  auto path = fresh_data_dir();
  { ASSERT_TRUE(open_store(path)); }
  // Replace store.db by some other application's SQLite database.
  ::unlink((path + "/store.db").c_str());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((path + "/store.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto r = try_open(path);
  EXPECT_EQ(r.code(), ec::foreign) << r.message();
  EXPECT_EQ(r.message().rfind("data_dir " + path + ": ", 0), 0u);
  EXPECT_EQ(r.message().find('\n'), std::string::npos);
}

TEST(Store, AStoreOfAnotherNodeCopiedInIsRefused) {
  auto a = fresh_data_dir();
  auto b = fresh_data_dir();
  { ASSERT_TRUE(open_store(a, {}, test_id("n1"))); }
  { ASSERT_TRUE(open_store(b, {}, test_id("n2"))); }
  write_file(b + "/store.db", read_file(a + "/store.db"));
  auto r = try_open(b, test_id("n2"));
  EXPECT_EQ(r.code(), ec::foreign) << r.message();
  EXPECT_NE(r.message().find("store.db belongs to node \"n1\""), std::string::npos)
    << r.message();
}

TEST(Store, AMissingStoreInAnInitialisedDirIsRefused) {
  auto path = fresh_data_dir();
  { ASSERT_TRUE(open_store(path)); }
  ::unlink((path + "/store.db").c_str());
  auto r = try_open(path);
  EXPECT_EQ(r.code(), ec::corrupt);
  EXPECT_NE(r.message().find("store.db is missing"), std::string::npos) << r.message();
}

TEST(Store, ASecondStoreOnTheSameDirIsRefused) {
  auto path = fresh_data_dir();
  auto s = open_store(path);
  auto r = try_open(path);
  EXPECT_EQ(r.code(), ec::locked);
  EXPECT_NE(r.message().find("in use by another process"), std::string::npos);
}

} // namespace
} // namespace pekonode::storage
