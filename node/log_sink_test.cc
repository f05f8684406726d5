#include "node/log_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <glog/logging.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace pekonode::node {
namespace {

using json = nlohmann::json;

TEST(JsonLogRecord, HasTimeLevelCallerThreadAndMessage) {
  // 2026-11-01T14:08:02Z
  auto line = format_json_record(1, "main.cc", 42, 1793542082, 123456, 77,
                                 "member b is dead");
  EXPECT_EQ(line, R"({"time":"2026-11-01T14:08:02.123456Z","level":"WARNING",)"
                  R"("caller":"main.cc:42","thread":77,)"
                  R"("message":"member b is dead"})");
}

TEST(JsonLogRecord, EscapesEverySpecialCharacterOnOneLine) {
  std::string nasty = "a\"b\\c\nd\re\tf\x01g\x7f";
  nasty += std::string{"\0h", 2};
  auto line = format_json_record(0, "x.cc", 1, 0, 0, 1, nasty);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  auto j = json::parse(line);
  EXPECT_EQ(j["message"].get<std::string>(), nasty);
  EXPECT_EQ(j["level"], "INFO");
  EXPECT_EQ(j["time"], "1970-01-01T00:00:00.000000Z");
}

TEST(JsonLogRecord, InvalidUtf8IsReplacedNotDropped) {
  auto line = format_json_record(2, "x.cc", 1, 0, 0, 1, "peer \xff\xfe name");
  auto j = json::parse(line); // would throw on invalid UTF-8
  EXPECT_EQ(j["message"].get<std::string>(), "peer \xEF\xBF\xBD\xEF\xBF\xBD name");
  EXPECT_EQ(j["level"], "ERROR");
}

TEST(JsonLogSink, EveryGlogRecordBecomesOneJsonLine) {
  google::InitGoogleLogging("log_sink_test");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  json_log_sink sink{fds[1]};
  google::AddLogSink(&sink);
  LOG(INFO) << "hello \"world\"";
  LOG(WARNING) << "two\nlines";
  google::RemoveLogSink(&sink);
  LOG(INFO) << "not captured";
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0)
    out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  auto nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos) << out;
  auto first = json::parse(out.substr(0, nl));
  auto second = json::parse(out.substr(nl + 1, out.size() - nl - 2));
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 2);
  EXPECT_EQ(first["message"], "hello \"world\"");
  EXPECT_EQ(first["level"], "INFO");
  EXPECT_EQ(first["caller"].get<std::string>().rfind("log_sink_test.cc:", 0),
            0u);
  EXPECT_GT(first["thread"].get<int64_t>(), 0);
  EXPECT_EQ(second["message"], "two\nlines");
  EXPECT_EQ(second["level"], "WARNING");
}

TEST(InitLogging, RejectsUnknownFormats) {
  EXPECT_EQ(init_logging("x", "xml"),
            "--log_format must be text or json, not 'xml'");
}

} // namespace
} // namespace pekonode::node
