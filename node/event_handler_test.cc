// Event handlers: spec parsing and matching, the environment and stdin a
// handler gets, timeouts (SIGTERM, then SIGKILL to the process group),
// bounded output, the concurrency bound, queue overflow, and the event log
// staying fast while a handler hangs. Real processes under /bin/sh.

#include "node/event_handler.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

namespace pekonode::node {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using steady = std::chrono::steady_clock;

event_record member_event(const std::string& type, const std::string& name) {
  event_record ev;
  ev.index = 7;
  ev.type = type;
  ev.subject = name;
  ev.time_ms = 1234;
  ev.payload = json{{"name", name},
                    {"addr", "127.0.0.1:7946"},
                    {"state", "dead"},
                    {"incarnation", 3}};
  return ev;
}

event_record key_event(const std::string& key) {
  event_record ev;
  ev.index = 9;
  ev.type = event_types::key_put;
  ev.subject = key;
  ev.payload = json{{"key", key}, {"version", "5.0@a"}, {"origin", "a"},
                    {"size", 12}};
  return ev;
}

std::string temp_dir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string{base != nullptr ? base : "/tmp"}
                     + "/handlerXXXXXX";
  return ::mkdtemp(tmpl.data());
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST(HandlerSpec, ParsesTypesFiltersAndPrograms) {
  handler_spec h;
  ASSERT_EQ(parse_handler_spec("/bin/true", h), "");
  EXPECT_TRUE(h.types.empty());
  EXPECT_EQ(h.program, "/bin/true");
  ASSERT_EQ(parse_handler_spec("member-join,member-dead=notify.sh arg", h), "");
  EXPECT_EQ(h.types, (std::vector<std::string>{"member-join", "member-dead"}));
  EXPECT_EQ(h.program, "notify.sh arg");
  ASSERT_EQ(parse_handler_spec("member:web-[0-9]+=x.sh", h), "");
  EXPECT_EQ(h.filter, "web-[0-9]+");
  EXPECT_NE(h.name_re, nullptr);
  ASSERT_EQ(parse_handler_spec("key:cfg/=x.sh --a=b", h), "");
  EXPECT_EQ(h.filter, "cfg/");
  EXPECT_EQ(h.program, "x.sh --a=b");
  ASSERT_EQ(parse_handler_spec("*=x.sh", h), "");
  EXPECT_TRUE(h.types.empty());
  // Not a type spec: the whole text is the program.
  ASSERT_EQ(parse_handler_spec("FOO=1 x.sh", h), "");
  EXPECT_EQ(h.program, "FOO=1 x.sh");
  EXPECT_TRUE(h.types.empty());
  ASSERT_EQ(parse_handler_spec("x.sh --level=3", h), "");
  EXPECT_EQ(h.program, "x.sh --level=3");
  // Errors name the rule.
  EXPECT_NE(parse_handler_spec("bogus=x.sh", h).find("unknown event type"),
            std::string::npos);
  EXPECT_NE(parse_handler_spec("member:=x.sh", h).find("empty filter"),
            std::string::npos);
  EXPECT_NE(parse_handler_spec("member:([=x.sh", h).find("regular expression"),
            std::string::npos);
  EXPECT_NE(parse_handler_spec("user=", h).find("no program"),
            std::string::npos);
  EXPECT_NE(parse_handler_spec("a\nb", h), "");
  EXPECT_NE(parse_handler_spec(std::string(5000, 'x'), h), "");
  EXPECT_NE(parse_handler_spec("key:" + std::string(300, 'k') + "=x", h), "");
}

TEST(HandlerSpec, MatchesByTypeAndByTheFilterOfEachKind) {
  handler_spec h;
  ASSERT_EQ(parse_handler_spec("member:web-[0-9]+=x", h), "");
  EXPECT_TRUE(h.matches(member_event("member-dead", "web-12")));
  EXPECT_FALSE(h.matches(member_event("member-dead", "web-12x")));
  EXPECT_FALSE(h.matches(member_event("member-dead", "db-1")));
  EXPECT_FALSE(h.matches(key_event("web-1")));
  ASSERT_EQ(parse_handler_spec("key:cfg/=x", h), "");
  EXPECT_TRUE(h.matches(key_event("cfg/a")));
  EXPECT_FALSE(h.matches(key_event("other/cfg/a")));
  ASSERT_EQ(parse_handler_spec("user:deploy=x", h), "");
  event_record u;
  u.type = event_types::user;
  u.subject = "deploy";
  EXPECT_TRUE(h.matches(u));
  u.subject = "deploy2";
  EXPECT_FALSE(h.matches(u));
  ASSERT_EQ(parse_handler_spec("x", h), "");
  EXPECT_TRUE(h.matches(u));
  EXPECT_TRUE(h.matches(key_event("k")));
}

TEST(HandlerSpec, ListsAndRepeatedFlags) {
  std::vector<handler_spec> hs;
  ASSERT_EQ(parse_handler_list("a.sh\n\nmember-join=b.sh\n", hs), "");
  ASSERT_EQ(hs.size(), 2u);
  EXPECT_EQ(hs[1].program, "b.sh");
  EXPECT_NE(parse_handler_list("a.sh\nbogus=b", hs), "");
  const char* argv[] = {"pekonode", "--event_handler=a.sh", "--name=x",
                        "-event_handler=user=b.sh", "--event_handler",
                        "c.sh", "--", "--event_handler=d.sh"};
  auto v = repeated_flag_values(8, const_cast<char**>(argv), "event_handler");
  EXPECT_EQ(v, (std::vector<std::string>{"a.sh", "user=b.sh", "c.sh"}));
}

TEST(HandlerEnvironment, NamesTheEventAndItsSubject) {
  handler_config cfg;
  cfg.self_name = "me";
  cfg.self_addr = "127.0.0.1:1";
  auto env = handler_environment(member_event("member-dead", "web-1"), cfg);
  auto has = [&](const std::string& kv) {
    return std::find(env.begin(), env.end(), kv) != env.end();
  };
  EXPECT_TRUE(has("PEKONODE_EVENT=member-dead"));
  EXPECT_TRUE(has("PEKONODE_EVENT_INDEX=7"));
  EXPECT_TRUE(has("PEKONODE_EVENT_TIME=1234"));
  EXPECT_TRUE(has("PEKONODE_SELF_NAME=me"));
  EXPECT_TRUE(has("PEKONODE_SELF_ADDR=127.0.0.1:1"));
  EXPECT_TRUE(has("PEKONODE_NODE_NAME=web-1"));
  EXPECT_TRUE(has("PEKONODE_NODE_ADDR=127.0.0.1:7946"));
  EXPECT_TRUE(has("PEKONODE_NODE_STATE=dead"));
  EXPECT_TRUE(has("PEKONODE_NODE_INCARNATION=3"));
  env = handler_environment(key_event(std::string("a\0b", 3)), cfg);
  EXPECT_TRUE(has("PEKONODE_KEY=ab"));  // NUL bytes cannot be in env
  EXPECT_TRUE(has("PEKONODE_KEY_VERSION=5.0@a"));
  EXPECT_TRUE(has("PEKONODE_KEY_ORIGIN=a"));
  EXPECT_TRUE(has("PEKONODE_KEY_SIZE=12"));
  event_record q;
  q.type = event_types::query;
  q.subject = "uptime";
  q.payload = json{{"payload", "raw bytes"}, {"origin", "n1"}};
  env = handler_environment(q, cfg);
  EXPECT_TRUE(has("PEKONODE_QUERY_NAME=uptime"));
  EXPECT_TRUE(has("PEKONODE_NODE_NAME=n1"));
  EXPECT_EQ(handler_stdin(q), "raw bytes");
  auto line = handler_stdin(key_event("k"));
  EXPECT_EQ(json::parse(line)["subject"], "k");
  EXPECT_EQ(line.back(), '\n');
}

handler_result run(const std::string& program, handler_config cfg = {},
                   const std::string& input = {},
                   std::vector<std::string> env = {}) {
  std::atomic<bool> cancel{false};
  return run_handler_process(program, env, input, cfg, cancel);
}

TEST(HandlerProcess, GetsEnvironmentAndStdin) {
  auto r = run("printf '%s|' \"$PEKONODE_EVENT\" \"$PEKONODE_NODE_NAME\"; cat",
               {}, "the payload\n",
               {"PEKONODE_EVENT=member-join", "PEKONODE_NODE_NAME=b"});
  ASSERT_TRUE(r.started) << r.error;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "member-join|b|the payload\n");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(HandlerProcess, ExitCodeAndStderrAreReported) {
  auto r = run("echo oops >&2; exit 3");
  EXPECT_TRUE(r.started);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "oops\n");
}

TEST(HandlerProcess, TimeoutKillsAHangingHandler) {
  handler_config cfg;
  cfg.timeout = 200ms;
  auto t0 = steady::now();
  auto r = run("sleep 30", cfg);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.term_signal, SIGTERM);
  EXPECT_LT(steady::now() - t0, 10s);
}

TEST(HandlerProcess, OneThatIgnoresSigtermGetsSigkill) {
  handler_config cfg;
  cfg.timeout = 200ms;
  cfg.kill_grace = 200ms;
  auto t0 = steady::now();
  auto r = run("trap '' TERM; sleep 30; echo survived", cfg);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_EQ(r.out.find("survived"), std::string::npos);
  EXPECT_LT(steady::now() - t0, 10s);
}

TEST(HandlerProcess, ABackgroundChildHoldingThePipesDoesNotHangTheRun) {
  auto t0 = steady::now();
  auto r = run("sleep 30 & echo hi");
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_LT(steady::now() - t0, 10s);
}

TEST(HandlerProcess, OutputIsBounded) {
  handler_config cfg;
  cfg.output_limit = 1000;
  auto r = run("head -c 3000000 /dev/zero; head -c 5000 /dev/zero >&2", cfg);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_TRUE(r.out_truncated);
  EXPECT_EQ(r.err.size(), 1000u);
  EXPECT_TRUE(r.err_truncated);
}

TEST(HandlerProcess, ALargeStdinToAHandlerThatDoesNotReadIt) {
  handler_config cfg;
  cfg.timeout = 5s;
  auto r = run("exit 0", cfg, std::string(4 << 20, 'x'));
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.timed_out);
}

TEST(HandlerRunner, RunsMatchingHandlersAndReturnsStdoutForQueries) {
  handler_config cfg;
  cfg.self_name = "me";
  handler_runner runner{cfg};
  std::vector<handler_spec> hs(2);
  ASSERT_EQ(parse_handler_spec("query:uptime=printf 'up:%s' \"$PEKONODE_SELF_NAME\"; cat",
                               hs[0]),
            "");
  ASSERT_EQ(parse_handler_spec("member=exit 0", hs[1]), "");
  runner.set_handlers(hs);
  EXPECT_EQ(runner.handlers().size(), 2u);
  event_record q;
  q.type = event_types::query;
  q.subject = "uptime";
  q.payload = json{{"payload", "?"}};
  std::promise<handler_result> got;
  EXPECT_EQ(runner.run(q, [&](const handler_result& r) { got.set_value(r); }),
            1u);
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  auto r = f.get();
  EXPECT_EQ(r.out, "up:me?");
  EXPECT_EQ(r.event_type, "query");
  // Nothing matches: nothing runs.
  q.subject = "other";
  EXPECT_EQ(runner.run(q, [](const handler_result&) {}), 0u);
  ASSERT_TRUE(runner.await_idle(20s));
  EXPECT_EQ(runner.stats().value("pekonode_event_handler_runs_total",
                                 {{"outcome", "ok"}}),
            1);
}

TEST(HandlerRunner, ConcurrencyIsBoundedAndOverflowIsDroppedAndCounted) {
  auto dir = temp_dir();
  handler_config cfg;
  cfg.max_concurrent = 2;
  cfg.queue_size = 3;
  handler_runner runner{cfg};
  handler_spec h;
  ASSERT_EQ(parse_handler_spec(
              "touch " + dir + "/started.$PEKONODE_EVENT_INDEX; while [ ! -e "
                + dir + "/release ]; do sleep 0.01; done",
              h),
            "");
  runner.set_handlers({h});
  auto ev = key_event("k");
  ev.index = 1;
  runner.submit(ev);
  ev.index = 2;
  runner.submit(ev);
  auto deadline = steady::now() + 20s;
  while (runner.running() < 2 && steady::now() < deadline)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(runner.running(), 2u);
  for (uint64_t i = 3; i <= 7; ++i) {
    ev.index = i;
    runner.submit(ev);
  }
  // Two run, three wait, two were dropped.
  EXPECT_EQ(runner.stats().value("pekonode_event_handler_dropped_total", {}),
            2);
  EXPECT_EQ(runner.stats().value("pekonode_event_handler_queue", {}), 3);
  EXPECT_EQ(runner.running(), 2u);
  deadline = steady::now() + 20s;
  while ((!exists(dir + "/started.1") || !exists(dir + "/started.2"))
         && steady::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(exists(dir + "/started.1"));
  EXPECT_TRUE(exists(dir + "/started.2"));
  EXPECT_FALSE(exists(dir + "/started.3"));
  std::ofstream{dir + "/release"};
  ASSERT_TRUE(runner.await_idle(30s));
  for (int i : {3, 4, 5})
    EXPECT_TRUE(exists(dir + "/started." + std::to_string(i))) << i;
  for (int i : {6, 7})
    EXPECT_FALSE(exists(dir + "/started." + std::to_string(i))) << i;
  EXPECT_EQ(runner.stats().value("pekonode_event_handler_runs_total",
                                 {{"outcome", "ok"}}),
            5);
}

TEST(HandlerRunner, AHangingHandlerNeverSlowsTheEventLog) {
  handler_config cfg;
  cfg.max_concurrent = 1;
  cfg.queue_size = 4;
  cfg.timeout = 60s;
  handler_runner runner{cfg};
  handler_spec h;
  ASSERT_EQ(parse_handler_spec("sleep 60", h), "");
  runner.set_handlers({h});
  event_log log{1024};
  log.add_listener([&runner](const event_record& ev) { runner.submit(ev); });
  log.append(event_types::key_put, "first", json::object());
  auto deadline = steady::now() + 20s;
  while (runner.running() < 1 && steady::now() < deadline)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(runner.running(), 1u);
  auto t0 = steady::now();
  for (int i = 0; i < 1000; ++i)
    log.append(event_types::key_put, "k", json::object());
  EXPECT_LT(steady::now() - t0, 2s);
  EXPECT_EQ(log.last_index(), 1001u);
  EXPECT_EQ(runner.stats().value("pekonode_event_handler_dropped_total", {}),
            996);
  // stop() kills the hanging handler at once rather than after its timeout.
  t0 = steady::now();
  runner.stop();
  EXPECT_LT(steady::now() - t0, 10s);
  EXPECT_EQ(runner.stats().value("pekonode_event_handler_runs_total",
                                 {{"outcome", "timeout"}}),
            1);
}

TEST(HandlerRunner, ReloadReplacesTheHandlers) {
  auto dir = temp_dir();
  handler_runner runner{handler_config{}};
  handler_spec a, b;
  ASSERT_EQ(parse_handler_spec("touch " + dir + "/a", a), "");
  ASSERT_EQ(parse_handler_spec("touch " + dir + "/b", b), "");
  runner.set_handlers({a});
  runner.submit(key_event("k"));
  ASSERT_TRUE(runner.await_idle(20s));
  runner.set_handlers({b});
  runner.submit(key_event("k"));
  ASSERT_TRUE(runner.await_idle(20s));
  EXPECT_TRUE(exists(dir + "/a"));
  EXPECT_TRUE(exists(dir + "/b"));
  EXPECT_EQ(runner.stats().value("pekonode_event_handler_runs_total",
                                 {{"outcome", "ok"}}),
            2);
  runner.set_handlers({});
  EXPECT_TRUE(runner.handlers().empty());
}

} // namespace
} // namespace pekonode::node
