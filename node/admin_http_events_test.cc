// GET /v1/events over real sockets on 127.0.0.1 (port 0): NDJSON and SSE,
// resume from an index, the reset when the index left the ring, filters, the
// concurrent-stream cap, slow readers cut off while the node keeps serving,
// and stop() ending open streams.

#include "node/admin_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "node/fake_admin_backend.h"

namespace pekonode::node {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

class ignore_sigpipe : public ::testing::Environment {
 public:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
  }
};

[[maybe_unused]] auto* const sigpipe_env =
  ::testing::AddGlobalTestEnvironment(new ignore_sigpipe);

int connect_to(uint16_t port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (rcvbuf > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A streaming HTTP/1.1 client: headers, then the chunked body decoded
/// line by line as it arrives.
class stream_client {
 public:
  stream_client(uint16_t port, const std::string& target,
                const std::string& headers = {}, int rcvbuf = 0) {
    fd_ = connect_to(port, rcvbuf);
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      + headers + "\r\n";
    if (fd_ >= 0)
      (void) ::send(fd_, req.data(), req.size(), MSG_NOSIGNAL);
  }

  ~stream_client() {
    close();
  }

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

  /// Reads until the response headers are complete; the status (0: none).
  int status(std::chrono::milliseconds timeout = 10s) {
    auto deadline = steady::now() + timeout;
    while (head_.empty()) {
      auto end = raw_.find("\r\n\r\n");
      if (end != std::string::npos) {
        head_ = raw_.substr(0, end + 2);
        raw_.erase(0, end + 4);
        chunked_ = head_.find("Transfer-Encoding: chunked") != std::string::npos
                   || head_.find("transfer-encoding: chunked")
                        != std::string::npos;
        break;
      }
      if (!pull(deadline))
        return 0;
    }
    return head_.size() > 12 ? std::atoi(head_.c_str() + 9) : 0;
  }

  const std::string& head() const {
    return head_;
  }

  /// The next body line (without '\n'); false at the end of the stream or
  /// after `timeout`.
  bool line(std::string& out, std::chrono::milliseconds timeout = 10s) {
    auto deadline = steady::now() + timeout;
    if (status(timeout) == 0)
      return false;
    for (;;) {
      decode();
      auto nl = body_.find('\n');
      if (nl != std::string::npos) {
        out = body_.substr(0, nl);
        body_.erase(0, nl + 1);
        return true;
      }
      if (!pull(deadline))
        return false;
    }
  }

  /// The next JSON line of an NDJSON stream.
  json next(std::chrono::milliseconds timeout = 10s) {
    std::string l;
    if (!line(l, timeout))
      return json{};
    return json::parse(l);
  }

  bool eof() const {
    return eof_;
  }

 private:
  bool pull(steady::time_point deadline) {
    if (fd_ < 0 || eof_)
      return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - steady::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return false;
    char chunk[65536];
    auto n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    raw_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  void decode() {
    if (!chunked_) {
      body_ += raw_;
      raw_.clear();
      return;
    }
    for (;;) {
      auto crlf = raw_.find("\r\n");
      if (crlf == std::string::npos)
        return;
      size_t size = std::stoul(raw_.substr(0, crlf), nullptr, 16);
      if (raw_.size() < crlf + 2 + size + 2)
        return;
      body_ += raw_.substr(crlf + 2, size);
      raw_.erase(0, crlf + 2 + size + 2);
      if (size == 0) {
        eof_ = true;
        return;
      }
    }
  }

  int fd_ = -1;
  std::string raw_;
  std::string head_;
  std::string body_;
  bool chunked_ = false;
  bool eof_ = false;
};

std::string simple_get(uint16_t port, const std::string& target,
                       std::chrono::milliseconds timeout = 10s) {
  stream_client c{port, target, "Connection: close\r\n"};
  auto st = c.status(timeout);
  std::string body, l;
  while (c.line(l, timeout))
    body += l + "\n";
  return std::to_string(st) + " " + body;
}

class AdminEvents : public ::testing::Test {
 protected:
  void start(size_t ring = 64, admin_config cfg = {}) {
    log_ = std::make_unique<event_log>(ring, [] { return int64_t{1000}; });
    cfg.events = log_.get();
    server_ = std::make_unique<admin_server>(backend_, cfg);
    ASSERT_EQ(server_->start("127.0.0.1", 0), "");
  }

  void TearDown() override {
    if (server_)
      server_->stop();
  }

  uint16_t port() const {
    return server_->port();
  }

  void put(const std::string& key, size_t size = 1) {
    log_->append(event_types::key_put, key,
                 json{{"key", key}, {"size", size}});
  }

  double stat(const std::string& name, const metric_labels& labels = {}) {
    return server_->stats().value(name, labels);
  }

  fake_admin_backend backend_;
  std::unique_ptr<event_log> log_;
  std::unique_ptr<admin_server> server_;
};

TEST_F(AdminEvents, WithoutIndexStreamsNewEventsAfterAHeartbeat) {
  start();
  put("old");
  stream_client c{port(), "/v1/events"};
  ASSERT_EQ(c.status(), 200);
  EXPECT_NE(c.head().find("application/x-ndjson"), std::string::npos);
  auto first = c.next();
  EXPECT_EQ(first["type"], "heartbeat");
  EXPECT_EQ(first["index"], 1);
  put("a");
  log_->append(event_types::member_dead, "node-b", json{{"state", "dead"}});
  auto e1 = c.next();
  EXPECT_EQ(e1["type"], "key-put");
  EXPECT_EQ(e1["index"], 2);
  EXPECT_EQ(e1["subject"], "a");
  EXPECT_EQ(e1["time"], 1000);
  auto e2 = c.next();
  EXPECT_EQ(e2["type"], "member-dead");
  EXPECT_EQ(e2["state"], "dead");
  EXPECT_EQ(e2["index"], 3);
}

TEST_F(AdminEvents, ResumesAfterTheGivenIndex) {
  start();
  for (int i = 1; i <= 5; ++i)
    put("k" + std::to_string(i));
  stream_client c{port(), "/v1/events?index=2"};
  EXPECT_EQ(c.next()["type"], "heartbeat");
  for (int want = 3; want <= 5; ++want) {
    auto e = c.next();
    EXPECT_EQ(e["index"], want);
    EXPECT_EQ(e["subject"], "k" + std::to_string(want));
  }
  put("k6");
  EXPECT_EQ(c.next()["index"], 6);
}

TEST_F(AdminEvents, IndexThatLeftTheRingStartsWithAReset) {
  start(4);
  for (int i = 1; i <= 10; ++i)
    put("k" + std::to_string(i));
  stream_client c{port(), "/v1/events?index=1"};
  auto reset = c.next();
  EXPECT_EQ(reset["type"], "reset");
  EXPECT_EQ(reset["index"], 1);
  EXPECT_EQ(reset["oldest"], 7);
  EXPECT_EQ(reset["last"], 10);
  for (int want = 7; want <= 10; ++want)
    EXPECT_EQ(c.next()["index"], want);
  // An index from the future (a restarted node) is a reset too.
  stream_client f{port(), "/v1/events?index=99"};
  auto r2 = f.next();
  EXPECT_EQ(r2["type"], "reset");
  EXPECT_NE(r2["reason"].get<std::string>().find("ahead"), std::string::npos);
  EXPECT_EQ(f.next()["index"], 7);
}

TEST_F(AdminEvents, FiltersByTypeAndPrefix) {
  start();
  stream_client c{port(), "/v1/events?index=0&type=key-put,member&prefix=web"};
  put("db/1");
  log_->append(event_types::member_join, "web-1", json::object());
  log_->append(event_types::key_delete, "web/x", json::object());
  put("web/y");
  log_->append(event_types::user, "web-deploy", json::object());
  EXPECT_EQ(c.next()["type"], "heartbeat");
  auto a = c.next();
  EXPECT_EQ(a["type"], "member-join");
  EXPECT_EQ(a["subject"], "web-1");
  auto b = c.next();
  EXPECT_EQ(b["type"], "key-put");
  EXPECT_EQ(b["subject"], "web/y");
  // Nothing else matches.
  std::string l;
  EXPECT_FALSE(c.line(l, 300ms));
}

TEST_F(AdminEvents, BadParametersAre400NamingTheRule) {
  start();
  auto r = simple_get(port(), "/v1/events?type=bogus");
  EXPECT_EQ(r.substr(0, 4), "400 ");
  EXPECT_NE(r.find("unknown event type"), std::string::npos) << r;
  r = simple_get(port(), "/v1/events?index=-1");
  EXPECT_EQ(r.substr(0, 4), "400 ");
  EXPECT_NE(r.find("index must be"), std::string::npos) << r;
  r = simple_get(port(), "/v1/events?index=99999999999999999999999");
  EXPECT_EQ(r.substr(0, 4), "400 ");
  r = simple_get(port(), "/v1/events?prefix=" + std::string(2000, 'p'));
  EXPECT_EQ(r.substr(0, 4), "400 ");
  EXPECT_NE(r.find("prefix longer than"), std::string::npos) << r;
  r = simple_get(port(), "/v1/events?wait=1");
  EXPECT_EQ(r.substr(0, 4), "400 ");
  EXPECT_NE(r.find("unknown query parameter"), std::string::npos) << r;
}

TEST_F(AdminEvents, WithoutALogItIs503) {
  server_ = std::make_unique<admin_server>(backend_, admin_config{});
  ASSERT_EQ(server_->start("127.0.0.1", 0), "");
  auto r = simple_get(port(), "/v1/events");
  EXPECT_EQ(r.substr(0, 4), "503 ");
}

TEST_F(AdminEvents, ServerSentEventsCarryIdsAndResumeFromLastEventId) {
  start();
  put("a");
  put("b");
  {
    stream_client c{port(), "/v1/events?index=0",
                    "Accept: text/event-stream\r\n"};
    ASSERT_EQ(c.status(), 200);
    EXPECT_NE(c.head().find("text/event-stream"), std::string::npos);
    std::string l;
    ASSERT_TRUE(c.line(l));
    EXPECT_EQ(l.rfind(": heartbeat", 0), 0u) << l;
    ASSERT_TRUE(c.line(l));
    EXPECT_EQ(l, "");
    ASSERT_TRUE(c.line(l));
    EXPECT_EQ(l, "id: 1");
    ASSERT_TRUE(c.line(l));
    EXPECT_EQ(l, "event: key-put");
    ASSERT_TRUE(c.line(l));
    EXPECT_EQ(l.rfind("data: {", 0), 0u);
    EXPECT_EQ(json::parse(l.substr(6))["subject"], "a");
  }
  // A reconnecting EventSource sends the last id it saw.
  stream_client c{port(), "/v1/events",
                  "Accept: text/event-stream\r\nLast-Event-ID: 1\r\n"};
  std::string l;
  ASSERT_TRUE(c.line(l));  // heartbeat comment
  ASSERT_TRUE(c.line(l));
  ASSERT_TRUE(c.line(l));
  EXPECT_EQ(l, "id: 2");
}

TEST_F(AdminEvents, ConcurrentStreamsAreCapped) {
  admin_config cfg;
  cfg.max_event_streams = 2;
  start(64, cfg);
  auto a = std::make_unique<stream_client>(port(), "/v1/events");
  stream_client b{port(), "/v1/events"};
  ASSERT_EQ(a->status(), 200);
  ASSERT_EQ(b.status(), 200);
  ASSERT_TRUE(server_->await_event_streams(2, 10s));
  auto r = simple_get(port(), "/v1/events");
  EXPECT_EQ(r.substr(0, 4), "503 ");
  EXPECT_NE(r.find("too many concurrent event streams (limit 2)"),
            std::string::npos)
    << r;
  EXPECT_EQ(stat("pekonode_admin_event_streams_refused_total"), 1);
  // Other requests are unaffected.
  EXPECT_EQ(simple_get(port(), "/v1/health").substr(0, 4), "200 ");
  // A closed stream frees its slot (noticed at the next write at the
  // latest: an event makes one).
  a.reset();
  auto deadline = steady::now() + 10s;
  while (server_->event_streams() > 1 && steady::now() < deadline) {
    put("poke");
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(server_->event_streams(), 1u);
  stream_client c{port(), "/v1/events"};
  EXPECT_EQ(c.status(), 200);
  EXPECT_EQ(c.next()["type"], "heartbeat");
}

// A reader that stops reading while more events arrive than the ring holds
// is cut off with a last line naming the index to resume from; the node
// keeps serving meanwhile.
TEST_F(AdminEvents, ReaderThatFallsBehindTheRingIsCutOff) {
  admin_config cfg;
  cfg.event_stream_buffer = 8 * 1024;
  start(16, cfg);
  stream_client c{port(), "/v1/events", {}, 4096};
  EXPECT_EQ(c.next()["type"], "heartbeat");
  // ~20 MB of events: more than the socket buffers, the stream buffer and
  // the ring together. The appends never wait for the reader.
  std::string blob(2000, 'x');
  auto t0 = steady::now();
  for (int i = 0; i < 10000; ++i)
    log_->append(event_types::key_put, "k", json{{"blob", blob}});
  EXPECT_LT(steady::now() - t0, 20s);
  auto deadline = steady::now() + 20s;
  while (stat("pekonode_admin_event_streams_cut_total") < 1
         && steady::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(stat("pekonode_admin_event_streams_cut_total"), 1);
  EXPECT_EQ(simple_get(port(), "/v1/health", 2s).substr(0, 4), "200 ");
  // Now read: events in order, then the cutoff line, then the end.
  json last;
  uint64_t prev = 0;
  size_t events = 0;
  for (;;) {
    auto j = c.next(10s);
    if (j.is_null())
      break;
    last = j;
    if (j["type"] == "key-put") {
      EXPECT_GT(j["index"].get<uint64_t>(), prev);
      prev = j["index"];
      ++events;
    }
  }
  EXPECT_EQ(last["type"], "cutoff");
  EXPECT_EQ(last["index"], prev);
  EXPECT_NE(last["error"].get<std::string>().find("resume with ?index="),
            std::string::npos);
  EXPECT_LT(events, 10000u);
  EXPECT_TRUE(c.eof());
  deadline = steady::now() + 10s;
  while (server_->event_streams() != 0 && steady::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->event_streams(), 0u);
}

// A reader that reads nothing at all is disconnected at the write deadline
// (here the ring is large enough that it is never cut off for lagging); its
// stream and connection are freed.
TEST_F(AdminEvents, ReaderThatReadsNothingIsDisconnected) {
  admin_config cfg;
  cfg.event_stream_buffer = 8 * 1024;
  cfg.write_timeout = 1s;
  start(100000, cfg);
  stream_client c{port(), "/v1/events", {}, 4096};
  ASSERT_TRUE(server_->await_event_streams(1, 10s));
  std::string blob(2000, 'x');
  for (int i = 0; i < 10000; ++i)
    log_->append(event_types::key_put, "k", json{{"blob", blob}});
  auto deadline = steady::now() + 20s;
  while (server_->event_streams() != 0 && steady::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->event_streams(), 0u);
  EXPECT_GE(stat("pekonode_admin_connections_timed_out_total",
                 {{"phase", "write"}}),
            1);
  EXPECT_EQ(stat("pekonode_admin_event_streams_cut_total"), 0);
  EXPECT_EQ(simple_get(port(), "/v1/health", 2s).substr(0, 4), "200 ");
}

TEST_F(AdminEvents, IdleStreamsGetHeartbeats) {
  admin_config cfg;
  cfg.event_heartbeat = 200ms;
  start(16, cfg);
  stream_client c{port(), "/v1/events"};
  EXPECT_EQ(c.next()["type"], "heartbeat");
  auto t0 = steady::now();
  auto h = c.next(5s);
  EXPECT_EQ(h["type"], "heartbeat");
  EXPECT_EQ(h["index"], 0);
  EXPECT_GE(steady::now() - t0, 100ms);
}

TEST_F(AdminEvents, StopEndsOpenStreamsPromptly) {
  start();
  stream_client c{port(), "/v1/events"};
  EXPECT_EQ(c.next()["type"], "heartbeat");
  auto t0 = steady::now();
  server_->stop();
  EXPECT_LT(steady::now() - t0, 3s);
  std::string l;
  EXPECT_FALSE(c.line(l, 5s));
  EXPECT_TRUE(c.eof());
}

TEST_F(AdminEvents, WithTokenReadsTheStreamNeedsTheToken) {
  admin_config cfg;
  cfg.token = "events-test-token-0123456789";
  cfg.token_reads = true;
  start(64, cfg);
  auto r = simple_get(port(), "/v1/events");
  EXPECT_EQ(r.substr(0, 4), "401 ") << r;
  stream_client c{port(), "/v1/events",
                  "Authorization: Bearer events-test-token-0123456789\r\n"};
  ASSERT_EQ(c.status(), 200);
  EXPECT_EQ(c.next()["type"], "heartbeat");
}

TEST_F(AdminEvents, OnlyGetIsAllowed) {
  start();
  int fd = connect_to(port());
  std::string req = "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n";
  (void) ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  char buf[512] = {0};
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(::poll(&p, 1, 10000), 0);
  auto n = ::recv(fd, buf, sizeof(buf) - 1, 0);
  ::close(fd);
  ASSERT_GT(n, 12);
  EXPECT_EQ(std::string(buf + 9, 3), "405");
}

} // namespace
} // namespace pekonode::node
