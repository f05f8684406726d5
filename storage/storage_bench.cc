// Figures of the durable store on this machine's disk: put latency (p50,
// p99) and throughput for 100 B and 512 KiB values, one fsync per commit
// vs group commit with concurrent writers, and open + load time of 10 MiB.
//   bazel run -c opt //storage:storage_bench [-- --dir=/path/on/the/disk]
// The directory defaults to a new one under /tmp; every acknowledged put
// is durable (WAL fsynced) in every mode.

#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/group_commit.h"
#include "storage/store.h"

using namespace pekonode::storage;
using clock_type = std::chrono::steady_clock;

namespace {

std::string base_dir;
int dir_counter = 0;

std::string new_dir() {
  return base_dir + "/d" + std::to_string(dir_counter++);
}

std::unique_ptr<store> open_store(const std::string& path) {
  auto d = data_dir::open(path, {"bench", "n1"});
  if (!d.ok()) {
    std::fprintf(stderr, "%s\n", d.message().c_str());
    std::exit(1);
  }
  auto s = store::open(std::move(*d));
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    std::exit(1);
  }
  return std::move(*s);
}

std::string random_value(std::mt19937_64& rng, size_t n) {
  std::string v(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t x = rng();
    std::memcpy(&v[i], &x, std::min<size_t>(8, n - i));
  }
  return v;
}

write_batch one_put(const std::string& key, std::string value, uint64_t hlc) {
  write_batch b;
  record r;
  r.key = key;
  r.value = std::move(value);
  r.hlc = hlc;
  r.origin = "n1";
  b.put(std::move(r));
  return b;
}

double pct(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

void report(const char* mode, size_t value, int writers, size_t puts,
            const std::vector<double>& lat_ms, double wall_ms, const char* extra) {
  double per_s = puts / (wall_ms / 1000.0);
  std::printf("| %-22s | %7s | %2d | %5zu | %7.2f | %7.2f | %8.0f | %7.1f | %s |\n",
              mode, value >= 1024 ? "512 KiB" : "100 B", writers, puts, pct(lat_ms, 0.5),
              pct(lat_ms, 0.99), per_s, per_s * value / (1024.0 * 1024.0), extra);
  std::fflush(stdout);
}

// One writer, one commit (one fsync) per put.
void bench_direct(size_t value, size_t puts) {
  auto s = open_store(new_dir());
  std::mt19937_64 rng(1);
  std::vector<double> lat;
  auto t0 = clock_type::now();
  for (size_t i = 0; i < puts; ++i) {
    auto b = one_put("k" + std::to_string(i % 1000), random_value(rng, value), i + 1);
    auto t = clock_type::now();
    auto st = s->commit(b);
    lat.push_back(ms_since(t));
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message.c_str());
      std::exit(1);
    }
  }
  report("fsync per commit", value, 1, puts, lat, ms_since(t0), "1.0");
}

// `writers` threads, each waiting for its ack before the next put.
void bench_group(size_t value, size_t puts, int writers) {
  auto s = open_store(new_dir());
  std::vector<std::vector<double>> lat(writers);
  group_stats gs;
  auto t0 = clock_type::now();
  {
    group_commit gc(*s);
    std::vector<std::thread> ts;
    for (int w = 0; w < writers; ++w)
      ts.emplace_back([&, w] {
        std::mt19937_64 rng(w + 1);
        for (size_t i = w; i < puts; i += writers) {
          auto b = one_put("k" + std::to_string(i % 1000), random_value(rng, value), i + 1);
          std::promise<status> p;
          auto t = clock_type::now();
          gc.submit(std::move(b), [&](const status& st) { p.set_value(st); });
          auto st = p.get_future().get();
          lat[w].push_back(ms_since(t));
          if (!st.ok()) {
            std::fprintf(stderr, "%s\n", st.message.c_str());
            std::exit(1);
          }
        }
      });
    for (auto& t : ts)
      t.join();
    gs = gc.stats();
  }
  double wall = ms_since(t0);
  std::vector<double> all;
  for (auto& l : lat)
    all.insert(all.end(), l.begin(), l.end());
  char extra[64];
  std::snprintf(extra, sizeof extra, "%.1f", double(gs.batches) / std::max<uint64_t>(gs.commits, 1));
  report("group commit", value, writers, all.size(), all, wall, extra);
}

// Writes ~10 MiB, closes, then measures open (structural check included)
// and the full load scan.
void bench_load(size_t value) {
  auto path = new_dir();
  size_t total = 10 * 1024 * 1024, n = total / value;
  {
    auto s = open_store(path);
    std::mt19937_64 rng(3);
    write_batch b;
    for (size_t i = 0; i < n; ++i) {
      record r;
      r.key = "key/" + std::to_string(i);
      r.value = random_value(rng, value);
      r.hlc = i + 1;
      r.origin = "n1";
      b.put(std::move(r));
      if (b.bytes() > (4 << 20)) {
        if (!s->commit(b).ok())
          std::exit(1);
        b = write_batch{};
      }
    }
    if (!b.empty() && !s->commit(b).ok())
      std::exit(1);
  }
  for (int round = 0; round < 3; ++round) {
    auto t0 = clock_type::now();
    auto s = open_store(path);
    double open_ms = ms_since(t0);
    size_t count = 0, bytes = 0;
    auto t1 = clock_type::now();
    auto st = s->load([&](record& r) {
      ++count;
      bytes += r.value.size();
    });
    double load_ms = ms_since(t1);
    if (!st.ok())
      std::exit(1);
    std::printf("| %zu x %-7s | %6.1f MiB | %d | %7.1f | %7.1f | %7.1f |\n", count,
                value >= 1024 ? "512 KiB" : "100 B", bytes / (1024.0 * 1024.0), round + 1,
                open_ms, load_ms, open_ms + load_ms);
  }
}

} // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--dir=", 6) == 0)
      base_dir = argv[i] + 6;
    else if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else {
      std::fprintf(stderr, "usage: storage_bench [--dir=PATH] [--quick]\n");
      return 2;
    }
  }
  bool own_dir = base_dir.empty();
  if (own_dir) {
    std::string tmpl = "/tmp/storage_benchXXXXXX";
    if (!::mkdtemp(tmpl.data()))
      return 1;
    base_dir = tmpl;
  }
  struct statfs fs {};
  ::statfs(base_dir.c_str(), &fs);
  std::printf("storage_bench: dir %s (filesystem magic 0x%lx), %u cores\n",
              base_dir.c_str(), static_cast<unsigned long>(fs.f_type),
              std::thread::hardware_concurrency());
  size_t small = quick ? 200 : 2000, large = quick ? 20 : 200;
  std::printf("\n| mode | value | writers | puts | p50 ms | p99 ms | puts/s | MiB/s | batches/fsync |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  bench_direct(100, small);
  bench_group(100, small, 1);
  bench_group(100, small * 4, 16);
  bench_direct(512 * 1024, large);
  bench_group(512 * 1024, large, 16);
  std::printf("\n| data | bytes | round | open ms | load ms | total ms |\n");
  std::printf("|---|---|---|---|---|---|\n");
  bench_load(100);
  bench_load(512 * 1024);
  if (own_dir)
    (void) !std::system(("rm -rf '" + base_dir + "'").c_str());
  return 0;
}
