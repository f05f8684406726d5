#pragma once
// Log output of the pekonode binary: glog's text (the default) or one JSON
// object per line (--log_format=json) for log collectors. The JSON form goes
// through a glog LogSink, so every LOG/VLOG line takes it; glog's own
// stderr output is switched off then. Not a logging API: code keeps using
// LOG/VLOG.

#include <glog/logging.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace pekonode::node {

/// One log record as a JSON object, without a trailing newline:
/// {"time":"2026-11-01T14:08:02.123456Z","level":"INFO","caller":"main.cc:42",
///  "thread":1234,"message":"..."}. `time` is UTC with microseconds; `level`
/// is INFO, WARNING, ERROR or FATAL; the message is escaped as JSON (control
/// characters as \uXXXX, invalid UTF-8 replaced by U+FFFD), so one record is
/// always one line.
std::string format_json_record(int severity, std::string_view file, int line,
                               int64_t unix_seconds, int32_t usec,
                               int64_t thread, std::string_view message);

/// Writes every glog record as a JSON line to a file descriptor (stderr by
/// default). Thread-safe: one write per record, under a mutex.
class json_log_sink : public google::LogSink {
public:
  explicit json_log_sink(int fd = 2) : fd_(fd) {}

  void send(google::LogSeverity severity, const char* full_filename,
            const char* base_filename, int line,
            const google::LogMessageTime& time, const char* message,
            size_t message_len) override;

private:
  int fd_;
  std::mutex mtx_;
};

/// Sets glog up for `format`, "text" or "json", and initialises it. text:
/// glog's own lines on stderr (or files under --log_dir). json: JSON lines on
/// stderr; with --log_dir, glog's text files are still written there.
/// Returns "" or one line naming the flag.
std::string init_logging(const char* argv0, const std::string& format);

} // namespace pekonode::node
