#include "node/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace pekonode::node {

namespace {

bool read_small_file(const char* path, std::string& out) {
  std::ifstream in(path);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

} // namespace

bool parse_proc_stat(std::string_view text, uint64_t& cpu_ticks,
                     uint64_t& start_ticks) {
  auto close = text.rfind(')');
  if (close == std::string_view::npos)
    return false;
  // Fields after the command: 3 (state) onwards; split on spaces.
  std::string_view rest = text.substr(close + 1);
  uint64_t utime = 0, stime = 0, start = 0;
  int field = 2;
  bool have_u = false, have_s = false, have_start = false;
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && (rest[pos] == ' ' || rest[pos] == '\n'))
      ++pos;
    if (pos >= rest.size())
      break;
    auto end = rest.find_first_of(" \n", pos);
    auto tok = rest.substr(pos, end == std::string_view::npos ? std::string_view::npos
                                                              : end - pos);
    ++field;
    if (field == 14)
      have_u = parse_u64(tok, utime);
    else if (field == 15)
      have_s = parse_u64(tok, stime);
    else if (field == 22) {
      have_start = parse_u64(tok, start);
      break;
    }
    if (end == std::string_view::npos)
      break;
    pos = end;
  }
  if (!have_u || !have_s || !have_start)
    return false;
  cpu_ticks = utime + stime;
  start_ticks = start;
  return true;
}

bool parse_status_rss(std::string_view text, uint64_t& rss_bytes) {
  size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    auto line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos
                                                               : end - pos);
    if (line.substr(0, 6) == "VmRSS:") {
      auto v = line.substr(6);
      auto a = v.find_first_not_of(" \t");
      if (a == std::string_view::npos)
        return false;
      v = v.substr(a);
      auto b = v.find_first_of(" \t");
      uint64_t kb = 0;
      if (!parse_u64(v.substr(0, b), kb))
        return false;
      rss_bytes = kb * 1024;
      return true;
    }
    if (end == std::string_view::npos)
      break;
    pos = end + 1;
  }
  return false;
}

bool parse_boot_time(std::string_view text, uint64_t& btime) {
  auto at = text.find("\nbtime ");
  if (at == std::string_view::npos)
    return false;
  auto v = text.substr(at + 7);
  auto end = v.find('\n');
  return parse_u64(v.substr(0, end), btime);
}

void add_process_metrics(metrics_registry& reg) {
  auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::string stat, status, sys;
  uint64_t cpu = 0, start = 0, btime = 0, rss = 0;
  bool have_stat = ticks > 0 && read_small_file("/proc/self/stat", stat)
                   && parse_proc_stat(stat, cpu, start);
  if (have_stat) {
    reg.describe("process_cpu_seconds_total", metric_kind::counter,
                 "Total user and system CPU time spent in seconds.");
    reg.set("process_cpu_seconds_total", {}, static_cast<double>(cpu) / ticks);
    if (read_small_file("/proc/stat", sys) && parse_boot_time(sys, btime)) {
      reg.describe("process_start_time_seconds", metric_kind::gauge,
                   "Start time of the process since unix epoch in seconds.");
      reg.set("process_start_time_seconds", {},
              static_cast<double>(btime) + static_cast<double>(start) / ticks);
    }
  }
  if (read_small_file("/proc/self/status", status)
      && parse_status_rss(status, rss)) {
    reg.describe("process_resident_memory_bytes", metric_kind::gauge,
                 "Resident memory size in bytes.");
    reg.set("process_resident_memory_bytes", {}, static_cast<double>(rss));
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    uint64_t n = 0;
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(d);
    // The directory stream itself held one descriptor.
    reg.describe("process_open_fds", metric_kind::gauge,
                 "Number of open file descriptors.");
    reg.set("process_open_fds", {}, static_cast<double>(n > 0 ? n - 1 : 0));
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    reg.describe("process_max_fds", metric_kind::gauge,
                 "Maximum number of open file descriptors.");
    reg.set("process_max_fds", {}, static_cast<double>(lim.rlim_cur));
  }
}

} // namespace pekonode::node
