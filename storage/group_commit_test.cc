#include "storage/group_commit.h"

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/test_util.h"

namespace pekonode::storage {
namespace {

using namespace testing;

std::unique_ptr<store> open_store(const std::string& path, store_options o = {}) {
  auto d = data_dir::open(path, test_id());
  EXPECT_TRUE(d.ok()) << d.message();
  auto s = store::open(std::move(*d), o);
  EXPECT_TRUE(s.ok()) << s.message();
  return std::move(*s);
}

write_batch put(const std::string& key, std::string value, uint64_t hlc = 1) {
  write_batch b;
  record r;
  r.key = key;
  r.value = std::move(value);
  r.hlc = hlc;
  r.origin = "n1";
  b.put(std::move(r));
  b.set_hlc_high_water(hlc);
  return b;
}

size_t count(const store& s) {
  size_t n = 0;
  EXPECT_TRUE(s.load([&](record&) { ++n; }).ok());
  return n;
}

// Batches submitted while a commit is in flight are committed together:
// submitting from inside the first batch's callback (on the committer
// thread) queues them all before the committer looks again.
TEST(GroupCommit, BatchesQueuedDuringACommitShareOneTransaction) {
  auto s = open_store(fresh_data_dir());
  std::vector<int> order;
  std::mutex mu;
  std::promise<void> all_done;
  constexpr int n = 50;
  {
    group_commit gc(*s);
    gc.submit(put("first", "x"), [&](const status& st) {
      ASSERT_TRUE(st.ok());
      for (int i = 0; i < n; ++i)
        gc.submit(put("k" + std::to_string(i), "v", 10 + i), [&, i](const status& st) {
          EXPECT_TRUE(st.ok()) << st.message;
          std::lock_guard<std::mutex> g(mu);
          order.push_back(i);
          if (i == n - 1)
            all_done.set_value();
        });
    });
    all_done.get_future().wait();
    auto st = gc.stats();
    EXPECT_EQ(st.commits, 2u);
    EXPECT_EQ(st.batches, n + 1u);
    EXPECT_EQ(st.max_group, static_cast<uint64_t>(n));
  }
  ASSERT_EQ(order.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(order[i], i); // callbacks in submission order
  EXPECT_EQ(count(*s), n + 1u);
  EXPECT_EQ(s->hlc_high_water(), 10u + n - 1);
}

TEST(GroupCommit, AnInvalidBatchFailsAloneAndAtOnce) {
  store_options o;
  o.max_value_bytes = 10;
  auto s = open_store(fresh_data_dir(), o);
  std::promise<void> done;
  std::map<std::string, ec> codes;
  std::mutex mu;
  {
    group_commit gc(*s);
    auto record_code = [&](std::string k) {
      return [&, k](const status& st) {
        std::lock_guard<std::mutex> g(mu);
        codes[k] = st.code;
        if (codes.size() == 4)
          done.set_value();
      };
    };
    gc.submit(put("gate", "x"), [&](const status&) {
      gc.submit(put("a", "ok"), record_code("a"));
      gc.submit(put("bad", std::string(11, 'x')), record_code("bad"));
      gc.submit(put("c", "ok"), record_code("c"));
      gc.submit(write_batch{}, record_code("empty"));
    });
    done.get_future().wait();
  }
  EXPECT_EQ(codes["a"], ec::none);
  EXPECT_EQ(codes["bad"], ec::invalid_argument);
  EXPECT_EQ(codes["c"], ec::none);
  EXPECT_EQ(codes["empty"], ec::none);
  EXPECT_EQ(count(*s), 3u);
}

TEST(GroupCommit, AnEngineFailureFailsTheWholeGroupAndLaterWritesRecover) {
  store_options o;
  o.max_bytes = 512 * 1024;
  auto s = open_store(fresh_data_dir(), o);
  std::atomic<int> full{0}, ok{0};
  std::promise<void> done;
  {
    group_commit gc(*s);
    gc.submit(put("gate", "x"), [&](const status&) {
      for (int i = 0; i < 8; ++i)
        gc.submit(put("big" + std::to_string(i), std::string(100 * 1024, 'b')),
                  [&, i](const status& st) {
                    (st.code == ec::full ? full : ok)++;
                    if (i == 7)
                      done.set_value();
                  });
    });
    done.get_future().wait();
    EXPECT_EQ(full, 8); // one transaction of 800 KiB: all or none
    EXPECT_EQ(ok, 0);
    std::promise<status> small;
    gc.submit(put("small", "s"), [&](const status& st) { small.set_value(st); });
    EXPECT_TRUE(small.get_future().get().ok());
  }
  EXPECT_EQ(count(*s), 2u);
}

TEST(GroupCommit, SubmissionsBeyondTheQueueBoundAreRefusedAsOverloaded) {
  auto s = open_store(fresh_data_dir());
  group_options go;
  go.max_queued_bytes = 10 * 1024;
  std::atomic<int> overloaded{0}, ok{0};
  {
    group_commit gc(*s, go);
    std::promise<void> queued;
    gc.submit(put("gate", "x"), [&](const status&) {
      for (int i = 0; i < 20; ++i)
        gc.submit(put("k" + std::to_string(i), std::string(1024, 'v')),
                  [&](const status& st) {
                    (st.code == ec::overloaded ? overloaded : ok)++;
                  });
      queued.set_value();
    });
    queued.get_future().wait();
  } // the destructor commits what was queued
  EXPECT_EQ(ok + overloaded, 20);
  EXPECT_GT(overloaded, 0);
  EXPECT_LE(ok, 10);
  EXPECT_EQ(count(*s), 1u + ok);
}

TEST(GroupCommit, ManyThreadsAllAcknowledgedAndAllDurable) {
  auto path = fresh_data_dir();
  auto s = open_store(path);
  constexpr int threads = 8, per_thread = 40;
  {
    group_commit gc(*s);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          std::promise<status> p;
          gc.submit(put("t" + std::to_string(t) + "/" + std::to_string(i), "v"),
                    [&](const status& st) { p.set_value(st); });
          ASSERT_TRUE(p.get_future().get().ok());
        }
      });
    for (auto& t : ts)
      t.join();
    EXPECT_EQ(gc.stats().batches, static_cast<uint64_t>(threads * per_thread));
    EXPECT_LE(gc.stats().commits, gc.stats().batches);
  }
  s.reset();
  auto again = open_store(path);
  EXPECT_EQ(count(*again), static_cast<size_t>(threads * per_thread));
}

TEST(GroupCommit, DestroyingCommitsWhatWasQueued) {
  auto path = fresh_data_dir();
  auto s = open_store(path);
  std::atomic<int> acked{0};
  {
    group_commit gc(*s);
    for (int i = 0; i < 30; ++i)
      gc.submit(put("k" + std::to_string(i), "v"), [&](const status& st) {
        if (st.ok())
          ++acked;
      });
  }
  EXPECT_EQ(acked, 30);
  EXPECT_EQ(count(*s), 30u);
}

} // namespace
} // namespace pekonode::storage
