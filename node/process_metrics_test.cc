// The /proc parsers behind the process_* metrics, on fixed texts (a command
// name with spaces and parentheses, missing fields), and the families as
// this test process reports them.

#include "node/process_metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>

#include <gtest/gtest.h>

namespace pekonode::node {
namespace {

TEST(ProcessMetrics, ParsesStatAfterTheLastParenthesis) {
  // comm "(a) b)" holds a space and parentheses; utime 150, stime 50,
  // starttime 12345 (fields 14, 15, 22).
  std::string stat =
    "4242 ((a) b)) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 "
    "12345 100000 200 18446744073709551615\n";
  uint64_t cpu = 0, start = 0;
  ASSERT_TRUE(parse_proc_stat(stat, cpu, start));
  EXPECT_EQ(cpu, 200u);
  EXPECT_EQ(start, 12345u);
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 1 2 3", cpu, start));
  EXPECT_FALSE(parse_proc_stat("no parenthesis", cpu, start));
  EXPECT_FALSE(parse_proc_stat(
    "1 (x) S 1 1 1 0 -1 0 0 0 0 0 zz 50 0 0 20 0 3 0 1 2 3\n", cpu, start));
}

TEST(ProcessMetrics, ParsesRssAndBootTime) {
  uint64_t rss = 0;
  ASSERT_TRUE(parse_status_rss("Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t   2048 kB\n", rss));
  EXPECT_EQ(rss, 2048u * 1024);
  EXPECT_FALSE(parse_status_rss("Name:\tx\n", rss));
  EXPECT_FALSE(parse_status_rss("VmRSS:\tlots kB\n", rss));
  uint64_t btime = 0;
  ASSERT_TRUE(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n",
                              btime));
  EXPECT_EQ(btime, 1700000000u);
  EXPECT_FALSE(parse_boot_time("cpu 1\n", btime));
}

TEST(ProcessMetrics, ThisProcessReportsEveryFamily) {
  // Burn a little CPU and open a descriptor so the figures are not zero.
  volatile uint64_t x = 0;
  for (int i = 0; i < 20'000'000; ++i)
    x = x + static_cast<uint64_t>(i);
  int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  metrics_registry reg;
  add_process_metrics(reg);
  metrics_registry again;
  ::close(fd);
  add_process_metrics(again);
  EXPECT_GT(reg.value("process_cpu_seconds_total", {}), 0.0);
  EXPECT_GT(reg.value("process_resident_memory_bytes", {}), 1024.0 * 1024);
  EXPECT_GE(reg.value("process_open_fds", {}), 4.0); // stdio and /dev/null
  EXPECT_EQ(reg.value("process_open_fds", {}) - 1,
            again.value("process_open_fds", {}));
  EXPECT_GE(reg.value("process_max_fds", {}), reg.value("process_open_fds", {}));
  double start = reg.value("process_start_time_seconds", {});
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600); // this test started less than an hour ago
  auto text = reg.render();
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE process_open_fds gauge\n"), std::string::npos);
}

} // namespace
} // namespace pekonode::node
