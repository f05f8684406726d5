#include "node/log_sink.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <ctime>

namespace pekonode::node {

std::string format_json_record(int severity, std::string_view file, int line,
                               int64_t unix_seconds, int32_t usec,
                               int64_t thread, std::string_view message) {
  static constexpr const char* levels[] = {"INFO", "WARNING", "ERROR",
                                           "FATAL"};
  std::tm tm{};
  auto secs = static_cast<time_t>(unix_seconds);
  gmtime_r(&secs, &tm);
  char stamp[48];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(usec % 1000000));
  nlohmann::ordered_json j;
  j["time"] = stamp;
  j["level"] = severity >= 0 && severity < 4 ? levels[severity] : "UNKNOWN";
  j["caller"] = std::string{file} + ":" + std::to_string(line);
  j["thread"] = thread;
  j["message"] = std::string{message};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void json_log_sink::send(google::LogSeverity severity,
                         const char* /*full_filename*/,
                         const char* base_filename, int line,
                         const google::LogMessageTime& time,
                         const char* message, size_t message_len) {
  auto record = format_json_record(
    severity, base_filename != nullptr ? base_filename : "?", line,
    static_cast<int64_t>(time.timestamp()), time.usec(),
    static_cast<int64_t>(::syscall(SYS_gettid)),
    std::string_view{message, message_len});
  record += '\n';
  std::lock_guard<std::mutex> guard{mtx_};
  const char* p = record.data();
  size_t left = record.size();
  while (left > 0) {
    auto n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; // nowhere to report a failing log write
    p += n;
    left -= static_cast<size_t>(n);
  }
}

std::string init_logging(const char* argv0, const std::string& format) {
  if (format != "text" && format != "json")
    return "--log_format must be text or json, not '" + format + "'";
  if (format == "text") {
    FLAGS_logtostderr = FLAGS_logtostderr || FLAGS_log_dir.empty();
    google::InitGoogleLogging(argv0);
    return {};
  }
  // JSON: glog writes nothing to stderr itself (threshold above FATAL) and
  // no files unless --log_dir names a directory; the sink writes each record.
  FLAGS_logtostderr = false;
  FLAGS_logtostdout = false;
  FLAGS_alsologtostderr = false;
  FLAGS_stderrthreshold = google::NUM_SEVERITIES;
  google::InitGoogleLogging(argv0);
  if (FLAGS_log_dir.empty())
    for (int s = 0; s < google::NUM_SEVERITIES; ++s)
      google::SetLogDestination(s, "");
  // Lives as long as the process: other threads may log until exit.
  google::AddLogSink(new json_log_sink{2});
  return {};
}

} // namespace pekonode::node
