#pragma once
// Process metrics in the names Prometheus client libraries use
// (process_cpu_seconds_total, process_resident_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds), read from
// /proc/self on Linux, and the parsers of the /proc texts they come from
// (pure, tested with fixed texts). Anything unreadable is left out.

#include <cstdint>
#include <string_view>

#include "node/metrics.h"

namespace pekonode::node {

/// From /proc/PID/stat: user + system CPU time and the start time, both in
/// clock ticks (fields 14, 15 and 22; the command name may hold spaces and
/// parentheses, so fields are counted after its last ')'). False when the
/// text does not have them.
bool parse_proc_stat(std::string_view text, uint64_t& cpu_ticks,
                     uint64_t& start_ticks);

/// From /proc/PID/status: VmRSS in bytes. False without that line.
bool parse_status_rss(std::string_view text, uint64_t& rss_bytes);

/// From /proc/stat: the boot time (btime) in seconds since the epoch.
bool parse_boot_time(std::string_view text, uint64_t& btime);

/// Adds the process_* families for this process to `reg` (each only if its
/// source could be read).
void add_process_metrics(metrics_registry& reg);

} // namespace pekonode::node
